"""x-amz-pay-idempotency-key: required where Amazon requires it, replay, reuse, scope."""

from __future__ import annotations

import pytest

from saleor_amazonpay.core import IdempotencyError, Price
from saleor_amazonpay.core.constants import REQUEST_ID_HEADER

from .conftest import new_merchant
from .helpers import RawApi, body_of, completed_session, reason


def session_body(raw, url="https://s.test/r"):
    return {"storeId": raw.config.store_id, "webCheckoutDetails": {"checkoutReviewReturnUrl": url}}


@pytest.fixture
def captured(emulator_app, client):
    return completed_session(emulator_app, client, intent="AuthorizeWithCapture")


@pytest.fixture
def authorized(emulator_app, client):
    return completed_session(emulator_app, client)


def test_required_on_create_checkout_session(raw):
    response = raw.send("POST", "/checkoutSessions", session_body(raw))
    assert reason(response) == (400, "MissingHeaderValue")


def test_required_on_create_charge_capture_and_refund(raw, authorized, captured):
    price = {"amount": "1.00", "currencyCode": "USD"}
    cases = [
        ("POST", "/charges", {"chargePermissionId": authorized.charge_permission_id, "chargeAmount": price}),
        ("POST", f"/charges/{authorized.charge_id}/capture", {"captureAmount": price}),
        ("POST", "/refunds", {"chargeId": captured.charge_id, "refundAmount": price}),
    ]
    for method, path, body in cases:
        assert reason(raw.send(method, path, body)) == (400, "MissingHeaderValue"), path


def test_not_required_on_complete_update_close_cancel_trackers(raw, authorized):
    assert raw.send("PATCH", f"/chargePermissions/{authorized.charge_permission_id}",
                    {"merchantMetadata": {"noteToBuyer": "x"}}).status == 200
    assert raw.send("DELETE", f"/charges/{authorized.charge_id}/cancel", {}).status == 200


@pytest.mark.parametrize("key", ["x" * 33, "has-dash", "has space", "ü"])
def test_key_format(raw, key):
    response = raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key=key)
    assert reason(response) == (400, "InvalidHeaderValue")


def test_32_alphanumeric_characters_are_fine(raw):
    assert raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key="A" * 32).status == 201


def test_same_key_same_request_replays_byte_for_byte(emulator_app, raw):
    first = raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key="same1")
    second = raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key="same1")
    assert first.status == second.status == 201
    assert first.body == second.body
    assert len(emulator_app.store.checkout_sessions) == 1
    assert second.header("x-emulator-idempotent-replay") == "true"
    assert second.header("x-emulator-original-request-id") == first.header(REQUEST_ID_HEADER)
    assert second.header(REQUEST_ID_HEADER) != first.header(REQUEST_ID_HEADER)


def test_replay_ignores_json_whitespace(emulator_app, raw):
    raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key="ws1")
    import json

    spaced = json.dumps(session_body(raw), indent=4).encode()
    assert raw.send("POST", "/checkoutSessions", spaced, idempotency_key="ws1").status == 201
    assert len(emulator_app.store.checkout_sessions) == 1


def test_same_key_different_request(emulator_app, raw):
    raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key="dup1")
    response = raw.send("POST", "/checkoutSessions", session_body(raw, "https://s.test/other"),
                        idempotency_key="dup1")
    assert reason(response) == (400, "DuplicateIdempotencyKey")
    assert len(emulator_app.store.checkout_sessions) == 1


def test_same_key_on_another_path(raw, authorized):
    raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key="dup2")
    response = raw.send("POST", f"/charges/{authorized.charge_id}/capture",
                        {"captureAmount": {"amount": "1.00", "currencyCode": "USD"}}, idempotency_key="dup2")
    assert reason(response) == (400, "DuplicateIdempotencyKey")


def test_client_maps_reuse_to_idempotency_error(client, authorized):
    client.capture_charge(authorized.charge_id, Price.of("10.00", "USD"), idempotency_key="cap1")
    with pytest.raises(IdempotencyError):
        client.capture_charge(authorized.charge_id, Price.of("20.00", "USD"), idempotency_key="cap1")


def test_replayed_error_answers(emulator_app, client, raw, authorized):
    # A business error is bound to the key: the retry sees the same 422, not a new attempt.
    client.cancel_charge(authorized.charge_id)
    body = {"captureAmount": {"amount": "1.00", "currencyCode": "USD"}}
    first = raw.send("POST", f"/charges/{authorized.charge_id}/capture", body, idempotency_key="err1")
    second = raw.send("POST", f"/charges/{authorized.charge_id}/capture", body, idempotency_key="err1")
    assert reason(first) == (422, "InvalidChargeStatus") and first.body == second.body
    assert second.header("x-emulator-idempotent-replay") == "true"


def test_validation_errors_are_not_bound_to_the_key(emulator_app, raw):
    bad = {"storeId": raw.config.store_id, "webCheckoutDetails": {}}
    assert raw.send("POST", "/checkoutSessions", bad, idempotency_key="fix1").status == 400
    assert raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key="fix1").status == 201


def test_keys_are_scoped_per_merchant(emulator_app, raw, other_key_pair):
    other = RawApi(emulator_app, new_merchant(emulator_app, other_key_pair).config)
    assert raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key="shared").status == 201
    assert other.send("POST", "/checkoutSessions", session_body(other), idempotency_key="shared").status == 201
    assert len(emulator_app.store.checkout_sessions) == 2


def test_keys_expire_after_24_hours(emulator_app, raw):
    raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key="old1")
    emulator_app.advance_clock(24 * 3600 + 1)
    response = raw.send("POST", "/checkoutSessions", session_body(raw, "https://s.test/new"), idempotency_key="old1")
    assert response.status == 201 and len(emulator_app.store.checkout_sessions) == 2


def test_replay_of_a_charge_creation(emulator_app, client, authorized):
    cp = completed_session(emulator_app, client, intent="Confirm").charge_permission_id
    first = client.create_charge(cp, Price.of("10.00", "USD"), idempotency_key="charge1")
    second = client.create_charge(cp, Price.of("10.00", "USD"), idempotency_key="charge1")
    assert first.charge_id == second.charge_id
    assert len(emulator_app.store.charge_permissions[cp].charge_ids) == 1


def test_key_on_get_is_ignored(raw):
    first = raw.send("POST", "/checkoutSessions", session_body(raw), idempotency_key="g1")
    session_id = body_of(first)["checkoutSessionId"]
    assert raw.send("GET", f"/checkoutSessions/{session_id}", idempotency_key="g1").status == 200

