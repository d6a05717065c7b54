"""What the client logs: enough to trace a call, never secrets or personal data."""

from __future__ import annotations

import logging

import pytest

from saleor_amazonpay.core import NO_RETRIES, InvalidStateError, Price

from .conftest import Scripted

pytestmark = pytest.mark.unit

CS_ID = "bd504926-f659-4ad7-a1a9-9a747aaf5275"
CP_ID = "S01-5105180-3221187"
CHARGE_ID = "S01-5105180-3221187-C056351"
REFUND_ID = "S01-5105180-3221187-R022311"
PASSPHRASE = "Zq-log-passphrase-7731"


def test_full_flow_logs_calls_but_no_secrets(
    server, make_client, api_samples, caplog, buyer_pii, pem_body_fragment, rsa_private_key
):
    from cryptography.hazmat.primitives import serialization

    encrypted = rsa_private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    ).decode()
    encrypted_fragment = [line for line in encrypted.splitlines() if not line.startswith("-----")][2][:40]

    steps = [
        (201, "checkout_session_open", "POST", "/checkoutSessions"),
        (200, "checkout_session_open", "GET", f"/checkoutSessions/{CS_ID}"),
        (200, "checkout_session_open", "PATCH", f"/checkoutSessions/{CS_ID}"),
        (200, "checkout_session_completed", "POST", f"/checkoutSessions/{CS_ID}/complete"),
        (200, "charge_authorized", "GET", f"/charges/{CHARGE_ID}"),
        (200, "charge_captured", "POST", f"/charges/{CHARGE_ID}/capture"),
        (201, "refund_initiated", "POST", "/refunds"),
        (200, "charge_permission_chargeable", "GET", f"/chargePermissions/{CP_ID}"),
        (200, "delivery_tracker", "POST", "/deliveryTrackers"),
    ]
    server.enqueue(Scripted(503, {"reasonCode": "ServiceUnavailable", "message": "down"}, request_id="rid-retry"))
    for index, (status, sample, _, _) in enumerate(steps):
        server.enqueue(Scripted(status, api_samples[sample], request_id=f"rid-{index}"))

    caplog.set_level(logging.DEBUG)
    client = make_client(private_key=encrypted, private_key_passphrase=PASSPHRASE).client
    note = "Unique-note-to-buyer-8841"
    client.create_checkout_session(
        {
            "storeId": "amzn1.application-oa2-client.x",
            "merchantMetadata": {"noteToBuyer": note},
            "addressDetails": {"name": "Zelda Quxington", "addressLine1": "1742 Evergreen Terrace"},
        },
        idempotency_key="flowKey1",
    )
    client.get_checkout_session(CS_ID)
    client.update_checkout_session(CS_ID, {"merchantMetadata": {"noteToBuyer": note}})
    client.complete_checkout_session(CS_ID, Price.of("14.00", "USD"))
    client.get_charge(CHARGE_ID)
    client.capture_charge(CHARGE_ID, Price.of("14.00", "USD"), soft_descriptor="Descriptor")
    client.create_refund(CHARGE_ID, Price.of("14.00", "USD"))
    client.get_charge_permission(CP_ID)
    client.create_delivery_tracker(CP_ID, "1Z999AA10123456784", "UPS")

    messages = [record.getMessage() for record in caplog.records]
    text = "\n".join(messages)

    # Every call is traceable: method, path, status and Amazon's request id in one line.
    for index, (status, _, method, path) in enumerate(steps):
        assert any(method in m and path in m and str(status) in m and f"rid-{index}" in m for m in messages), (
            method,
            path,
            status,
        )
    # The retry is visible too, with the failing answer's request id.
    assert any("503" in m and "rid-retry" in m for m in messages)
    assert any("retry" in m.lower() for m in messages)

    forbidden = [
        pem_body_fragment,
        encrypted_fragment,
        PASSPHRASE,
        "PRIVATE KEY",
        note,
        "noteToBuyer",
        "chargeAmount",
        '"amount"',  # request/response bodies
        "Visa ****1111",
        *buyer_pii,
    ]
    forbidden += [r.headers["authorization"].rsplit("Signature=", 1)[1] for r in server.received]
    for secret in forbidden:
        assert secret not in text, secret
    for record in caplog.records:
        for value in record.args or ():
            assert not isinstance(value, (bytes, dict)), record.getMessage()


def test_error_logging_has_reason_and_request_id_but_not_amazons_message(server, make_client, caplog):
    server.enqueue(
        Scripted(422, {"reasonCode": "InvalidChargeStatus", "message": "Secret-ish detail 9931"}, request_id="rid-422")
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InvalidStateError):
        make_client(retry=NO_RETRIES).client.capture_charge(CHARGE_ID, Price.of("1", "USD"))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "InvalidChargeStatus" in text and "rid-422" in text and "422" in text
    assert "Secret-ish detail 9931" not in text
