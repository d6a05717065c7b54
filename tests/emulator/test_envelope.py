"""Routing, request format, ownership and environment isolation."""

from __future__ import annotations

import re

import pytest

from saleor_amazonpay.core import NotFoundError

from .conftest import make_client, new_merchant
from .helpers import RawApi, body_of, create_session, reason


def test_unknown_route_is_404(raw):
    assert reason(raw.send("GET", "/buyers/abc")) == (404, "ResourceNotFound")


def test_path_outside_the_api_is_404_without_auth(browser):
    response = browser.get("/v3/checkoutSessions")
    assert response.status == 404 and response.json()["reasonCode"] == "ResourceNotFound"


def test_wrong_method_is_405(raw):
    assert reason(raw.send("PUT", "/checkoutSessions/abc", {})) == (405, "UnsupportedOperation")
    assert reason(raw.send("DELETE", "/charges")) == (405, "UnsupportedOperation")


def test_unknown_object_is_404(client):
    with pytest.raises(NotFoundError) as info:
        client.get_charge("S01-0000000-0000000-C0000000")
    assert info.value.http_status == 404 and info.value.reason_code == "ResourceNotFound"


def test_invalid_json_is_400(raw):
    response = raw.send("POST", "/checkoutSessions", b"{not json", idempotency_key="k1")
    assert reason(response) == (400, "InvalidRequestFormat")


def test_json_that_is_not_an_object(raw):
    assert reason(raw.send("POST", "/checkoutSessions", b"[1,2]", idempotency_key="k1")) == (
        400, "InvalidRequestFormat")


def test_empty_post_body(raw):
    assert reason(raw.send("POST", "/checkoutSessions", b"", idempotency_key="k1")) == (400, "InvalidRequestFormat")


def test_unknown_field_is_refused(raw):
    body = {"storeId": raw.config.store_id, "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"},
            "chargeamount": {"amount": "1", "currencyCode": "USD"}}
    response = raw.send("POST", "/checkoutSessions", body, idempotency_key="k1")
    assert reason(response) == (400, "UnrecognizedField")
    assert "chargeamount" in body_of(response)["message"]


@pytest.mark.parametrize("body, code", [
    ({"webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"}}, "MissingParameterValue"),
    ({"storeId": "STORE", "webCheckoutDetails": {}}, "MissingParameterValue"),
    ({"storeId": "STORE"}, "MissingParameterValue"),
    ({"storeId": "STORE", "webCheckoutDetails": {"checkoutReviewReturnUrl": "ftp://x"}}, "InvalidParameterValue"),
    ({"storeId": "STORE", "webCheckoutDetails": {"checkoutReviewReturnUrl": "/relative"}}, "InvalidParameterValue"),
    ({"storeId": "STORE", "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"},
      "chargePermissionType": "Forever"}, "InvalidParameterValue"),
    ({"storeId": "STORE", "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"},
      "paymentDetails": {"paymentIntent": "Sell"}}, "InvalidParameterValue"),
    ({"storeId": "STORE", "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"},
      "merchantMetadata": {"merchantStoreName": "x" * 51}}, "InvalidParameterValue"),
    ({"storeId": "STORE", "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"},
      "scopes": ["everything"]}, "InvalidParameterValue"),
    ({"storeId": "STORE", "webCheckoutDetails": {"checkoutMode": "ProcessOrder",
                                                  "checkoutResultReturnUrl": "https://s.test/x"}},
     "MissingParameterValue"),
])
def test_create_checkout_session_validation(raw, body, code):
    if body.get("storeId") == "STORE":
        body = dict(body, storeId=raw.config.store_id)
    assert reason(raw.send("POST", "/checkoutSessions", body, idempotency_key="k1")) == (400, code)


def test_store_id_of_another_merchant_is_refused(raw):
    body = {"storeId": "amzn1.application-oa2-client.someoneelse",
            "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"}}
    assert reason(raw.send("POST", "/checkoutSessions", body, idempotency_key="k1")) == (400, "InvalidParameterValue")


def test_objects_of_another_merchant_are_404(emulator_app, client, other_key_pair):
    session = create_session(client)
    other = make_client(emulator_app, new_merchant(emulator_app, other_key_pair).config)
    with pytest.raises(NotFoundError):
        other.get_checkout_session(session.checkout_session_id)
    assert client.get_checkout_session(session.checkout_session_id).checkout_session_id == session.checkout_session_id


def test_sandbox_objects_are_invisible_in_live(emulator_app, key_pair):
    merchant = new_merchant(emulator_app, key_pair, legacy_key_id=True)
    raw = RawApi(emulator_app, merchant.config)
    body = {"storeId": merchant.store_id, "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"}}
    created = body_of(raw.send("POST", "/checkoutSessions", body, idempotency_key="k1"))
    assert created["releaseEnvironment"] == "Sandbox"
    path = f"/checkoutSessions/{created['checkoutSessionId']}"
    assert raw.send("GET", path, prefix="/sandbox/v2").status == 200
    assert reason(raw.send("GET", path, prefix="/live/v2")) == (404, "ResourceNotFound")
    live = body_of(raw.send("POST", "/checkoutSessions", body, prefix="/live/v2", idempotency_key="k1"))
    assert live["releaseEnvironment"] == "Live"


def test_simulation_code_only_in_sandbox(emulator_app, key_pair):
    merchant = new_merchant(emulator_app, key_pair, env="live")
    raw = RawApi(emulator_app, merchant.config)
    body = {"chargeAmount": {"amount": "1", "currencyCode": "USD"}}
    response = raw.send("POST", "/checkoutSessions/x/complete", body,
                        unsigned_extra={"x-amz-pay-simulation-code": "Declined"})
    assert reason(response) == (400, "InvalidSandboxSimulationSpecified")


@pytest.mark.parametrize("code", ["Nonsense", "HardDeclined"])
def test_unknown_or_misplaced_simulation_code(raw, code):
    body = {"storeId": raw.config.store_id, "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"}}
    response = raw.send("POST", "/checkoutSessions", body, idempotency_key="k1",
                        unsigned_extra={"x-amz-pay-simulation-code": code})
    assert reason(response) == (400, "InvalidSandboxSimulationSpecified")


def test_response_shape_of_a_new_session(client):
    session = create_session(client)
    raw = session.raw
    for key in ("checkoutSessionId", "webCheckoutDetails", "paymentDetails", "merchantMetadata", "buyer",
                "shippingAddress", "billingAddress", "paymentPreferences", "statusDetails", "chargePermissionId",
                "chargeId", "constraints", "creationTimestamp", "expirationTimestamp", "storeId",
                "releaseEnvironment", "chargePermissionType", "productType"):
        assert key in raw, key
    assert raw["releaseEnvironment"] == "Sandbox" and raw["storeId"] == client.config.store_id
    assert set(raw["statusDetails"]) == {"state", "reasonCode", "reasonDescription", "lastUpdatedTimestamp"}
    assert re.match(r"^\d{8}T\d{6}Z$", raw["creationTimestamp"])
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", raw["checkoutSessionId"])
