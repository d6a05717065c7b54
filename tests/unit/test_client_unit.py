"""AmazonPayClient without a network: a scripted in-memory transport.

The socket-level contract (real RequestsTransport against a local HTTP server) lives in
tests/contract; these tests pin the client's own decisions quickly.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal

import pytest

from saleor_amazonpay.core import (
    NO_RETRIES,
    AmazonPayClient,
    ApiResponse,
    CallRecord,
    ConnectError,
    InvalidRequestError,
    NotFoundError,
    PreparedRequest,
    Price,
    RawResponse,
    ResponseTimeout,
    RetryPolicy,
    ServerError,
    Timeouts,
    new_idempotency_key,
)
from saleor_amazonpay.core.client import USER_AGENT, check_idempotency_key
from saleor_amazonpay.core.signing import parse_authorization, verify

pytestmark = pytest.mark.unit


class ScriptedTransport:
    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.sent: list[PreparedRequest] = []

    def send(self, request: PreparedRequest) -> RawResponse:
        self.sent.append(request)
        outcome = self.outcomes.pop(0) if self.outcomes else RawResponse(200, {}, b"{}")
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def ok(data=None, status=200, request_id="rid-1"):
    return RawResponse(status, {"X-Amz-Pay-Request-Id": request_id}, json.dumps(data or {}).encode())


@pytest.fixture
def make_client(make_config, frozen_clock):
    def factory(*outcomes, retry=None, **config):
        transport = ScriptedTransport(*outcomes)
        records: list[CallRecord] = []
        sleeps: list[float] = []
        client = AmazonPayClient(
            make_config(**config),
            transport=transport,
            retry=retry,
            clock=frozen_clock,
            sleep=sleeps.append,
            observers=[records.append],
        )
        return client, transport, records, sleeps

    return factory


# --- idempotency keys --------------------------------------------------------------------------


def test_new_idempotency_key_shape():
    keys = {new_idempotency_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)


@pytest.mark.parametrize("key", ["a", "A1", "x" * 32, "Order42Capture1"])
def test_valid_idempotency_keys(key):
    assert check_idempotency_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "x" * 33, "abc-def", "abc def", "abc_def", "abc\n", "\u043a\u043b\u044e\u0447", "caf\u00e9", None, 12]
)
def test_invalid_idempotency_keys(key):
    with pytest.raises(InvalidRequestError) as info:
        check_idempotency_key(key)
    assert info.value.reason_code == "InvalidHeaderValue"


@pytest.mark.parametrize("bad_id", ["", "../charges", "S01-1/cancel", "S01-1?x=1", "S01 1", "S01-1\n", "x" * 129, None])
def test_ids_are_validated_before_any_request(make_client, bad_id):
    client, transport, _, _ = make_client()
    for call in (
        client.get_charge,
        client.get_checkout_session,
        client.get_refund,
        client.get_charge_permission,
        client.cancel_charge,
    ):
        with pytest.raises(InvalidRequestError):
            call(bad_id)
    assert transport.sent == []


# --- what gets sent ------------------------------------------------------------------------------


def test_prepared_request_shape(make_client, public_key):
    client, transport, records, _ = make_client(ok({"chargeId": "S01-1-C1", "statusDetails": {"state": "Authorized"}}))
    client.get_charge("S01-1-C1")
    (sent,) = transport.sent
    assert sent.method == "GET"
    assert sent.url == "https://pay-api.amazon.com/sandbox/v2/charges/S01-1-C1"
    assert sent.body == b""
    assert sent.headers["x-amz-pay-date"] == "20240105T131415Z"
    assert sent.headers["x-amz-pay-host"] == "pay-api.amazon.com"
    assert sent.headers["x-amz-pay-region"] == "na"
    assert sent.headers["user-agent"] == USER_AGENT
    assert "x-amz-pay-idempotency-key" not in sent.headers
    assert (sent.connect_timeout, sent.read_timeout) == (Timeouts().connect, Timeouts().read)
    auth = parse_authorization(sent.headers["authorization"])
    canonical = (
        "GET\n/sandbox/v2/charges/S01-1-C1\n\n"
        "accept:application/json\ncontent-type:application/json\nx-amz-pay-date:20240105T131415Z\n"
        "x-amz-pay-host:pay-api.amazon.com\nx-amz-pay-region:na\n\n"
        "accept;content-type;x-amz-pay-date;x-amz-pay-host;x-amz-pay-region\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    message = "AMZN-PAY-RSASSA-PSS-V2\n" + hashlib.sha256(canonical.encode()).hexdigest()
    assert verify(public_key, "AMZN-PAY-RSASSA-PSS-V2", message, auth.signature)
    assert records[0].operation == "GetCharge" and records[0].status == 200 and records[0].request_id == "rid-1"


def test_timeouts_come_from_config(make_client):
    client, transport, _, _ = make_client(timeouts=Timeouts(connect=1.5, read=7))
    client.get_refund("S01-1-R1")
    assert (transport.sent[0].connect_timeout, transport.sent[0].read_timeout) == (1.5, 7)


def test_regional_hosts(make_client):
    for region, host in (("uk", "pay-api.amazon.eu"), ("jp", "pay-api.amazon.jp")):
        client, transport, _, _ = make_client(region=region)
        client.get_refund("R1")
        assert transport.sent[0].url == f"https://{host}/sandbox/v2/refunds/R1"
        assert transport.sent[0].headers["x-amz-pay-host"] == host


def test_request_returns_api_response(make_client):
    client, _, _, _ = make_client(ok({"a": 1}, status=201, request_id="r-201"))
    response = client.request("X", "POST", "/things", body={"b": 2}, idempotency_key="k1")
    assert response == ApiResponse(201, {"a": 1}, "r-201")


def test_soft_descriptor_and_reasons_are_truncated(make_client):
    client, transport, _, _ = make_client()
    client.capture_charge("C1", Price.of("1", "USD"), soft_descriptor="ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    client.cancel_charge("C1", "r" * 300)
    client.close_charge_permission("CP1", "c" * 300)
    capture, cancel, close = (json.loads(r.body) for r in transport.sent)
    assert capture["softDescriptor"] == "ABCDEFGHIJKLMNOP"  # Amazon's 16 character limit
    assert cancel["cancellationReason"] == "r" * 255
    assert close["closureReason"] == "c" * 255


def test_amounts_with_too_many_decimals_never_leave(make_client):
    client, transport, _, _ = make_client()
    with pytest.raises(ValueError):
        client.complete_checkout_session("CS1", Price.of("10.999", "USD"))
    with pytest.raises(ValueError):
        client.create_charge("CP1", Price.of("100.5", "JPY"))
    with pytest.raises(ValueError):
        client.create_refund("C1", Price(Decimal("0.001"), "EUR"))
    assert transport.sent == []


def test_delivery_tracker_requires_values(make_client):
    client, transport, _, _ = make_client()
    with pytest.raises(InvalidRequestError):
        client.create_delivery_tracker("CP1", "   ", "UPS")
    with pytest.raises(InvalidRequestError):
        client.create_delivery_tracker("CP1", "1Z", "")
    assert transport.sent == []
    assert AmazonPayClient.post_delivery_tracker is AmazonPayClient.create_delivery_tracker


def test_delivery_tracker_empty_answer_falls_back_to_request(make_client):
    client, _, _, _ = make_client(RawResponse(200, {}, b""))
    tracker = client.create_delivery_tracker("CP1", "1Z999", "ups")
    assert (tracker.charge_permission_id, tracker.tracking_number, tracker.carrier_code) == ("CP1", "1Z999", "UPS")


def test_button_signature_uses_config_key(make_client, public_key):
    client, _, _, _ = make_client()
    result = client.generate_button_signature('{"storeId":"x"}')
    message = "AMZN-PAY-RSASSA-PSS-V2\n" + hashlib.sha256(b'{"storeId":"x"}').hexdigest()
    assert verify(public_key, "AMZN-PAY-RSASSA-PSS-V2", message, result.signature)
    assert result.public_key_id == "ABC123DEF456XYZ789IJK000"


# --- answers ------------------------------------------------------------------------------------


def test_unreadable_success_is_an_unknown_outcome(make_client):
    client, transport, _, _ = make_client(RawResponse(200, {"x-amz-pay-request-id": "r9"}, b"<html>"), retry=NO_RETRIES)
    with pytest.raises(ResponseTimeout) as info:
        client.get_charge("C1")
    assert info.value.outcome_unknown is True
    assert info.value.request_id == "r9"


def test_json_list_success_is_an_unknown_outcome(make_client):
    client, _, _, _ = make_client(RawResponse(200, {}, b"[1, 2]"), retry=NO_RETRIES)
    with pytest.raises(ResponseTimeout):
        client.get_charge("C1")


def test_non_json_5xx_and_4xx(make_client):
    client, _, _, _ = make_client(
        RawResponse(502, {"x-amz-pay-request-id": "r502"}, b"<html>Bad Gateway</html>"),
        RawResponse(404, {"x-amz-pay-request-id": "r404"}, b"Not Found"),
        retry=NO_RETRIES,
    )
    with pytest.raises(ServerError) as info:
        client.get_charge("C1")
    assert (info.value.http_status, info.value.request_id, info.value.reason_code) == (502, "r502", None)
    with pytest.raises(NotFoundError) as info:
        client.get_charge("C1")
    assert (info.value.http_status, info.value.request_id) == (404, "r404")


# --- retries (decisions only; the contract tests cover them over sockets) -------------------------


def test_retry_sends_the_identical_prepared_request(make_client):
    client, transport, records, sleeps = make_client(
        RawResponse(503, {}, b'{"reasonCode":"ServiceUnavailable"}'),
        ConnectError("refused"),
        ok({"refundId": "R1", "statusDetails": {"state": "RefundInitiated"}}, status=201),
    )
    refund = client.create_refund("C1", Price.of("5", "USD"))
    assert refund.refund_id == "R1"
    assert len(transport.sent) == 3
    assert transport.sent[0] is transport.sent[1] is transport.sent[2]
    assert [r.attempt for r in records] == [1, 2, 3]
    assert [r.status for r in records] == [503, None, 201]
    assert [r.error for r in records] == ["ServiceUnavailable", "ConnectError", None]
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


def test_observer_records_carry_no_payload(make_client):
    client, _, records, _ = make_client(
        ok({"checkoutSessionId": "CS1", "statusDetails": {"state": "Open"}}, status=201)
    )
    client.create_checkout_session(
        {"storeId": "s", "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://x"}}, idempotency_key="key1"
    )
    (record,) = records
    assert record == CallRecord(
        "CreateCheckoutSession", "POST", "/checkoutSessions", 201, "rid-1", record.duration, 1, "key1", None
    )
    assert record.duration >= 0


def test_deadline_stops_retries(make_client):
    policy = RetryPolicy(max_retries=5, initial_delay=10.0, deadline=1.0)
    client, transport, _, sleeps = make_client(*[ConnectError("refused")] * 6, retry=policy)
    with pytest.raises(ConnectError):
        client.get_charge("C1")
    assert len(transport.sent) == 1  # the first backoff (>= 5 s) would already pass the deadline
    assert sleeps == []


def test_unexpected_exception_from_transport_propagates(make_client):
    client, transport, _, _ = make_client(RuntimeError("bug"))
    with pytest.raises(RuntimeError):
        client.get_charge("C1")
    assert len(transport.sent) == 1
