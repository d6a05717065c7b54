"""Every client operation, on the wire: method, path, query, headers, body, signature."""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import pytest

import saleor_amazonpay
from saleor_amazonpay.core import (
    Charge,
    ChargePermission,
    ChargeState,
    CheckoutSession,
    CheckoutSessionState,
    DeliveryTracker,
    Price,
    Refund,
    RefundState,
    SignatureAlgorithm,
)

pytestmark = pytest.mark.unit

CS_ID = "bd504926-f659-4ad7-a1a9-9a747aaf5275"
CP_ID = "S01-5105180-3221187"
CHARGE_ID = "S01-5105180-3221187-C056351"
REFUND_ID = "S01-5105180-3221187-R022311"

DEFAULT_SIGNED = ("accept", "content-type", "x-amz-pay-date", "x-amz-pay-host", "x-amz-pay-region")
KEYED_SIGNED = (
    "accept",
    "content-type",
    "x-amz-pay-date",
    "x-amz-pay-host",
    "x-amz-pay-idempotency-key",
    "x-amz-pay-region",
)
USER_AGENT = f"saleor-amazonpay/{saleor_amazonpay.__version__} (Python/{platform.python_version()})"

# Request bodies from the PHP SDK README examples (API notes §3).
CREATE_CS_BODY = {
    "webCheckoutDetails": {
        "checkoutReviewReturnUrl": "https://localhost/store/checkout_review",
        "checkoutResultReturnUrl": "https://localhost/store/checkout_result",
    },
    "storeId": "amzn1.application-oa2-client.000000000000000000000000000000000",
}
UPDATE_CS_BODY = {
    "paymentDetails": {
        "paymentIntent": "Authorize",
        "canHandlePendingAuthorization": False,
        "chargeAmount": {"amount": "1.23", "currencyCode": "USD"},
    },
    "merchantMetadata": {
        "merchantReferenceId": "2020-00000001",
        "merchantStoreName": "Store Name",
        "noteToBuyer": "Thank you for your order!",
    },
}
UPDATE_CP_BODY = {
    "merchantMetadata": {
        "merchantReferenceId": "32-41-323141-32",
        "merchantStoreName": "AmazonTestStoreFront",
        "noteToBuyer": "Some Note to buyer",
        "customInformation": "",
    }
}


@dataclass(frozen=True)
class Op:
    name: str
    call: Callable[[Any], Any]
    method: str
    path: str
    body: "dict | None"
    key: "str | None"  # the idempotency key expected on the wire ("auto": generated)
    status: int
    sample: str
    check: Callable[[Any], None]


def _is(cls, **attrs):
    def check(result):
        assert isinstance(result, cls)
        for name, value in attrs.items():
            assert getattr(result, name) == value, name

    return check


OPS = [
    Op(
        "create_checkout_session",
        lambda c: c.create_checkout_session(CREATE_CS_BODY, idempotency_key="csKey20240105A"),
        "POST",
        "/checkoutSessions",
        CREATE_CS_BODY,
        "csKey20240105A",
        201,
        "checkout_session_open",
        _is(CheckoutSession, checkout_session_id=CS_ID, state=CheckoutSessionState.OPEN),
    ),
    Op(
        "create_checkout_session_auto_key",
        lambda c: c.create_checkout_session(CREATE_CS_BODY),
        "POST",
        "/checkoutSessions",
        CREATE_CS_BODY,
        "auto",
        201,
        "checkout_session_open",
        _is(CheckoutSession, checkout_session_id=CS_ID),
    ),
    Op(
        "get_checkout_session",
        lambda c: c.get_checkout_session(CS_ID),
        "GET",
        f"/checkoutSessions/{CS_ID}",
        None,
        None,
        200,
        "checkout_session_open",
        _is(CheckoutSession, checkout_session_id=CS_ID, payment_descriptor="Visa ****1111 (Amazon Pay)"),
    ),
    Op(
        "update_checkout_session",
        lambda c: c.update_checkout_session(CS_ID, UPDATE_CS_BODY),
        "PATCH",
        f"/checkoutSessions/{CS_ID}",
        UPDATE_CS_BODY,
        None,
        200,
        "checkout_session_open",
        _is(CheckoutSession, checkout_session_id=CS_ID),
    ),
    Op(
        "complete_checkout_session",
        lambda c: c.complete_checkout_session(CS_ID, Price.of("14.00", "USD")),
        "POST",
        f"/checkoutSessions/{CS_ID}/complete",
        {"chargeAmount": {"amount": "14.00", "currencyCode": "USD"}},
        None,
        200,
        "checkout_session_completed",
        _is(CheckoutSession, state=CheckoutSessionState.COMPLETED, charge_id=CHARGE_ID, charge_permission_id=CP_ID),
    ),
    Op(
        "complete_checkout_session_total",
        lambda c: c.complete_checkout_session(CS_ID, Price.of("5", "EUR"), total_order_amount=Price.of("20", "EUR")),
        "POST",
        f"/checkoutSessions/{CS_ID}/complete",
        {
            "chargeAmount": {"amount": "5.00", "currencyCode": "EUR"},
            "totalOrderAmount": {"amount": "20.00", "currencyCode": "EUR"},
        },
        None,
        202,
        "checkout_session_completed",
        _is(CheckoutSession, charge_id=CHARGE_ID),
    ),
    Op(
        "get_charge_permission",
        lambda c: c.get_charge_permission(CP_ID),
        "GET",
        f"/chargePermissions/{CP_ID}",
        None,
        None,
        200,
        "charge_permission_chargeable",
        _is(ChargePermission, charge_permission_id=CP_ID, amount_limit=Price.of("14.00", "USD")),
    ),
    Op(
        "update_charge_permission",
        lambda c: c.update_charge_permission(CP_ID, UPDATE_CP_BODY),
        "PATCH",
        f"/chargePermissions/{CP_ID}",
        UPDATE_CP_BODY,
        None,
        200,
        "charge_permission_chargeable",
        _is(ChargePermission, merchant_reference_id="32-41-323141-32"),
    ),
    Op(
        "close_charge_permission",
        lambda c: c.close_charge_permission(CP_ID, "No more charges required", cancel_pending_charges=False),
        "DELETE",
        f"/chargePermissions/{CP_ID}/close",
        {"closureReason": "No more charges required", "cancelPendingCharges": False},
        None,
        200,
        "charge_permission_closed",
        _is(ChargePermission, charge_permission_id=CP_ID),
    ),
    Op(
        "create_charge",
        lambda c: c.create_charge(
            CP_ID,
            Price.of("14.00", "USD"),
            capture_now=True,
            soft_descriptor="Descriptor",
            idempotency_key="order42charge1",
        ),
        "POST",
        "/charges",
        {
            "chargePermissionId": CP_ID,
            "chargeAmount": {"amount": "14.00", "currencyCode": "USD"},
            "captureNow": True,
            "canHandlePendingAuthorization": False,
            "softDescriptor": "Descriptor",
        },
        "order42charge1",
        201,
        "charge_captured",
        _is(Charge, charge_id=CHARGE_ID, state=ChargeState.CAPTURED),
    ),
    Op(
        "create_charge_minimal",
        lambda c: c.create_charge(
            CP_ID,
            Price.of("100", "JPY"),
            can_handle_pending_authorization=True,
            merchant_metadata={"merchantReferenceId": "R-1"},
        ),
        "POST",
        "/charges",
        {
            "chargePermissionId": CP_ID,
            "chargeAmount": {"amount": "100", "currencyCode": "JPY"},
            "captureNow": False,
            "canHandlePendingAuthorization": True,
            "merchantMetadata": {"merchantReferenceId": "R-1"},
        },
        "auto",
        201,
        "charge_authorized",
        _is(Charge, state=ChargeState.AUTHORIZED),
    ),
    Op(
        "get_charge",
        lambda c: c.get_charge(CHARGE_ID),
        "GET",
        f"/charges/{CHARGE_ID}",
        None,
        None,
        200,
        "charge_authorized",
        _is(Charge, charge_id=CHARGE_ID, charge_permission_id=CP_ID),
    ),
    Op(
        "capture_charge",
        lambda c: c.capture_charge(
            CHARGE_ID, Price.of("1.23", "USD"), soft_descriptor="For CC Statement", idempotency_key="capture0001"
        ),
        "POST",
        f"/charges/{CHARGE_ID}/capture",
        {"captureAmount": {"amount": "1.23", "currencyCode": "USD"}, "softDescriptor": "For CC Statement"},
        "capture0001",
        200,
        "charge_captured",
        _is(Charge, captured_amount=Price.of("14.00", "USD")),
    ),
    Op(
        "cancel_charge",
        lambda c: c.cancel_charge(CHARGE_ID, "REASON DESCRIPTION"),
        "DELETE",
        f"/charges/{CHARGE_ID}/cancel",
        {"cancellationReason": "REASON DESCRIPTION"},
        None,
        200,
        "charge_canceled",
        _is(Charge, state=ChargeState.CANCELED),
    ),
    Op(
        "create_refund",
        lambda c: c.create_refund(
            CHARGE_ID, Price.of("14.00", "USD"), soft_descriptor="Descriptor", idempotency_key="refund0001"
        ),
        "POST",
        "/refunds",
        {
            "chargeId": CHARGE_ID,
            "refundAmount": {"amount": "14.00", "currencyCode": "USD"},
            "softDescriptor": "Descriptor",
        },
        "refund0001",
        201,
        "refund_initiated",
        _is(Refund, refund_id=REFUND_ID, state=RefundState.REFUND_INITIATED),
    ),
    Op(
        "get_refund",
        lambda c: c.get_refund(REFUND_ID),
        "GET",
        f"/refunds/{REFUND_ID}",
        None,
        None,
        200,
        "refund_initiated",
        _is(Refund, refund_id=REFUND_ID, charge_id=CHARGE_ID),
    ),
    Op(
        "create_delivery_tracker",
        lambda c: c.create_delivery_tracker(CP_ID, " 1Z999AA10123456784 ", "ups"),
        "POST",
        "/deliveryTrackers",
        {
            "chargePermissionId": CP_ID,
            "deliveryDetails": [{"trackingNumber": "1Z999AA10123456784", "carrierCode": "UPS"}],
        },
        None,
        200,
        "delivery_tracker",
        _is(DeliveryTracker, tracking_number="1Z999AA10123456784", carrier_code="UPS"),
    ),
]

ENVIRONMENTS = [
    # public key id, sandbox flag, expected path prefix, algorithm
    ("ABC123DEF456XYZ789IJK000", True, "/sandbox/v2", "AMZN-PAY-RSASSA-PSS"),
    ("ABC123DEF456XYZ789IJK000", False, "/live/v2", "AMZN-PAY-RSASSA-PSS-V2"),
    ("SANDBOX-AHEGSJCM3XFZ3SKVFAN4OWEF", False, "/v2", "AMZN-PAY-RSASSA-PSS-V2"),
    ("LIVE-AHEGSJCM3XFZ3SKVFAN4OWEF", True, "/v2", "AMZN-PAY-RSASSA-PSS"),
]


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=["legacy-sandbox", "legacy-live", "env-sandbox", "env-live"])
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_operation_on_the_wire(op, env, server, make_client, verify_signature, api_samples):
    key_id, sandbox, prefix, algorithm = env
    harness = make_client(public_key_id=key_id, sandbox=sandbox, algorithm=algorithm)
    server.respond(op.status, api_samples[op.sample], request_id="7f1c2e9a-amzn-request")

    result = op.call(harness.client)

    op.check(result)
    assert len(server.received) == 1
    received = server.received[0]
    assert received.method == op.method
    assert received.path == prefix + op.path
    assert received.query == ""

    headers = received.headers
    assert headers["accept"] == "application/json"
    assert headers["content-type"] == "application/json"
    assert headers["x-amz-pay-date"] == "20240105T131415Z"
    assert headers["x-amz-pay-host"] == "127.0.0.1"
    assert headers["x-amz-pay-region"] == "na"
    assert headers["user-agent"] == USER_AGENT
    assert "x-amz-pay-simulation-code" not in headers
    for name in (
        "accept",
        "content-type",
        "x-amz-pay-date",
        "x-amz-pay-host",
        "x-amz-pay-region",
        "authorization",
        "user-agent",
    ):
        assert received.header_counts[name] == 1, name

    # Nothing else is sent beside what HTTP itself needs.
    http_level = {"host", "accept-encoding", "connection", "content-length"}
    expected_names = {
        "accept",
        "content-type",
        "x-amz-pay-date",
        "x-amz-pay-host",
        "x-amz-pay-region",
        "authorization",
        "user-agent",
    } | ({"x-amz-pay-idempotency-key"} if op.key else set())
    assert set(headers) - http_level == expected_names

    if op.key is None:
        assert "x-amz-pay-idempotency-key" not in headers
    elif op.key == "auto":
        assert re.fullmatch(r"[0-9a-f]{32}", headers["x-amz-pay-idempotency-key"])
    else:
        assert headers["x-amz-pay-idempotency-key"] == op.key

    if op.body is None:
        assert received.body == b""
    else:
        assert received.json() == op.body
        # Compact UTF-8 JSON, and Content-Length is the byte count.
        assert received.body == json.dumps(received.json(), separators=(",", ":"), ensure_ascii=False).encode()
        assert int(headers["content-length"]) == len(received.body)

    auth = verify_signature(received)
    assert auth.algorithm is SignatureAlgorithm(algorithm)
    assert auth.public_key_id == key_id
    assert auth.signed_headers == (KEYED_SIGNED if op.key else DEFAULT_SIGNED)
    assert headers["authorization"] == (
        f"{algorithm} PublicKeyId={key_id}, SignedHeaders={';'.join(auth.signed_headers)}, Signature={auth.signature}"
    )
    # The client observed one attempt with Amazon's request id.
    assert [(r.method, r.status, r.attempt) for r in harness.records] == [(op.method, op.status, 1)]
    assert harness.records[0].request_id == "7f1c2e9a-amzn-request"


def test_idempotency_key_presence_matrix():
    keyed = {op.name.split("_auto")[0].replace("_minimal", "") for op in OPS if op.key}
    assert keyed == {"create_checkout_session", "create_charge", "capture_charge", "create_refund"}


def test_complete_body_bytes_exactly(server, make_client, api_samples):
    server.respond(200, api_samples["checkout_session_completed"])
    make_client().client.complete_checkout_session(CS_ID, Price.of("14.00", "USD"))
    assert server.received[0].body == b'{"chargeAmount":{"amount":"14.00","currencyCode":"USD"}}'


@pytest.mark.parametrize("region, header", [("us", "na"), ("uk", "eu"), ("de", "eu"), ("eu", "eu"), ("jp", "jp")])
def test_region_header(region, header, server, make_client, verify_signature, api_samples):
    server.respond(200, api_samples["charge_authorized"])
    make_client(region=region).client.get_charge(CHARGE_ID)
    received = server.received[0]
    assert received.headers["x-amz-pay-region"] == header
    assert received.headers["x-amz-pay-host"] == "127.0.0.1"
    verify_signature(received)


def test_real_clock_date_header(server, make_client, verify_signature, api_samples):
    server.respond(200, api_samples["charge_authorized"])
    before = datetime.now(timezone.utc).replace(microsecond=0)
    make_client(clock=lambda: datetime.now(timezone.utc)).client.get_charge(CHARGE_ID)
    after = datetime.now(timezone.utc)
    value = server.received[0].headers["x-amz-pay-date"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", value)
    sent = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert before <= sent <= after
    verify_signature(server.received[0])


def test_simulation_code_is_sent_unsigned(server, make_client, verify_signature, api_samples):
    server.respond(201, api_samples["charge_authorized"])
    make_client().client.create_charge(CP_ID, Price.of("14", "USD"), simulation_code="HardDeclined")
    received = server.received[0]
    assert received.headers["x-amz-pay-simulation-code"] == "HardDeclined"
    auth = verify_signature(received)
    assert "x-amz-pay-simulation-code" not in auth.signed_headers


def test_complete_and_close_forward_simulation_codes(server, make_client, api_samples):
    server.respond(200, api_samples["checkout_session_completed"])
    server.respond(200, api_samples["charge_permission_closed"])
    client = make_client().client
    client.complete_checkout_session(CS_ID, Price.of("14", "USD"), simulation_code="BuyerCanceled")
    client.close_charge_permission(CP_ID, "done", simulation_code="AmazonClosed")
    assert [r.headers.get("x-amz-pay-simulation-code") for r in server.received] == ["BuyerCanceled", "AmazonClosed"]


def test_query_string_is_canonical_on_the_wire(server, make_client, verify_signature):
    server.respond(200, {"reports": []})
    response = make_client().client.request(
        "GetReports",
        "GET",
        "/reports",
        query={"customInformation": "Information about order", "amount": "100.50", "empty": ""},
    )
    assert response.data == {"reports": []}
    received = server.received[0]
    assert received.path == "/sandbox/v2/reports"
    assert received.query == "amount=100.50&customInformation=Information%20about%20order"
    verify_signature(received)


def test_non_ascii_body_is_signed_as_utf8_bytes(server, make_client, verify_signature, api_samples):
    server.respond(200, api_samples["checkout_session_open"])
    payload = {
        "merchantMetadata": {
            "merchantStoreName": "Caf\u00e9 M\u00fcller",
            "noteToBuyer": "\u3042\u308a\u304c\u3068\u3046",
        }
    }
    make_client().client.update_checkout_session(CS_ID, payload)
    received = server.received[0]
    assert "Caf\u00e9 M\u00fcller".encode("utf-8") in received.body
    assert received.json() == payload
    verify_signature(received)


def test_keys_and_dates_differ_between_logical_calls(server, make_client, api_samples):
    server.respond(201, api_samples["refund_initiated"])
    server.respond(201, api_samples["refund_initiated"])
    client = make_client(clock=lambda: datetime.now(timezone.utc)).client
    client.create_refund(CHARGE_ID, Price.of("1", "USD"))
    client.create_refund(CHARGE_ID, Price.of("1", "USD"))
    first, second = (r.headers["x-amz-pay-idempotency-key"] for r in server.received)
    assert first != second


def test_base_url_with_localhost_name(server, make_client, verify_signature, api_samples):
    server.respond(200, api_samples["refund_initiated"])
    make_client(base_url=f"http://localhost:{server.port}").client.get_refund(REFUND_ID)
    received = server.received[0]
    assert received.headers["x-amz-pay-host"] == "localhost"
    verify_signature(received)
