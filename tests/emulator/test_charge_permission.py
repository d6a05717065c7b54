"""Charge Permission: read, update, close; limits and reasons."""

from __future__ import annotations

import pytest

from saleor_amazonpay.core import (
    ChargePermissionState,
    ChargeState,
    InvalidStateError,
    NotFoundError,
    Price,
)

from .helpers import body_of, completed_session, reason

USD = lambda amount: Price.of(amount, "USD")  # noqa: E731


@pytest.fixture
def session(emulator_app, client):
    return completed_session(emulator_app, client)


def test_shape(client, session):
    cp = client.get_charge_permission(session.charge_permission_id)
    assert cp.state is ChargePermissionState.CHARGEABLE and cp.charge_permission_type == "OneTime"
    assert cp.amount_limit == USD("100.00") and cp.amount_balance == USD("0.00")  # held by the authorization
    assert cp.shipping_address.country_code == "US" and cp.payment_descriptor == "Visa ****1111"
    assert cp.merchant_reference_id == "ORDER-1"
    raw = cp.raw
    assert raw["statusDetails"]["reasons"] is None and raw["releaseEnvironment"] == "Sandbox"
    assert (cp.expiration_timestamp - cp.creation_timestamp).days == 180


def test_update_merchant_metadata(client, session):
    cp = client.update_charge_permission(session.charge_permission_id,
                                         {"merchantMetadata": {"merchantReferenceId": "ORDER-2",
                                                               "customInformation": "x"}})
    assert cp.merchant_reference_id == "ORDER-2"
    assert cp.raw["merchantMetadata"]["merchantStoreName"] == "Test Shop"


def test_update_rejects_unknown_fields(raw, session):
    response = raw.send("PATCH", f"/chargePermissions/{session.charge_permission_id}", {"limits": {}})
    assert reason(response) == (400, "UnrecognizedField")


def test_close_with_reason(client, session):
    cp = client.close_charge_permission(session.charge_permission_id, "Order shipped")
    assert cp.state is ChargePermissionState.CLOSED
    assert cp.status.reasons == (("MerchantClosed", "Order shipped"),)
    # Without cancelPendingCharges the open authorization is left alone and can be captured.
    assert client.get_charge(session.charge_id).state is ChargeState.AUTHORIZED
    assert client.capture_charge(session.charge_id, USD("100.00")).state is ChargeState.CAPTURED


def test_close_cancels_pending_charges_when_asked(client, session):
    client.close_charge_permission(session.charge_permission_id, "Canceled order", cancel_pending_charges=True)
    charge = client.get_charge(session.charge_id)
    assert charge.state is ChargeState.CANCELED and charge.status.reason_code == "ChargePermissionCanceled"


def test_close_twice_is_invalid(client, session):
    client.close_charge_permission(session.charge_permission_id, "done")
    with pytest.raises(InvalidStateError) as info:
        client.close_charge_permission(session.charge_permission_id, "again")
    assert (info.value.http_status, info.value.reason_code) == (422, "InvalidChargePermissionStatus")


def test_update_closed_is_not_modifiable(client, session):
    client.close_charge_permission(session.charge_permission_id, "done")
    with pytest.raises(InvalidStateError) as info:
        client.update_charge_permission(session.charge_permission_id, {"merchantMetadata": {"noteToBuyer": "x"}})
    assert (info.value.http_status, info.value.reason_code) == (422, "ChargePermissionNotModifiable")


def test_amazon_closed_simulation(client, session):
    cp = client.close_charge_permission(session.charge_permission_id, "x", simulation_code="AmazonClosed")
    assert cp.state is ChargePermissionState.CLOSED and cp.status.reasons[0][0] == "AmazonClosed"


def test_close_body_is_optional_and_validated(raw, session):
    path = f"/chargePermissions/{session.charge_permission_id}/close"
    assert reason(raw.send("DELETE", path, {"closureReason": 5})) == (400, "InvalidParameterValue")
    response = raw.send("DELETE", path)
    assert response.status == 200 and body_of(response)["statusDetails"]["state"] == "Closed"


def test_unknown_permission(client):
    with pytest.raises(NotFoundError):
        client.get_charge_permission("S01-1234567-1234567")
