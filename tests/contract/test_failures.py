"""Error answers, retries, deadlines, timeouts and refused connections over real sockets."""

from __future__ import annotations

import time

import pytest

from saleor_amazonpay.core import (
    BUYER_MESSAGE,
    NO_RETRIES,
    AmountMismatchError,
    ApiError,
    AuthenticationError,
    ConnectError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    Price,
    RateLimitError,
    ResponseTimeout,
    RetryPolicy,
    ServerError,
)

from .conftest import Scripted

pytestmark = pytest.mark.unit

CS_ID = "bd504926-f659-4ad7-a1a9-9a747aaf5275"
CP_ID = "S01-5105180-3221187"
CHARGE_ID = "S01-5105180-3221187-C056351"


@pytest.fixture
def no_jitter(monkeypatch):
    monkeypatch.setattr(RetryPolicy, "_jitter", lambda self, ceiling: ceiling)


# --- error mapping ---------------------------------------------------------------------------

ERROR_CASES = [
    # status, body, expected class, reason code, retryable
    (
        400,
        {"reasonCode": "InvalidParameterValue", "message": "The value provided for chargeAmount is invalid."},
        InvalidRequestError,
        "InvalidParameterValue",
        False,
    ),
    (
        403,
        {"reasonCode": "InvalidRequestSignature", "message": "Unable to verify signature."},
        AuthenticationError,
        "InvalidRequestSignature",
        False,
    ),
    (404, {"reasonCode": "ResourceNotFound", "message": "Charge not found."}, NotFoundError, "ResourceNotFound", False),
    (404, b"", NotFoundError, "ResourceNotFound", False),
    (
        409,
        {"reasonCode": "AmountMismatch", "message": "chargeAmount does not match."},
        AmountMismatchError,
        "AmountMismatch",
        False,
    ),
    (
        422,
        {"reasonCode": "InvalidChargeStatus", "message": "Charge is in Captured state."},
        InvalidStateError,
        "InvalidChargeStatus",
        False,
    ),
    (429, {"reasonCode": "TooManyRequests", "message": "Throttled."}, RateLimitError, "TooManyRequests", True),
    (500, {"reasonCode": "InternalServerError", "message": "Oops."}, ServerError, "InternalServerError", True),
    (503, {"reasonCode": "ServiceUnavailable", "message": "Down."}, ServerError, "ServiceUnavailable", True),
    (502, b"<html><body>502 Bad Gateway</body></html>", ServerError, None, True),
]


@pytest.mark.parametrize(
    "status, body, cls, reason, retryable",
    ERROR_CASES,
    ids=[f"{c[0]}-{c[3] or 'nonjson'}-{i}" for i, c in enumerate(ERROR_CASES)],
)
@pytest.mark.parametrize("call", ["get_charge", "complete"])
def test_error_mapping(status, body, cls, reason, retryable, call, server, make_client):
    headers = {"Content-Type": "text/html"} if isinstance(body, bytes) and body else {}
    server.enqueue(Scripted(status, body, headers=headers, request_id="a8c2d7e4-rid"))
    client = make_client(retry=NO_RETRIES).client
    with pytest.raises(cls) as info:
        if call == "get_charge":
            client.get_charge(CHARGE_ID)
        else:
            client.complete_checkout_session(CS_ID, Price.of("14.00", "USD"))
    error = info.value
    assert type(error) is cls
    assert error.http_status == status
    assert error.request_id == "a8c2d7e4-rid"
    assert error.reason_code == reason
    assert error.should_retry is retryable
    assert error.buyer_message == BUYER_MESSAGE
    if isinstance(body, dict):
        assert error.message == body["message"]
        assert error.body == body
    text = str(error)
    assert "a8c2d7e4-rid" in text and str(status) in text
    if reason:
        assert reason in text
    assert len(server.received) == 1


# --- retry then success ------------------------------------------------------------------------

KEYED_CALLS = {
    "create_checkout_session": lambda c, key: c.create_checkout_session({"storeId": "s"}, idempotency_key=key),
    "create_charge": lambda c, key: c.create_charge(CP_ID, Price.of("14", "USD"), idempotency_key=key),
    "capture_charge": lambda c, key: c.capture_charge(CHARGE_ID, Price.of("14", "USD"), idempotency_key=key),
    "create_refund": lambda c, key: c.create_refund(CHARGE_ID, Price.of("14", "USD"), idempotency_key=key),
}


@pytest.mark.parametrize("name", sorted(KEYED_CALLS))
@pytest.mark.parametrize("key", ["fixedKey0001", None])
def test_keyed_post_retries_429_and_503_with_identical_signed_request(
    name, key, server, make_client, verify_signature, api_samples
):
    success = 200 if name == "capture_charge" else 201
    server.enqueue(
        Scripted(429, {"reasonCode": "TooManyRequests", "message": "slow down"}, request_id="r1"),
        Scripted(503, {"reasonCode": "ServiceUnavailable", "message": "down"}, request_id="r2"),
        Scripted(success, api_samples["charge_captured"], request_id="r3"),
    )
    harness = make_client()
    KEYED_CALLS[name](harness.client, key)

    assert len(server.received) == 3
    first = server.received[0]
    if key:
        assert first.headers["x-amz-pay-idempotency-key"] == key
    for again in server.received[1:]:
        # Same key, same date, same signature, same bytes: the same request to Amazon.
        for header in ("x-amz-pay-idempotency-key", "x-amz-pay-date", "authorization"):
            assert again.headers[header] == first.headers[header], header
        assert (again.method, again.path, again.body) == (first.method, first.path, first.body)
    for received in server.received:
        verify_signature(received)
    assert [(r.status, r.request_id, r.attempt) for r in harness.records] == [
        (429, "r1", 1),
        (503, "r2", 2),
        (success, "r3", 3),
    ]
    assert len(harness.sleeps) == 2
    assert 0.25 <= harness.sleeps[0] <= 0.5 and 0.5 <= harness.sleeps[1] <= 1.0


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 408])
def test_get_retries_transient_statuses(status, server, make_client, api_samples):
    server.enqueue(Scripted(status, {"message": "transient"}), Scripted(200, api_samples["charge_authorized"]))
    charge = make_client().client.get_charge(CHARGE_ID)
    assert charge.charge_id == CHARGE_ID
    assert len(server.received) == 2


def test_patch_is_retried(server, make_client, api_samples):
    server.enqueue(
        Scripted(500, {"reasonCode": "InternalServerError"}), Scripted(200, api_samples["checkout_session_open"])
    )
    make_client().client.update_checkout_session(CS_ID, {"merchantMetadata": {"merchantReferenceId": "1"}})
    assert [r.method for r in server.received] == ["PATCH", "PATCH"]


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_client_errors_are_not_retried(status, server, make_client):
    server.default = Scripted(status, {"reasonCode": "Whatever"})
    with pytest.raises(ApiError) as info:
        make_client().client.create_charge(CP_ID, Price.of("1", "USD"))
    assert info.value.http_status == status
    assert len(server.received) == 1


# --- unsafe writes ------------------------------------------------------------------------------

UNSAFE_CALLS = {
    "complete_checkout_session": lambda c: c.complete_checkout_session(CS_ID, Price.of("14.00", "USD")),
    "cancel_charge": lambda c: c.cancel_charge(CHARGE_ID, "REASON"),
    "close_charge_permission": lambda c: c.close_charge_permission(CP_ID, "No more charges required"),
    "create_delivery_tracker": lambda c: c.create_delivery_tracker(CP_ID, "1Z999", "UPS"),
}


@pytest.mark.parametrize("name", sorted(UNSAFE_CALLS))
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_unsafe_writes_are_not_retried_on_5xx(name, status, server, make_client):
    server.default = Scripted(status, {"reasonCode": "InternalServerError", "message": "?"})
    harness = make_client()
    with pytest.raises(ServerError) as info:
        UNSAFE_CALLS[name](harness.client)
    assert info.value.http_status == status
    assert info.value.should_retry is True  # retryable in general...
    assert len(server.received) == 1  # ...but not for a write that may have happened
    assert "x-amz-pay-idempotency-key" not in server.received[0].headers
    assert harness.sleeps == []


@pytest.mark.parametrize("name", sorted(UNSAFE_CALLS))
def test_unsafe_writes_are_retried_when_throttled(name, server, make_client, api_samples):
    # 429 means Amazon refused the request before processing it: retrying is safe.
    sample = {
        "complete_checkout_session": "checkout_session_completed",
        "cancel_charge": "charge_canceled",
        "close_charge_permission": "charge_permission_closed",
        "create_delivery_tracker": "delivery_tracker",
    }[name]
    server.enqueue(Scripted(429, {"reasonCode": "TooManyRequests"}), Scripted(200, api_samples[sample]))
    UNSAFE_CALLS[name](make_client().client)
    assert len(server.received) == 2


# --- giving up ----------------------------------------------------------------------------------


def test_gives_up_after_max_retries(server, make_client):
    server.default = Scripted(503, {"reasonCode": "ServiceUnavailable"}, request_id="last-rid")
    harness = make_client()
    with pytest.raises(ServerError) as info:
        harness.client.get_charge(CHARGE_ID)
    assert len(server.received) == 4  # 1 attempt + 3 retries, like the SDKs
    assert [r.attempt for r in harness.records] == [1, 2, 3, 4]
    assert len(harness.sleeps) == 3
    assert info.value.request_id == "last-rid"


@pytest.mark.parametrize("max_retries", [0, 1, 5])
def test_max_retries_is_configurable(max_retries, server, make_client, no_jitter):
    server.default = Scripted(429, {"reasonCode": "TooManyRequests"})
    harness = make_client(retry=RetryPolicy(max_retries=max_retries, initial_delay=0.01, max_delay=0.04))
    with pytest.raises(RateLimitError):
        harness.client.create_refund(CHARGE_ID, Price.of("1", "USD"))
    assert len(server.received) == max_retries + 1
    assert harness.sleeps == [min(0.01 * 2**n, 0.04) for n in range(max_retries)]
    assert len({r.headers["x-amz-pay-idempotency-key"] for r in server.received}) == 1


def test_deadline_prevents_a_retry_that_would_overrun(server, make_client):
    server.default = Scripted(503, {})
    harness = make_client(retry=RetryPolicy(max_retries=5, initial_delay=2.0, deadline=0.5))
    with pytest.raises(ServerError):
        harness.client.get_charge(CHARGE_ID)
    assert len(server.received) == 1
    assert harness.sleeps == []


def test_deadline_counts_time_spent_waiting_for_answers(server, make_client, no_jitter):
    # Each answer takes 0.15 s; backoff is ~0; the deadline allows about three attempts.
    server.default = Scripted(503, {}, delay=0.15)
    harness = make_client(retry=RetryPolicy(max_retries=20, initial_delay=0.001, max_delay=0.001, deadline=0.4))
    started = time.monotonic()
    with pytest.raises(ServerError):
        harness.client.get_charge(CHARGE_ID)
    elapsed = time.monotonic() - started
    assert 2 <= len(server.received) <= 4
    assert elapsed < 1.0


# --- timeouts and refused connections --------------------------------------------------------


def test_slow_answer_on_unsafe_write_is_an_unknown_outcome(server, make_client):
    server.enqueue(Scripted(200, {}, delay=1.2))
    harness = make_client()
    started = time.monotonic()
    with pytest.raises(ResponseTimeout) as info:
        harness.client.complete_checkout_session(CS_ID, Price.of("14.00", "USD"))
    elapsed = time.monotonic() - started
    assert info.value.outcome_unknown is True
    assert len(server.received) == 1  # never retried: the charge may exist
    assert 0.4 <= elapsed < 1.1  # the 0.5 s read timeout, not the server's 1.2 s
    assert harness.records[0].status is None and harness.records[0].error == "ResponseTimeout"


def test_slow_answer_on_read_is_retried(server, make_client):
    server.enqueue(Scripted(200, {}, delay=1.2), Scripted(200, {}, delay=1.2))
    harness = make_client(retry=RetryPolicy(max_retries=1))
    with pytest.raises(ResponseTimeout):
        harness.client.get_charge(CHARGE_ID)
    assert len(server.received) == 2


def test_keyed_post_after_timeout_is_retried_with_the_same_key(server, make_client, api_samples):
    server.enqueue(
        Scripted(201, api_samples["charge_captured"], delay=1.2), Scripted(201, api_samples["charge_captured"])
    )
    harness = make_client()
    charge = harness.client.create_charge(CP_ID, Price.of("14", "USD"), idempotency_key="timeoutKey1")
    assert charge.charge_id == CHARGE_ID
    assert [r.headers["x-amz-pay-idempotency-key"] for r in server.received] == ["timeoutKey1", "timeoutKey1"]
    assert server.received[0].headers["authorization"] == server.received[1].headers["authorization"]


def test_dropped_connection_is_an_unknown_outcome(server, make_client):
    server.enqueue(Scripted(drop=True))
    with pytest.raises(ResponseTimeout) as info:
        make_client().client.cancel_charge(CHARGE_ID)
    assert info.value.outcome_unknown is True
    assert len(server.received) == 1


@pytest.mark.parametrize("call", ["get_charge", "complete", "create_charge"])
def test_connection_refused_is_retried(call, make_client, closed_port):
    harness = make_client(base_url=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(ConnectError) as info:
        if call == "get_charge":
            harness.client.get_charge(CHARGE_ID)
        elif call == "complete":
            harness.client.complete_checkout_session(CS_ID, Price.of("1", "USD"))
        else:
            harness.client.create_charge(CP_ID, Price.of("1", "USD"))
    assert info.value.outcome_unknown is False
    assert info.value.should_retry is True
    # Nothing reached Amazon, so even the unsafe Complete is retried: 1 + 3 attempts.
    assert [(r.attempt, r.status, r.error) for r in harness.records] == [
        (n, None, "ConnectError") for n in (1, 2, 3, 4)
    ]
    assert len(harness.sleeps) == 3


# --- caller idempotency keys ----------------------------------------------------------------


def test_caller_key_used_verbatim(server, make_client, api_samples, verify_signature):
    key = "Ord4711Cap1" + "x" * 21  # 32 characters: the maximum
    server.respond(200, api_samples["charge_captured"])
    make_client().client.capture_charge(CHARGE_ID, Price.of("14", "USD"), idempotency_key=key)
    assert server.received[0].headers["x-amz-pay-idempotency-key"] == key
    verify_signature(server.received[0])


@pytest.mark.parametrize("key", ["x" * 33, "order-42", "order 42", "order_42", "order42\n", "\u00e9t\u00e9"])
@pytest.mark.parametrize("name", sorted(KEYED_CALLS))
def test_invalid_caller_key_fails_before_any_request(key, name, server, make_client):
    harness = make_client()
    with pytest.raises(InvalidRequestError) as info:
        KEYED_CALLS[name](harness.client, key)
    assert info.value.reason_code == "InvalidHeaderValue"
    assert server.received == []
    assert harness.records == []
