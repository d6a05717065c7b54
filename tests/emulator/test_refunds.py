"""Refunds: only on captured charges, within the allowance, asynchronous settlement."""

from __future__ import annotations

import re

import pytest

from saleor_amazonpay.core import (
    AmountMismatchError,
    ChargeState,
    DeclinedError,
    InvalidStateError,
    NotFoundError,
    Price,
    RefundState,
)

from .helpers import body_of, completed_session

USD = lambda amount: Price.of(amount, "USD")  # noqa: E731


@pytest.fixture
def captured(emulator_app, client):
    return completed_session(emulator_app, client, intent="AuthorizeWithCapture")


def test_refund_lifecycle(emulator_app, client, captured):
    refund = client.create_refund(captured.charge_id, USD("40.00"), soft_descriptor="REFUND")
    assert re.match(r"^S01-\d{7}-\d{7}-R\d{6}$", refund.refund_id)
    assert refund.refund_id.startswith(captured.charge_permission_id)
    assert refund.state is RefundState.REFUND_INITIATED and refund.refund_amount == USD("40.00")
    assert client.get_charge(captured.charge_id).refunded_amount == USD("0.00")
    emulator_app.advance_clock(30)
    assert client.get_refund(refund.refund_id).state is RefundState.REFUNDED
    assert client.get_charge(captured.charge_id).refunded_amount == USD("40.00")


def test_refund_create_is_201(raw, captured):
    response = raw.send("POST", "/refunds", {"chargeId": captured.charge_id,
                                             "refundAmount": {"amount": "1.00", "currencyCode": "USD"}},
                        idempotency_key="r1")
    assert response.status == 201 and body_of(response)["statusDetails"]["state"] == "RefundInitiated"


def test_refund_needs_a_captured_charge(emulator_app, client):
    authorized = completed_session(emulator_app, client)
    with pytest.raises(InvalidStateError) as info:
        client.create_refund(authorized.charge_id, USD("1.00"))
    assert (info.value.http_status, info.value.reason_code) == (422, "InvalidChargeStatus")


def test_refunds_total_within_captured_plus_allowance(emulator_app, client, captured):
    client.create_refund(captured.charge_id, USD("100.00"))
    client.create_refund(captured.charge_id, USD("15.00"))  # 15% over-refund allowance
    with pytest.raises(DeclinedError) as info:
        client.create_refund(captured.charge_id, USD("0.01"))
    assert (info.value.http_status, info.value.reason_code) == (400, "TransactionAmountExceeded")


def test_declined_refunds_do_not_count(emulator_app, client, captured):
    declined = client.create_refund(captured.charge_id, USD("100.00"), simulation_code="RefundDeclined")
    emulator_app.settle()
    refund = client.get_refund(declined.refund_id)
    assert refund.state is RefundState.DECLINED and refund.status.reason_code == "AmazonRejected"
    assert client.get_charge(captured.charge_id).refunded_amount == USD("0.00")
    assert client.create_refund(captured.charge_id, USD("100.00")).state is RefundState.REFUND_INITIATED


def test_instrument_0010_declines_refunds(emulator_app, client):
    session = completed_session(emulator_app, client, intent="AuthorizeWithCapture", instrument="0010")
    refund = client.create_refund(session.charge_id, USD("10.00"))
    emulator_app.advance_clock(30)
    assert client.get_refund(refund.refund_id).state is RefundState.DECLINED


def test_at_most_ten_refunds_per_charge(client, captured):
    for _ in range(10):
        client.create_refund(captured.charge_id, USD("1.00"))
    with pytest.raises(InvalidStateError) as info:
        client.create_refund(captured.charge_id, USD("1.00"))
    assert (info.value.http_status, info.value.reason_code) == (422, "TransactionCountExceeded")


def test_refund_currency_mismatch(client, captured):
    with pytest.raises(AmountMismatchError) as info:
        client.create_refund(captured.charge_id, Price.of("1.00", "EUR"))
    assert info.value.reason_code == "CurrencyMismatch"


def test_refund_unknown_charge(client):
    with pytest.raises(NotFoundError):
        client.create_refund("S01-0000000-0000000-C0000000", USD("1.00"))
    with pytest.raises(NotFoundError):
        client.get_refund("S01-0000000-0000000-R0000000")


def test_settle_one_refund(emulator_app, client, captured):
    first = client.create_refund(captured.charge_id, USD("1.00"))
    second = client.create_refund(captured.charge_id, USD("2.00"))
    assert emulator_app.settle(first.refund_id) == 1
    assert client.get_refund(first.refund_id).state is RefundState.REFUNDED
    assert client.get_refund(second.refund_id).state is RefundState.REFUND_INITIATED


def test_refund_after_charge_permission_closed(emulator_app, client, captured):
    # The OneTime permission closed with the capture; refunds still work.
    assert client.get_charge(captured.charge_id).state is ChargeState.CAPTURED
    assert client.create_refund(captured.charge_id, USD("5.00")).state is RefundState.REFUND_INITIATED
