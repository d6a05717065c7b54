"""Checkout Session: states, redirect URL, Update/Complete rules, expiry, simulations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from saleor_amazonpay.core import (
    AmountMismatchError,
    ChargePermissionState,
    ChargeState,
    CheckoutSessionState,
    InvalidRequestError,
    InvalidStateError,
    Price,
)
from saleor_amazonpay.emulator import AmazonError

from .helpers import (
    RESULT_URL,
    body_of,
    completed_session,
    confirmed_session,
    create_session,
    payment_update,
    reason,
)

USD = lambda amount: Price.of(amount, "USD")  # noqa: E731


def test_new_session_is_open_without_redirect_url(client):
    session = create_session(client)
    assert session.state is CheckoutSessionState.OPEN
    assert session.amazon_pay_redirect_url is None
    assert "BuyerNotAssociated" in session.constraints
    assert session.expiration_timestamp - session.creation_timestamp == timedelta(hours=24)


def test_redirect_url_needs_intent_amount_result_url_and_buyer(emulator_app, client):
    session = create_session(client)
    sid = session.checkout_session_id
    updated = client.update_checkout_session(sid, payment_update())
    assert updated.amazon_pay_redirect_url is None and updated.constraints == ("BuyerNotAssociated",)
    emulator_app.buyer_approve(sid)
    ready = client.get_checkout_session(sid)
    assert ready.amazon_pay_redirect_url == f"http://pay-api.test/_emulator/buyer/confirm/{sid}"
    assert ready.constraints == ()


def test_redirect_url_missing_intent(emulator_app, client):
    session = create_session(client)
    emulator_app.buyer_approve(session.checkout_session_id)
    updated = client.update_checkout_session(session.checkout_session_id, {
        "webCheckoutDetails": {"checkoutResultReturnUrl": RESULT_URL},
        "paymentDetails": {"chargeAmount": {"amount": "5.00", "currencyCode": "USD"}}})
    assert updated.amazon_pay_redirect_url is None and updated.constraints == ("PaymentIntentNotSet",)


def test_buyer_data_after_approval(emulator_app, client):
    session = create_session(client)
    emulator_app.buyer_approve(session.checkout_session_id, address="DE", instrument="1111",
                               name="Erika Muster", email="erika@example.com")
    got = client.get_checkout_session(session.checkout_session_id)
    assert got.buyer.name == "Erika Muster" and got.buyer.email == "erika@example.com"
    assert got.buyer.buyer_id.startswith("amzn1.account.")
    assert got.shipping_address.country_code == "DE" and got.billing_address.name == "Erika Muster"
    assert got.payment_descriptor == "Visa ****1111"


def test_update_merges_fields(emulator_app, client):
    session = create_session(client, merchantMetadata={"merchantReferenceId": "A"})
    sid = session.checkout_session_id
    client.update_checkout_session(sid, payment_update(amount="10.00"))
    updated = client.update_checkout_session(sid, {"paymentDetails": {"chargeAmount": {"amount": "12.00",
                                                                                      "currencyCode": "USD"}},
                                                   "merchantMetadata": {"noteToBuyer": "thanks"}})
    assert updated.payment_intent == "Authorize" and updated.charge_amount == USD("12.00")
    assert updated.raw["merchantMetadata"]["merchantReferenceId"] == "ORDER-1"
    assert updated.raw["merchantMetadata"]["noteToBuyer"] == "thanks"


def test_update_after_confirmation_needs_a_new_confirmation(emulator_app, client):
    sid = confirmed_session(emulator_app, client)
    client.update_checkout_session(sid, {"paymentDetails": {"chargeAmount": {"amount": "90.00",
                                                                             "currencyCode": "USD"}}})
    with pytest.raises(InvalidStateError):
        client.complete_checkout_session(sid, USD("90.00"))
    emulator_app.buyer_confirm(sid)
    assert client.complete_checkout_session(sid, USD("90.00")).state is CheckoutSessionState.COMPLETED


@pytest.mark.parametrize("intent, charge_state", [("Authorize", ChargeState.AUTHORIZED),
                                                  ("AuthorizeWithCapture", ChargeState.CAPTURED),
                                                  ("Confirm", None)])
def test_complete_per_intent(emulator_app, client, intent, charge_state):
    session = completed_session(emulator_app, client, intent=intent)
    assert session.state is CheckoutSessionState.COMPLETED
    assert session.charge_permission_id and re.match(r"^S01-\d{7}-\d{7}$", session.charge_permission_id)
    cp = client.get_charge_permission(session.charge_permission_id)
    assert cp.amount_limit == USD("100.00") and cp.buyer.email == "buyer@example.com"
    if charge_state is None:
        assert session.charge_id is None and cp.state is ChargePermissionState.CHARGEABLE
    else:
        assert session.charge_id.startswith(session.charge_permission_id + "-C")
        assert client.get_charge(session.charge_id).state is charge_state
    if intent == "AuthorizeWithCapture":
        # A OneTime permission closes once its full amount is captured.
        assert cp.state is ChargePermissionState.CLOSED


def test_completed_session_redacts_buyer_data(emulator_app, client):
    session = completed_session(emulator_app, client)
    raw = client.get_checkout_session(session.checkout_session_id).raw
    assert raw["buyer"] is None and raw["shippingAddress"] is None and raw["billingAddress"] is None
    assert raw["paymentPreferences"] == [None] and raw["chargePermissionId"] == session.charge_permission_id
    assert raw["webCheckoutDetails"]["amazonPayRedirectUrl"] is None


def test_complete_before_the_buyer_returned(emulator_app, client):
    session = create_session(client)
    emulator_app.buyer_approve(session.checkout_session_id)
    client.update_checkout_session(session.checkout_session_id, payment_update())
    with pytest.raises(InvalidStateError) as info:
        client.complete_checkout_session(session.checkout_session_id, USD("100.00"))
    assert (info.value.http_status, info.value.reason_code) == (422, "InvalidCheckoutSessionStatus")


def test_complete_amount_mismatch(emulator_app, client):
    sid = confirmed_session(emulator_app, client)
    with pytest.raises(AmountMismatchError) as info:
        client.complete_checkout_session(sid, USD("99.99"))
    assert (info.value.http_status, info.value.reason_code) == (409, "AmountMismatch")
    assert client.get_checkout_session(sid).state is CheckoutSessionState.OPEN


def test_complete_currency_mismatch(emulator_app, client):
    sid = confirmed_session(emulator_app, client)
    with pytest.raises(AmountMismatchError) as info:
        client.complete_checkout_session(sid, Price.of("100.00", "EUR"))
    assert (info.value.http_status, info.value.reason_code) == (400, "CurrencyMismatch")


def test_complete_with_total_order_amount(emulator_app, client):
    sid = confirmed_session(emulator_app, client, amount="30.00", total="100.00")
    with pytest.raises(AmountMismatchError):
        client.complete_checkout_session(sid, USD("30.00"))  # totalOrderAmount missing
    with pytest.raises(AmountMismatchError):
        client.complete_checkout_session(sid, USD("30.00"), total_order_amount=USD("90.00"))
    done = client.complete_checkout_session(sid, USD("30.00"), total_order_amount=USD("100.00"))
    cp = client.get_charge_permission(done.charge_permission_id)
    assert cp.amount_limit == USD("100.00") and cp.amount_balance == USD("70.00")


def test_complete_total_order_amount_not_expected(emulator_app, client):
    sid = confirmed_session(emulator_app, client)
    with pytest.raises(AmountMismatchError):
        client.complete_checkout_session(sid, USD("100.00"), total_order_amount=USD("100.00"))


def test_complete_twice_is_invalid_status(emulator_app, client):
    session = completed_session(emulator_app, client)
    with pytest.raises(InvalidStateError) as info:
        client.complete_checkout_session(session.checkout_session_id, USD("100.00"))
    assert (info.value.http_status, info.value.reason_code) == (422, "InvalidCheckoutSessionStatus")


def test_update_completed_session_is_invalid_status(emulator_app, client):
    session = completed_session(emulator_app, client)
    with pytest.raises(InvalidStateError) as info:
        client.update_checkout_session(session.checkout_session_id, payment_update())
    assert info.value.reason_code == "InvalidCheckoutSessionStatus"


def test_session_expires_after_24_hours(emulator_app, client):
    sid = confirmed_session(emulator_app, client)
    emulator_app.advance_clock(24 * 3600 - 5)
    assert client.get_checkout_session(sid).state is CheckoutSessionState.OPEN
    emulator_app.clock.advance(10)  # lazily applied on the next access
    expired = client.get_checkout_session(sid)
    assert expired.state is CheckoutSessionState.CANCELED and expired.status.reason_code == "Expired"
    with pytest.raises(InvalidStateError) as info:
        client.complete_checkout_session(sid, USD("100.00"))
    assert (info.value.http_status, info.value.reason_code) == (400, "CheckoutSessionCanceled")
    with pytest.raises(InvalidStateError) as info:
        client.update_checkout_session(sid, payment_update())
    assert info.value.reason_code == "InvalidCheckoutSessionStatus"


def test_completed_session_does_not_expire(emulator_app, client):
    session = completed_session(emulator_app, client)
    emulator_app.advance_clock(25 * 3600)
    assert client.get_checkout_session(session.checkout_session_id).state is CheckoutSessionState.COMPLETED


@pytest.mark.parametrize("code", ["BuyerCanceled", "Declined", "AmazonCanceled"])
def test_complete_simulation_cancels(emulator_app, client, code):
    sid = confirmed_session(emulator_app, client)
    with pytest.raises(InvalidStateError) as info:
        client.complete_checkout_session(sid, USD("100.00"), simulation_code=code)
    assert (info.value.http_status, info.value.reason_code) == (400, "CheckoutSessionCanceled")
    session = client.get_checkout_session(sid)
    assert session.state is CheckoutSessionState.CANCELED and session.status.reason_code == code
    assert not emulator_app.store.charge_permissions


def test_complete_simulation_authorization_initiated(emulator_app, client):
    sid = confirmed_session(emulator_app, client, pending=True)
    response = client.request("CompleteCheckoutSession", "POST", f"/checkoutSessions/{sid}/complete",
                              body={"chargeAmount": {"amount": "100.00", "currencyCode": "USD"}},
                              simulation_code="AuthorizationInitiated")
    assert response.status == 202
    charge = client.get_charge(response.data["chargeId"])
    assert charge.state is ChargeState.AUTHORIZATION_INITIATED
    emulator_app.advance_clock(30)
    assert client.get_charge(charge.charge_id).state is ChargeState.AUTHORIZED


def test_authorization_initiated_simulation_needs_pending_support(emulator_app, client):
    sid = confirmed_session(emulator_app, client, pending=False)
    with pytest.raises(InvalidRequestError) as info:
        client.complete_checkout_session(sid, USD("100.00"), simulation_code="AuthorizationInitiated")
    assert info.value.reason_code == "InvalidSandboxSimulationSpecified"


def test_complete_request_validation(emulator_app, raw, client):
    sid = confirmed_session(emulator_app, client)
    assert reason(raw.send("POST", f"/checkoutSessions/{sid}/complete", {})) == (400, "MissingParameterValue")
    assert reason(raw.send("POST", f"/checkoutSessions/{sid}/complete",
                           {"chargeAmount": {"amount": "100.00", "currencyCode": "USD"}, "extra": 1})) == (
        400, "UnrecognizedField")
    assert raw.send("POST", f"/checkoutSessions/{sid}/complete",
                    {"chargeAmount": {"amount": 100, "currencyCode": "USD"}}).status == 200


def test_get_unknown_session(raw):
    assert reason(raw.send("GET", "/checkoutSessions/00000000-0000-0000-0000-000000000000")) == (
        404, "ResourceNotFound")


def test_charge_permission_type_and_recurring_metadata_are_kept(emulator_app, client):
    session = create_session(client, chargePermissionType="Recurring",
                             recurringMetadata={"frequency": {"unit": "Month", "value": "1"}})
    assert session.raw["chargePermissionType"] == "Recurring"
    emulator_app.buyer_approve(session.checkout_session_id)
    client.update_checkout_session(session.checkout_session_id, payment_update(intent="Confirm"))
    emulator_app.buyer_confirm(session.checkout_session_id)
    done = client.complete_checkout_session(session.checkout_session_id, USD("100.00"))
    cp = client.get_charge_permission(done.charge_permission_id)
    assert cp.charge_permission_type == "Recurring"
    assert cp.raw["recurringMetadata"]["frequency"]["unit"] == "Month"


def test_buyer_confirm_before_ready_raises(emulator_app, client):
    session = create_session(client)
    emulator_app.buyer_approve(session.checkout_session_id)
    with pytest.raises(AmazonError) as info:
        emulator_app.buyer_confirm(session.checkout_session_id)
    assert info.value.reason_code == "InvalidCheckoutSessionStatus"
    assert "ChargeAmountNotSet" in info.value.message


def test_pay_only_has_no_shipping_address(emulator_app, client):
    session = create_session(client, productType="PayOnly")
    emulator_app.buyer_approve(session.checkout_session_id, address="UK")
    got = client.get_checkout_session(session.checkout_session_id)
    assert got.shipping_address is None and got.billing_address.country_code == "GB"


def test_scopes_limit_buyer_fields(emulator_app, client):
    session = create_session(client, scopes=["name"])
    emulator_app.buyer_approve(session.checkout_session_id)
    got = client.get_checkout_session(session.checkout_session_id)
    assert got.buyer.name == "Test Buyer" and got.buyer.email is None and got.billing_address is None


def test_raw_session_body_has_compact_timestamps(emulator_app, raw, client):
    session = completed_session(emulator_app, client)
    data = body_of(raw.send("GET", f"/checkoutSessions/{session.checkout_session_id}"))
    assert data["statusDetails"]["state"] == "Completed"
    assert len(data["statusDetails"]["lastUpdatedTimestamp"]) == 16
