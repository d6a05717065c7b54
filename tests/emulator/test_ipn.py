"""IPNs: SNS-shaped, signed with the emulator's test certificate, delivered in the background."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import requests

from saleor_amazonpay.core import ChargeState, Price
from saleor_amazonpay.emulator import (
    build_envelope,
    default_identity,
    ipn_message,
    sign_envelope,
    sns_string_to_sign,
    verify_envelope,
)

from .helpers import completed_session

USD = lambda amount: Price.of(amount, "USD")  # noqa: E731


def inner(received):
    envelope = received.json()
    return envelope, json.loads(envelope["Message"])


# -- the pure envelope builder ---------------------------------------------------------------


def test_string_to_sign_field_order():
    envelope = {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "x", "Timestamp": "ts"}
    assert sns_string_to_sign(envelope) == "Message\nx\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
    envelope["Subject"] = "s"
    assert "MessageId\nm\nSubject\ns\nTimestamp" in sns_string_to_sign(envelope)


@pytest.mark.parametrize("version", ["1", "2"])
def test_build_envelope_signs_and_verifies(version):
    message = ipn_message(merchant_id="AM", object_type="CHARGE", object_id="S01-1-C1", charge_permission_id="S01-1")
    envelope = build_envelope(message, signature_version=version, message_id="mid",
                              timestamp=datetime(2024, 1, 5, 13, 14, 15, 655000, tzinfo=timezone.utc),
                              signing_cert_url="http://emu.test/_emulator/sns-cert.pem")
    assert envelope["Type"] == "Notification" and envelope["MessageId"] == "mid"
    assert envelope["Timestamp"] == "2024-01-05T13:14:15.655Z" and envelope["SignatureVersion"] == version
    assert envelope["UnsubscribeURL"].startswith("http://emu.test/_emulator/sns/unsubscribe?SubscriptionArn=")
    assert json.loads(envelope["Message"]) == message
    cert = default_identity().certificate_pem
    assert verify_envelope(envelope, cert)
    tampered = dict(envelope, Message=envelope["Message"].replace("S01-1-C1", "S01-1-C2"))
    assert not verify_envelope(tampered, cert)
    other_version = dict(envelope, SignatureVersion="2" if version == "1" else "1")
    assert not verify_envelope(other_version, cert)


def test_sign_envelope_rejects_unknown_versions():
    with pytest.raises(ValueError):
        sign_envelope({"Type": "Notification", "Message": "m", "MessageId": "i", "Timestamp": "t",
                       "TopicArn": "a"}, default_identity(), "3")


def test_ipn_message_shape():
    message = ipn_message(merchant_id="AM", object_type="REFUND", object_id="R", charge_permission_id="CP")
    assert set(message) == {"MerchantID", "ObjectType", "ObjectId", "ChargePermissionId", "NotificationType",
                            "NotificationId", "NotificationVersion"}
    assert message["NotificationType"] == "STATE_CHANGE" and message["NotificationVersion"] == "V2"


def test_certificate_is_a_self_signed_test_certificate():
    cert = default_identity().certificate
    assert cert.issuer == cert.subject
    assert "sns.amazonaws.com" in cert.subject.rfc4514_string()
    assert "TEST ONLY" in cert.subject.rfc4514_string()


# -- delivery ---------------------------------------------------------------------------------


def test_ipn_delivered_for_charge_and_permission_changes(emulator_app, client, config, ipn_receiver):
    emulator_app.set_ipn_url(ipn_receiver.url, config.merchant_id)
    session = completed_session(emulator_app, client, intent="AuthorizeWithCapture")
    emulator_app.ipn.flush()
    received = ipn_receiver.wait_for(2)
    messages = [inner(r)[1] for r in received]
    assert [(m["ObjectType"], m["ObjectId"]) for m in messages] == [
        ("CHARGE", session.charge_id), ("CHARGE_PERMISSION", session.charge_permission_id)]
    for message in messages:
        assert message["MerchantID"] == config.merchant_id
        assert message["ChargePermissionId"] == session.charge_permission_id
    headers = received[0].headers
    envelope = received[0].json()
    assert headers["content-type"].startswith("text/plain")
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == envelope["MessageId"]
    assert headers["x-amz-sns-topic-arn"] == envelope["TopicArn"]
    assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
    assert envelope["SigningCertURL"] == "http://pay-api.test/_emulator/sns-cert.pem"
    assert verify_envelope(envelope, emulator_app.ipn.certificate_pem)
    assert [d.status for d in emulator_app.ipn.deliveries] == ["delivered", "delivered"]


def test_refund_ipns(emulator_app, client, config, ipn_receiver):
    session = completed_session(emulator_app, client, intent="AuthorizeWithCapture")
    emulator_app.set_ipn_url(ipn_receiver.url, config.merchant_id)
    refund = client.create_refund(session.charge_id, USD("10.00"))
    emulator_app.advance_clock(30)
    emulator_app.ipn.flush()
    messages = [inner(r)[1] for r in ipn_receiver.wait_for(2)]
    assert [(m["ObjectType"], m["ObjectId"]) for m in messages] == [("REFUND", refund.refund_id)] * 2


def test_pending_authorization_resolves_and_ipn_verifies_with_served_cert(server, server_client, server_merchant,
                                                                          ipn_receiver):
    server.app.set_ipn_url(ipn_receiver.url, server_merchant.merchant_id, signature_version="2")
    session = completed_session(server.app, server_client, instrument="0701", pending=True)
    assert server_client.get_charge(session.charge_id).state is ChargeState.AUTHORIZATION_INITIATED
    requests.post(f"{server.url}/_emulator/clock/advance", json={"seconds": 30}).raise_for_status()
    received = ipn_receiver.wait_for(2)
    envelope, message = inner(received[-1])
    assert message["ObjectType"] == "CHARGE" and message["ObjectId"] == session.charge_id
    # What an IPN handler does: fetch the certificate named in the envelope and verify.
    assert envelope["SigningCertURL"] == f"{server.url}/_emulator/sns-cert.pem"
    cert = requests.get(envelope["SigningCertURL"]).text
    assert verify_envelope(envelope, cert) and envelope["SignatureVersion"] == "2"
    assert server_client.get_charge(message["ObjectId"]).state is ChargeState.AUTHORIZED


def test_pending_decline_emits_charge_and_permission_ipns(emulator_app, client, config, ipn_receiver):
    session = completed_session(emulator_app, client, instrument="4354", pending=True)
    emulator_app.set_ipn_url(ipn_receiver.url, config.merchant_id)
    emulator_app.advance_clock(31)
    emulator_app.ipn.flush()
    received = ipn_receiver.wait_for(2)
    assert [inner(r)[1]["ObjectType"] for r in received] == ["CHARGE", "CHARGE_PERMISSION"]
    assert all(verify_envelope(r.json(), emulator_app.ipn.certificate_pem) for r in received)
    assert client.get_charge(session.charge_id).state is ChargeState.DECLINED


def test_failed_deliveries_are_retried(emulator_app, client, config, ipn_receiver):
    ipn_receiver.statuses = [500, 503, 200]
    emulator_app.set_ipn_url(ipn_receiver.url, config.merchant_id)
    completed_session(emulator_app, client)
    emulator_app.ipn.flush()
    delivery = emulator_app.ipn.deliveries[0]
    assert delivery.status == "delivered"
    assert [a.status for a in delivery.attempts] == [500, 503, 200]
    # SNS redelivers the same message.
    bodies = {r.body for r in ipn_receiver.wait_for(3)}
    assert len(bodies) == 1


def test_delivery_gives_up(emulator_app, client, config, ipn_receiver):
    ipn_receiver.statuses = [500]
    emulator_app.set_ipn_url(ipn_receiver.url, config.merchant_id)
    completed_session(emulator_app, client)
    emulator_app.ipn.flush()
    delivery = emulator_app.ipn.deliveries[0]
    assert delivery.status == "failed" and len(delivery.attempts) == 3


def test_unreachable_endpoint(emulator_app, client, config):
    emulator_app.set_ipn_url("http://127.0.0.1:9/ipn", config.merchant_id)
    completed_session(emulator_app, client)
    emulator_app.ipn.flush()
    delivery = emulator_app.ipn.deliveries[0]
    assert delivery.status == "failed" and delivery.attempts[0].error


def test_lost_ipn_then_replay(emulator_app, client, config, ipn_receiver):
    emulator_app.set_ipn_url(ipn_receiver.url, config.merchant_id, enabled=False)
    completed_session(emulator_app, client)
    emulator_app.ipn.flush()
    delivery = emulator_app.ipn.deliveries[0]
    assert delivery.status == "suppressed" and ipn_receiver.received == []
    emulator_app.ipn.replay(delivery.delivery_id)
    emulator_app.ipn.flush()
    assert delivery.status == "delivered"
    assert json.loads(ipn_receiver.wait_for(1)[0].body)["MessageId"] == delivery.envelope["MessageId"]


def test_no_endpoint_is_recorded(emulator_app, client):
    completed_session(emulator_app, client)
    assert [d.status for d in emulator_app.ipn.deliveries] == ["no-endpoint"]
    with pytest.raises(ValueError):
        emulator_app.ipn.replay(emulator_app.ipn.deliveries[0].delivery_id)


def test_registry_ipn_url_and_default_endpoint(emulator_app, key_pair, ipn_receiver):
    from .conftest import make_client, new_merchant

    merchant = new_merchant(emulator_app, key_pair, ipn_url=ipn_receiver.url)
    completed_session(emulator_app, make_client(emulator_app, merchant.config))
    emulator_app.ipn.flush()
    assert emulator_app.ipn.deliveries[0].status == "delivered"
    assert emulator_app.ipn.endpoint_for(merchant.merchant_id).url == ipn_receiver.url
    emulator_app.ipn.configure(None, url="http://default.test/ipn")
    assert emulator_app.ipn.endpoint_for("UNKNOWN").url == "http://default.test/ipn"


def test_ipns_are_per_merchant(emulator_app, client, config, key_pair, other_key_pair, ipn_receiver):
    from .conftest import make_client, new_merchant

    emulator_app.set_ipn_url(ipn_receiver.url, config.merchant_id)
    other = new_merchant(emulator_app, other_key_pair)
    completed_session(emulator_app, make_client(emulator_app, other.config))
    emulator_app.ipn.flush()
    assert [d.status for d in emulator_app.ipn.deliveries] == ["no-endpoint"]
    assert emulator_app.ipn.deliveries[0].merchant_id == other.merchant_id
