"""Charges: creation, capture, cancel, pending authorizations, declines, limits."""

from __future__ import annotations

import re

import pytest

from saleor_amazonpay.core import (
    AmountMismatchError,
    ChargePermissionState,
    ChargeState,
    DeclinedError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    Price,
)
from saleor_amazonpay.emulator import EmulatorApp, EmulatorSettings

from .conftest import make_client, new_merchant
from .helpers import body_of, completed_session, confirmed_session, reason

USD = lambda amount: Price.of(amount, "USD")  # noqa: E731


@pytest.fixture
def authorized(emulator_app, client):
    """A completed Authorize checkout of 100.00 USD."""
    return completed_session(emulator_app, client)


@pytest.fixture
def confirm_only(emulator_app, client):
    """A completed Confirm checkout: a Chargeable permission for 100.00 and no charge."""
    return completed_session(emulator_app, client, intent="Confirm")


def test_charge_shape(client, authorized):
    charge = client.get_charge(authorized.charge_id)
    assert re.match(r"^S01-\d{7}-\d{7}-C\d{6}$", charge.charge_id)
    assert charge.charge_amount == USD("100.00") and charge.captured_amount is None
    for key in ("chargeId", "chargePermissionId", "chargeAmount", "captureAmount", "refundedAmount",
                "softDescriptor", "statusDetails", "creationTimestamp", "expirationTimestamp", "releaseEnvironment"):
        assert key in charge.raw
    assert charge.raw["releaseEnvironment"] == "Sandbox"


def test_capture_full(client, authorized):
    charge = client.capture_charge(authorized.charge_id, USD("100.00"), soft_descriptor="SHOP")
    assert charge.state is ChargeState.CAPTURED and charge.captured_amount == USD("100.00")
    assert charge.refunded_amount == USD("0.00") and charge.soft_descriptor == "SHOP"
    cp = client.get_charge_permission(authorized.charge_permission_id)
    assert cp.state is ChargePermissionState.CLOSED and cp.amount_balance == USD("0.00")


def test_capture_only_from_authorized(client, authorized):
    client.capture_charge(authorized.charge_id, USD("100.00"))
    with pytest.raises(InvalidStateError) as info:
        client.capture_charge(authorized.charge_id, USD("1.00"))
    assert (info.value.http_status, info.value.reason_code) == (422, "InvalidChargeStatus")


def test_capture_allowance(emulator_app, client):
    # 15% of 100 = 15 < 75: up to 115.00 may be captured.
    session = completed_session(emulator_app, client)
    with pytest.raises(DeclinedError) as info:
        client.capture_charge(session.charge_id, USD("115.01"))
    assert (info.value.http_status, info.value.reason_code) == (400, "TransactionAmountExceeded")
    assert client.capture_charge(session.charge_id, USD("115.00")).state is ChargeState.CAPTURED


def test_capture_allowance_is_capped_at_75(emulator_app, client):
    session = completed_session(emulator_app, client, amount="1000.00")
    with pytest.raises(DeclinedError):
        client.capture_charge(session.charge_id, USD("1075.01"))
    assert client.capture_charge(session.charge_id, USD("1075.00")).captured_amount == USD("1075.00")


def test_capture_currency_mismatch(client, authorized):
    with pytest.raises(AmountMismatchError) as info:
        client.capture_charge(authorized.charge_id, Price.of("100.00", "EUR"))
    assert info.value.reason_code == "CurrencyMismatch"


def test_partial_capture_then_a_new_charge_for_the_rest(client, authorized):
    first = client.capture_charge(authorized.charge_id, USD("60.00"))
    assert first.state is ChargeState.CAPTURED
    cp = client.get_charge_permission(authorized.charge_permission_id)
    assert cp.state is ChargePermissionState.CHARGEABLE and cp.amount_balance == USD("40.00")
    second = client.create_charge(authorized.charge_permission_id, USD("40.00"), capture_now=True)
    assert second.state is ChargeState.CAPTURED and second.charge_id != first.charge_id
    cp = client.get_charge_permission(authorized.charge_permission_id)
    assert cp.state is ChargePermissionState.CLOSED
    assert cp.status.reasons[0][0] == "MerchantClosed"


def test_create_charge_on_confirm_permission(client, confirm_only):
    charge = client.create_charge(confirm_only.charge_permission_id, USD("100.00"))
    assert charge.state is ChargeState.AUTHORIZED
    assert charge.charge_id.startswith(confirm_only.charge_permission_id + "-C")


def test_create_charge_amount_over_balance(client, authorized):
    with pytest.raises(DeclinedError) as info:
        client.create_charge(authorized.charge_permission_id, USD("20.00"))
    assert (info.value.http_status, info.value.reason_code) == (400, "TransactionAmountExceeded")
    assert client.create_charge(authorized.charge_permission_id, USD("15.00")).state is ChargeState.AUTHORIZED


def test_create_charge_currency_mismatch(client, confirm_only):
    with pytest.raises(AmountMismatchError) as info:
        client.create_charge(confirm_only.charge_permission_id, Price.of("1.00", "EUR"))
    assert info.value.reason_code == "CurrencyMismatch"


def test_create_charge_unknown_permission(client):
    with pytest.raises(NotFoundError):
        client.create_charge("S01-0000000-0000000", USD("1.00"))


def test_at_most_25_charges_per_permission(emulator_app, client):
    session = completed_session(emulator_app, client, intent="Confirm", amount="1000.00")
    for _ in range(25):
        client.create_charge(session.charge_permission_id, USD("1.00"))
    with pytest.raises(InvalidStateError) as info:
        client.create_charge(session.charge_permission_id, USD("1.00"))
    assert (info.value.http_status, info.value.reason_code) == (422, "TransactionCountExceeded")


def test_create_charge_on_closed_permission(client, confirm_only):
    client.close_charge_permission(confirm_only.charge_permission_id, "done")
    with pytest.raises(InvalidStateError) as info:
        client.create_charge(confirm_only.charge_permission_id, USD("1.00"))
    assert (info.value.http_status, info.value.reason_code) == (422, "InvalidChargePermissionStatus")


def test_soft_descriptor_needs_capture_now(raw, confirm_only):
    body = {"chargePermissionId": confirm_only.charge_permission_id,
            "chargeAmount": {"amount": "1.00", "currencyCode": "USD"}, "softDescriptor": "X"}
    assert reason(raw.send("POST", "/charges", body, idempotency_key="c1")) == (400, "InvalidParameterValue")


@pytest.mark.parametrize("code", ["HardDeclined", "SoftDeclined", "AmazonRejected", "TransactionTimedOut"])
def test_sync_decline_simulations(emulator_app, client, confirm_only, code):
    with pytest.raises(DeclinedError) as info:
        client.create_charge(confirm_only.charge_permission_id, USD("10.00"), simulation_code=code)
    assert (info.value.http_status, info.value.reason_code) == (422, code)
    declined = [c for c in emulator_app.store.charges.values() if c.state == "Declined"]
    assert len(declined) == 1 and declined[0].status.reason_code == code
    cp = client.get_charge_permission(confirm_only.charge_permission_id)
    expected = ChargePermissionState.NON_CHARGEABLE if code == "HardDeclined" else ChargePermissionState.CHARGEABLE
    assert cp.state is expected
    if code == "HardDeclined":
        assert cp.status.reasons[0][0] == "PaymentMethodInvalid"


def test_async_decline_simulation_with_pending_support(emulator_app, client, confirm_only):
    charge = client.create_charge(confirm_only.charge_permission_id, USD("10.00"), simulation_code="SoftDeclined",
                                  can_handle_pending_authorization=True)
    assert charge.state is ChargeState.AUTHORIZATION_INITIATED
    emulator_app.advance_clock(29)
    assert client.get_charge(charge.charge_id).state is ChargeState.AUTHORIZATION_INITIATED
    emulator_app.advance_clock(1)
    declined = client.get_charge(charge.charge_id)
    assert declined.state is ChargeState.DECLINED and declined.status.reason_code == "SoftDeclined"


def test_capture_initiated_simulation(emulator_app, client, confirm_only):
    charge = client.create_charge(confirm_only.charge_permission_id, USD("100.00"), capture_now=True,
                                  simulation_code="CaptureInitiated")
    assert charge.state is ChargeState.CAPTURE_INITIATED
    with pytest.raises(InvalidStateError):
        client.cancel_charge(charge.charge_id)
    emulator_app.settle()
    assert client.get_charge(charge.charge_id).state is ChargeState.CAPTURED
    assert client.get_charge_permission(confirm_only.charge_permission_id).state is ChargePermissionState.CLOSED


def test_capture_initiated_needs_capture_now(client, confirm_only):
    with pytest.raises(InvalidRequestError) as info:
        client.create_charge(confirm_only.charge_permission_id, USD("1.00"), simulation_code="CaptureInitiated")
    assert info.value.reason_code == "InvalidSandboxSimulationSpecified"


def test_cancel_authorized_charge(client, authorized):
    charge = client.cancel_charge(authorized.charge_id, "out of stock")
    assert charge.state is ChargeState.CANCELED and charge.status.reason_code == "MerchantCanceled"
    assert charge.status.reason_description == "out of stock"
    with pytest.raises(InvalidStateError) as info:
        client.cancel_charge(authorized.charge_id)
    assert info.value.reason_code == "InvalidChargeStatus"
    with pytest.raises(InvalidStateError):
        client.capture_charge(authorized.charge_id, USD("1.00"))
    # The released amount is available again.
    assert client.get_charge_permission(authorized.charge_permission_id).amount_balance == USD("100.00")


def test_cancel_captured_charge_is_refused(client, authorized):
    client.capture_charge(authorized.charge_id, USD("100.00"))
    with pytest.raises(InvalidStateError) as info:
        client.cancel_charge(authorized.charge_id)
    assert (info.value.http_status, info.value.reason_code) == (422, "InvalidChargeStatus")


def test_cancel_pending_authorization(emulator_app, client):
    session = completed_session(emulator_app, client, instrument="0701", pending=True)
    assert client.cancel_charge(session.charge_id).state is ChargeState.CANCELED
    emulator_app.advance_clock(60)
    assert client.get_charge(session.charge_id).state is ChargeState.CANCELED


def test_instrument_0701_pending_then_authorized(emulator_app, client):
    session_id = confirmed_session(emulator_app, client, instrument="0701", pending=True)
    response = client.request("CompleteCheckoutSession", "POST", f"/checkoutSessions/{session_id}/complete",
                              body={"chargeAmount": {"amount": "100.00", "currencyCode": "USD"}})
    assert response.status == 202
    charge_id = response.data["chargeId"]
    assert client.get_charge(charge_id).state is ChargeState.AUTHORIZATION_INITIATED
    with pytest.raises(InvalidStateError):
        client.capture_charge(charge_id, USD("100.00"))
    emulator_app.clock.advance(30)  # resolved lazily on the next read
    assert client.get_charge(charge_id).state is ChargeState.AUTHORIZED
    assert client.capture_charge(charge_id, USD("100.00")).state is ChargeState.CAPTURED


def test_instrument_4354_pending_then_declined(emulator_app, client):
    session = completed_session(emulator_app, client, instrument="4354", pending=True)
    emulator_app.advance_clock(30)
    charge = client.get_charge(session.charge_id)
    assert charge.state is ChargeState.DECLINED and charge.status.reason_code == "HardDeclined"
    assert client.get_charge_permission(session.charge_permission_id).state is ChargePermissionState.NON_CHARGEABLE


def test_pending_with_capture_resolves_to_captured(emulator_app, client):
    session = completed_session(emulator_app, client, intent="AuthorizeWithCapture", instrument="0701",
                                pending=True)
    emulator_app.advance_clock(30)
    assert client.get_charge(session.charge_id).state is ChargeState.CAPTURED


def test_pending_instruments_on_later_charges(emulator_app, client):
    session = completed_session(emulator_app, client, intent="Confirm", instrument="4354", pending=True)
    pending = client.create_charge(session.charge_permission_id, USD("10.00"), can_handle_pending_authorization=True)
    assert pending.state is ChargeState.AUTHORIZATION_INITIATED
    emulator_app.advance_clock(30)
    assert client.get_charge(pending.charge_id).state is ChargeState.DECLINED


def test_pending_decline_instrument_without_pending_support_declines_synchronously(emulator_app, client):
    session = completed_session(emulator_app, client, intent="Confirm", instrument="4354")
    with pytest.raises(DeclinedError) as info:
        client.create_charge(session.charge_permission_id, USD("10.00"))
    assert info.value.reason_code == "HardDeclined"


def test_authorization_expires_unused(emulator_app, client, authorized):
    emulator_app.advance_clock(2 * 24 * 3600 + 1)  # sandbox authorizations last 2 days
    charge = client.get_charge(authorized.charge_id)
    assert charge.state is ChargeState.CANCELED and charge.status.reason_code == "ExpiredUnused"


def test_authorization_expiry_is_notified(emulator_app, client, authorized):
    before = len(emulator_app.ipn.deliveries)
    emulator_app.advance_clock(2 * 24 * 3600 + 1)
    [expired] = emulator_app.ipn.deliveries[before:]
    assert expired.message["ObjectType"] == "CHARGE" and expired.message["ObjectId"] == authorized.charge_id


def test_live_authorizations_last_30_days(key_pair):
    app = EmulatorApp(settings=EmulatorSettings())
    live = make_client(app, new_merchant(app, key_pair, env="live").config)
    session = completed_session(app, live)
    app.advance_clock(29 * 24 * 3600)
    assert live.get_charge(session.charge_id).state is ChargeState.AUTHORIZED
    app.advance_clock(2 * 24 * 3600)
    assert live.get_charge(session.charge_id).state is ChargeState.CANCELED


def test_charge_permission_expires_after_180_days(emulator_app, client, confirm_only):
    emulator_app.advance_clock(180 * 24 * 3600 + 1)
    cp = client.get_charge_permission(confirm_only.charge_permission_id)
    assert cp.state is ChargePermissionState.CLOSED and cp.status.reasons[0][0] == "Expired"


def test_create_charge_validation(raw, confirm_only):
    cases = [
        ({"chargeAmount": {"amount": "1.00", "currencyCode": "USD"}}, "MissingParameterValue"),
        ({"chargePermissionId": confirm_only.charge_permission_id}, "MissingParameterValue"),
        ({"chargePermissionId": confirm_only.charge_permission_id, "captureNow": "yes",
          "chargeAmount": {"amount": "1.00", "currencyCode": "USD"}}, "InvalidParameterValue"),
    ]
    for index, (body, code) in enumerate(cases):
        assert reason(raw.send("POST", "/charges", body, idempotency_key=f"v{index}")) == (400, code), body


def test_create_charge_response_is_201(raw, confirm_only):
    body = {"chargePermissionId": confirm_only.charge_permission_id,
            "chargeAmount": {"amount": "5.00", "currencyCode": "USD"}, "captureNow": True}
    response = raw.send("POST", "/charges", body, idempotency_key="c1")
    assert response.status == 201 and body_of(response)["statusDetails"]["state"] == "Captured"
