"""Amazon Pay notifications (IPNs) delivered to the plugin endpoint of a real Saleor.

Every notification is the one the emulator built and signed for a real state change (or,
for attacks, a tampered copy of it), POSTed with SNS's headers to
``/plugins/channel/main/saleor.payments.amazonpay/ipn``.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlsplit

import graphene
import pytest
from saleor.graphql.tests.utils import get_graphql_content
from saleor.order import (
    OrderAuthorizeStatus,
    OrderChargeStatus,
    OrderEvents,
    OrderStatus,
)
from saleor.order.models import Order
from saleor.payment import ChargeStatus, TransactionKind

from saleor_amazonpay.core import AmazonPayClient, AmazonPayConfig, RequestsTransport
from saleor_amazonpay.core import ipn as core_ipn
from saleor_amazonpay.emulator.sns import SigningIdentity, sign_envelope
from saleor_amazonpay.plugin import clients, notifications
from saleor_amazonpay.plugin.consts import PLUGIN_ID

pytestmark = pytest.mark.saleor

CAPTURE = """
mutation Capture($id: ID!) {
  paymentCapture(paymentId: $id) { payment { chargeStatus } errors { code message } }
}
"""
REFUND = """
mutation Refund($id: ID!) {
  paymentRefund(paymentId: $id) { payment { chargeStatus } errors { code message } }
}
"""
PLUGIN = """
query Plugin($id: ID!) {
  plugin(id: $id) { channelConfigurations { channel { slug } configuration { name value type label } } }
}
"""


def _paid(amazonpay, checkout, **pay):
    result = amazonpay.pay(checkout, **pay)
    assert result.order is not None, result.errors
    order = Order.objects.get(number=result.order["number"])
    return order, order.payments.get()


def _gql(client, query, variables, field_name):
    return get_graphql_content(client.post_graphql(query, variables))["data"][field_name]


def _pid(payment):
    return graphene.Node.to_global_id("Payment", payment.pk)


def _notes(order) -> "list[str]":
    return [e.parameters["message"] for e in order.events.filter(type=OrderEvents.NOTE_ADDED).order_by("pk")]


def _snapshot(payment):
    payment.refresh_from_db()
    order = Order.objects.get(pk=payment.order_id)
    return (payment.charge_status, payment.captured_amount, payment.is_active, payment.transactions.count(),
            order.status, order.events.count(), json.dumps(payment.private_metadata, sort_keys=True))


def _pending_authorization(ipn, amazonpay, checkout, instrument="0701"):
    amazonpay.configure(can_handle_pending_authorization=True)
    order, payment = _paid(amazonpay, checkout, instrument=instrument)
    assert payment.charge_status == ChargeStatus.PENDING
    return order, payment


# -- the URL ------------------------------------------------------------------------------------


def test_the_ipn_url_of_the_channel_is_shown_in_the_configuration(ipn, staff_client, channel_USD):
    data = _gql(staff_client, PLUGIN, {"id": PLUGIN_ID}, "plugin")
    [config] = [c for c in data["channelConfigurations"] if c["channel"]["slug"] == channel_USD.slug]
    [field] = [f for f in config["configuration"] if f["name"] == "ipn_url"]
    assert field["type"] == "OUTPUT"
    assert field["value"] == notifications.ipn_url(channel_USD.slug)
    assert field["value"].endswith(f"/plugins/channel/{channel_USD.slug}/saleor.payments.amazonpay/ipn")
    assert field["value"].startswith(("https://", "http://"))


PLUGIN_UPDATE = """
mutation Update($id: ID!, $channel: ID!, $configuration: [ConfigurationItemInput!]) {
  pluginUpdate(id: $id, channelId: $channel, input: {active: true, configuration: $configuration}) {
    plugin { channelConfigurations { configuration { name value } } }
    errors { field code message }
  }
}
"""


def _update(staff_client, amazonpay, channel, **values):
    merchant = amazonpay.merchant
    base = dict(merchant_id=merchant["merchant_id"], store_id=merchant["store_id"],
                public_key_id=merchant["public_key_id"], private_key=merchant["private_key"],
                checkout_review_return_url="https://shop.example.com/review",
                checkout_result_return_url="https://shop.example.com/result",
                api_base_url=amazonpay.emulator.url, sandbox="true")
    base.update(values)
    return _gql(staff_client, PLUGIN_UPDATE, {
        "id": PLUGIN_ID, "channel": graphene.Node.to_global_id("Channel", channel.pk),
        "configuration": [{"name": k, "value": v} for k, v in base.items()],
    }, "pluginUpdate")


def test_notification_settings_are_saved_and_the_url_cannot_be_overwritten(amazonpay, staff_client, channel_USD):
    cert = f"{amazonpay.emulator.url}/_emulator/sns-cert.pem"
    topics = "arn:aws:sns:us-east-1:123456789012:A,arn:aws:sns:eu-west-1:123456789012:B"
    data = _update(staff_client, amazonpay, channel_USD, ipn_trusted_certificate_url=cert, ipn_topic_arns=topics,
                   ipn_url="https://attacker.example.com/")
    assert data["errors"] == []
    [config] = data["plugin"]["channelConfigurations"]
    values = {c["name"]: c["value"] for c in config["configuration"]}
    assert values["ipn_trusted_certificate_url"] == cert and values["ipn_topic_arns"] == topics
    assert values["ipn_url"] == notifications.ipn_url(channel_USD.slug)


@pytest.mark.parametrize(
    ("values", "field", "fragment"),
    [
        ({"api_base_url": ""}, "ipnTrustedCertificateUrl", "API base URL"),
        ({"sandbox": "false", "public_key_id": "AE4HVOSVMVJFNALR4ODV2NAZ", "api_base_url": ""},
         "ipnTrustedCertificateUrl", "sandbox"),
        ({"ipn_trusted_certificate_url": "http://127.0.0.1:1/_emulator/sns-cert.pem"}, "ipnTrustedCertificateUrl",
         "host"),
        ({"ipn_topic_arns": "MyTopic"}, "ipnTopicArns", "SNS topic ARNs"),
    ],
)
def test_invalid_notification_settings_are_refused(amazonpay, staff_client, channel_USD, values, field, fragment):
    values = {"ipn_trusted_certificate_url": f"{amazonpay.emulator.url}/_emulator/sns-cert.pem", **values}
    data = _update(staff_client, amazonpay, channel_USD, **values)
    errors = {e["field"]: e for e in data["errors"]}
    assert field in errors, data["errors"]
    assert fragment in errors[field]["message"] and errors[field]["code"] == "INVALID"


def test_the_endpoint_answers_only_post_and_only_on_its_path(ipn):
    assert ipn.post("", method="get").status_code == 405
    other = ipn.client.post(ipn.path.replace("/ipn", "/other"), data="{}", content_type="text/plain")
    assert other.status_code == 404


# -- state changes -------------------------------------------------------------------------------


def test_pending_authorization_becomes_authorized_and_can_be_captured(
    ipn, amazonpay, emulator, staff_client, checkout_with_item_and_shipping
):
    order, payment = _pending_authorization(ipn, amazonpay, checkout_with_item_and_shipping)
    first = ipn.pending()
    ipn.deliver_pending()  # AuthorizationInitiated: nothing final yet
    assert payment.charge_status == ChargeStatus.PENDING

    emulator.app.settle()
    [response] = ipn.deliver_pending()
    assert response.status_code == 200

    payment.refresh_from_db()
    order.refresh_from_db()
    charge_id = payment.metadata["chargeId"]
    assert payment.charge_status == ChargeStatus.NOT_CHARGED
    assert payment.transactions.filter(kind=TransactionKind.AUTH, token=charge_id, is_success=True).count() == 1
    assert order.authorize_status == OrderAuthorizeStatus.FULL
    assert order.events.filter(type=OrderEvents.PAYMENT_AUTHORIZED).exists()
    assert any("approved" in note for note in _notes(order))

    # An old "pending" notification arriving late (a new SNS message) must not regress anything.
    before = _snapshot(payment)
    assert ipn.resend(first[0]).status_code == 200
    assert _snapshot(payment) == before

    captured = _gql(staff_client, CAPTURE, {"id": _pid(payment)}, "paymentCapture")
    assert not captured["errors"], captured["errors"]
    assert captured["payment"]["chargeStatus"] == "FULLY_CHARGED"


def test_declined_pending_authorization_cancels_the_unpaid_order(
    ipn, amazonpay, emulator, checkout_with_item_and_shipping
):
    order, payment = _pending_authorization(ipn, amazonpay, checkout_with_item_and_shipping, instrument="4354")
    assert order.lines.first().allocations.filter(quantity_allocated__gt=0).exists()
    emulator.app.settle()
    charge_updates = ipn.deliveries("CHARGE")
    ipn.deliver_pending()

    payment.refresh_from_db()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert payment.charge_status == ChargeStatus.CANCELLED and payment.is_active is False
    assert payment.transactions.filter(kind=TransactionKind.CANCEL, token=payment.metadata["chargeId"]).exists()
    assert not order.lines.first().allocations.filter(quantity_allocated__gt=0).exists()  # stock released
    assert order.events.filter(type=OrderEvents.CANCELED).exists()
    assert order.events.filter(type=OrderEvents.PAYMENT_FAILED).exists()
    [note] = [n for n in _notes(order) if "declined" in n]
    assert "canceled" in note and "HardDeclined" in note

    # The same news again (a new SNS message): nothing more happens.
    before = _snapshot(payment)
    assert ipn.resend(charge_updates[-1]).status_code == 200
    assert _snapshot(payment) == before


class _CaptureInitiated:
    """Transport that asks the sandbox to keep new charges in CaptureInitiated (simulation code)."""

    def __init__(self):
        self.inner = RequestsTransport()

    def send(self, request):
        if request.method == "POST" and urlsplit(request.url).path.endswith("/charges"):
            request = dataclasses.replace(request, headers={**request.headers,
                                                            "x-amz-pay-simulation-code": "CaptureInitiated"})
        return self.inner.send(request)


def test_asynchronous_capture_is_recorded_when_amazon_captures(
    ipn, amazonpay, emulator, staff_client, checkout_with_item_and_shipping, monkeypatch
):
    amazonpay.configure(payment_intent="Confirm")
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping)
    monkeypatch.setattr(clients, "transport_factory", _CaptureInitiated)
    clients.reset()

    data = _gql(staff_client, CAPTURE, {"id": _pid(payment)}, "paymentCapture")
    assert not data["errors"], data["errors"]
    assert data["payment"]["chargeStatus"] == "PENDING"
    [charge] = amazonpay.objects()["charges"]
    assert charge["statusDetails"]["state"] == "CaptureInitiated"
    ipn.deliver_pending()
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.PENDING

    emulator.app.settle()
    ipn.deliver_pending()
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED
    assert payment.captured_amount == payment.total
    assert payment.transactions.filter(kind=TransactionKind.CAPTURE, token=charge["chargeId"]).count() == 1
    assert order.charge_status == OrderChargeStatus.FULL
    assert order.events.filter(type=OrderEvents.PAYMENT_CAPTURED).exists()


def test_declined_refund_is_reversed_and_staff_are_told(
    ipn, amazonpay, emulator, staff_client, checkout_with_item_and_shipping
):
    amazonpay.configure(payment_intent="AuthorizeWithCapture")
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping, instrument="0010")
    data = _gql(staff_client, REFUND, {"id": _pid(payment)}, "paymentRefund")
    assert not data["errors"], data["errors"]
    assert data["payment"]["chargeStatus"] == "FULLY_REFUNDED"
    [refund] = amazonpay.objects()["refunds"]
    ipn.deliver_pending()  # RefundInitiated: nothing to do yet

    emulator.app.settle()
    [declined] = ipn.pending()
    assert ipn.send(declined).status_code == 200

    payment.refresh_from_db()
    order.refresh_from_db()
    reversed_ = payment.transactions.filter(kind=TransactionKind.REFUND_REVERSED, token=refund["refundId"])
    assert reversed_.count() == 1 and reversed_.get().amount == payment.total
    assert payment.captured_amount == payment.total
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED and payment.is_active
    assert any("declined the refund" in note and refund["refundId"] in note for note in _notes(order))
    assert json.loads(payment.private_metadata["amazonpay"])["refunds"][0]["state"] == "Declined"

    before = _snapshot(payment)
    assert ipn.resend(declined).status_code == 200
    assert _snapshot(payment) == before


def test_completed_refund_is_only_noted(ipn, amazonpay, emulator, staff_client, checkout_with_item_and_shipping):
    amazonpay.configure(payment_intent="AuthorizeWithCapture")
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping)
    assert not _gql(staff_client, REFUND, {"id": _pid(payment)}, "paymentRefund")["errors"]
    emulator.app.settle()
    ipn.deliver_pending()
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.FULLY_REFUNDED and payment.captured_amount == 0
    assert not payment.transactions.filter(kind=TransactionKind.REFUND_REVERSED).exists()
    assert any("completed the refund" in note for note in _notes(order))


def test_charge_permission_closed_at_amazon_deactivates_an_uncaptured_payment(
    ipn, amazonpay, checkout_with_item_and_shipping
):
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping)
    ipn.skip_pending()
    seller_central = AmazonPayClient(AmazonPayConfig(**amazonpay.merchant))
    seller_central.close_charge_permission(payment.metadata["chargePermissionId"], "Buyer asked to cancel",
                                           cancel_pending_charges=True)
    ipn.deliver_pending()

    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.is_active is False
    assert payment.transactions.filter(kind=TransactionKind.VOID, token=payment.metadata["chargePermissionId"]).exists()
    assert order.events.filter(type=OrderEvents.PAYMENT_VOIDED).exists()
    notes = _notes(order)
    assert any("closed the charge permission" in n and "deactivated" in n for n in notes)
    assert any("canceled the authorization" in n for n in notes)


def test_expired_authorization_is_noted_and_capture_charges_again(
    ipn, amazonpay, emulator, staff_client, checkout_with_item_and_shipping
):
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping)
    ipn.skip_pending()
    emulator.app.advance_clock(2 * 24 * 3600 + 60)  # sandbox authorizations expire after 2 days
    [expired] = ipn.pending()
    # The emulator dated it on its advanced clock; SNS would deliver it now: same message, signed now.
    assert ipn.resend(expired).status_code == 200
    ipn.skip_pending()

    order.refresh_from_db()
    assert any("expired" in n and "ExpiredUnused" in n for n in _notes(order))
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.NOT_CHARGED and payment.is_active

    data = _gql(staff_client, CAPTURE, {"id": _pid(payment)}, "paymentCapture")
    assert not data["errors"], data["errors"]
    assert data["payment"]["chargeStatus"] == "FULLY_CHARGED"
    states = sorted(c["statusDetails"]["state"] for c in amazonpay.objects()["charges"])
    assert states == ["Canceled", "Captured"]


def test_a_chargeback_is_noted(ipn, amazonpay, checkout_with_item_and_shipping):
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping)
    cpid = payment.metadata["chargePermissionId"]
    amazonpay.calls.clear()
    message = ipn.message("CHARGEBACK", "C01-0000000-0000000", cpid)
    assert ipn.post(*ipn.envelope(message)).status_code == 200
    assert amazonpay.calls == []  # the API cannot read chargebacks
    assert any("chargeback" in n for n in _notes(order))


# -- what is refused, ignored or retried -------------------------------------------------------------


def _authorized_news(ipn, amazonpay, emulator, checkout):
    order, payment = _pending_authorization(ipn, amazonpay, checkout)
    ipn.deliver_pending()
    emulator.app.settle()
    [news] = ipn.pending()
    amazonpay.calls.clear()
    return payment, news


def test_forged_or_tampered_messages_are_refused_without_any_effect(
    ipn, amazonpay, emulator, checkout_with_item_and_shipping
):
    payment, news = _authorized_news(ipn, amazonpay, emulator, checkout_with_item_and_shipping)
    before = _snapshot(payment)
    envelope = news.envelope

    # Tampered: another object id under the original signature.
    tampered = dict(envelope, Message=envelope["Message"].replace(news.message["ObjectId"], "S01-0000000-0000000-C000001"))
    # Forged: signed by someone else's key.
    forged = sign_envelope(dict(envelope), SigningIdentity.generate())
    # A certificate URL that is not an AWS SNS host.
    elsewhere = dict(envelope, SigningCertURL="https://evil.example.com/sns.us-east-1.amazonaws.com/cert.pem")
    for body in (tampered, forged, elsewhere):
        response = ipn.post(json.dumps(body), news.headers)
        assert response.status_code == 403, response.content

    # Headers that contradict the body, and plain garbage.
    liar = dict(news.headers, **{"x-amz-sns-topic-arn": "arn:aws:sns:us-east-1:111111111111:Other"})
    assert ipn.post(news.body, liar).status_code == 400
    assert ipn.post("not json", news.headers).status_code == 400
    assert ipn.post(json.dumps({"Type": "Notification"})).status_code == 400

    assert amazonpay.calls == []
    assert _snapshot(payment) == before
    # None of this burnt the genuine message's id: it still goes through.
    assert ipn.send(news).status_code == 200
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.NOT_CHARGED


def test_signature_version_2_is_accepted(ipn, amazonpay, emulator, checkout_with_item_and_shipping):
    payment, news = _authorized_news(ipn, amazonpay, emulator, checkout_with_item_and_shipping)
    assert ipn.resend(news, signature_version="2").status_code == 200
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.NOT_CHARGED


def test_a_message_from_another_topic_is_refused(ipn, amazonpay, emulator, checkout_with_item_and_shipping):
    payment, news = _authorized_news(ipn, amazonpay, emulator, checkout_with_item_and_shipping)
    amazonpay.configure(can_handle_pending_authorization=True,
                        ipn_topic_arns="arn:aws:sns:us-east-1:123456789012:SomebodyElse")
    assert ipn.send(news).status_code == 403
    assert ipn.resend(news, topic_arn="arn:aws:sns:us-east-1:123456789012:Attacker").status_code == 403
    assert amazonpay.calls == []

    amazonpay.configure(can_handle_pending_authorization=True,
                        ipn_topic_arns=f"arn:aws:sns:us-east-1:123456789012:SomebodyElse, {ipn.topic_arn}")
    assert ipn.send(news).status_code == 200
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.NOT_CHARGED


def test_a_replayed_message_is_acknowledged_without_effect(ipn, amazonpay, emulator, checkout_with_item_and_shipping):
    payment, news = _authorized_news(ipn, amazonpay, emulator, checkout_with_item_and_shipping)
    assert ipn.send(news).status_code == 200
    after_first = _snapshot(payment)
    calls = len(amazonpay.calls)

    replay = ipn.send(news)
    assert replay.status_code == 200 and b"duplicate" in replay.content
    assert len(amazonpay.calls) == calls  # not even read again
    assert _snapshot(payment) == after_first
    # Remembered in Django's cache, shared by every Saleor process (Redis in production).
    from django.core.cache import cache

    assert cache.get(notifications.DjangoReplayCache.key(news.envelope["MessageId"])) == 1


def test_a_message_that_could_not_be_processed_is_processed_when_sns_retries(
    ipn, amazonpay, emulator, checkout_with_item_and_shipping
):
    payment, news = _authorized_news(ipn, amazonpay, emulator, checkout_with_item_and_shipping)
    emulator.app.add_fault("503", "GetCharge", count=10)
    failed = ipn.send(news)
    assert failed.status_code == 503
    from django.core.cache import cache

    assert cache.get(notifications.DjangoReplayCache.key(news.envelope["MessageId"])) is None  # forgotten
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.PENDING

    emulator.app.faults.clear()
    retried = ipn.send(news)  # SNS redelivers the same MessageId
    assert retried.status_code == 200 and b"duplicate" not in retried.content
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.NOT_CHARGED


def test_stale_messages_are_refused(ipn, amazonpay, emulator, checkout_with_item_and_shipping):
    payment, news = _authorized_news(ipn, amazonpay, emulator, checkout_with_item_and_shipping)
    old = datetime.now(timezone.utc) - timedelta(hours=5)
    assert ipn.resend(news, timestamp=old).status_code == 400
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert ipn.resend(news, timestamp=future).status_code == 400
    assert amazonpay.calls == []


def test_unknown_objects_are_acknowledged_and_nothing_changes(ipn, amazonpay, checkout_with_item_and_shipping):
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping)
    ipn.skip_pending()
    before = _snapshot(payment)
    amazonpay.calls.clear()
    for object_type, object_id in (("CHARGE", "S01-1111111-2222222-C000001"),
                                   ("REFUND", "S01-1111111-2222222-R000001"),
                                   ("CHARGE_PERMISSION", "S01-1111111-2222222")):
        message = ipn.message(object_type, object_id, "S01-1111111-2222222")
        response = ipn.post(*ipn.envelope(message))
        assert response.status_code == 200 and b"ignored" in response.content
    assert amazonpay.calls == []
    assert _snapshot(payment) == before


def test_a_notification_for_another_merchant_is_refused(ipn, amazonpay, emulator, checkout_with_item_and_shipping):
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping)
    other, _ = emulator.make_test_merchant("sandbox", "na")
    before = _snapshot(payment)
    amazonpay.calls.clear()
    # About this shop's own charge, but for another merchant account.
    message = ipn.message("CHARGE", payment.metadata["chargeId"], payment.metadata["chargePermissionId"],
                          merchant_id=other["merchant_id"])
    response = ipn.post(*ipn.envelope(message))
    assert response.status_code == 400
    assert amazonpay.calls == []
    assert _snapshot(payment) == before


def test_one_url_serves_every_channel_using_the_merchant_account(
    ipn, amazonpay, emulator, checkout_with_item_and_shipping, other_channel_USD
):
    from amazonpay_fixtures import plugin_configuration
    from saleor.plugins.models import PluginConfiguration

    payment, news = _authorized_news(ipn, amazonpay, emulator, checkout_with_item_and_shipping)
    other = dataclasses.replace(ipn, channel_slug=other_channel_USD.slug)
    # Another channel configured for another merchant: the notification is not its merchant's.
    stranger, _ = emulator.make_test_merchant("sandbox", "na")
    config = PluginConfiguration.objects.create(
        identifier=PLUGIN_ID, channel=other_channel_USD, name="Amazon Pay", active=True,
        configuration=plugin_configuration(stranger, emulator, ipn_trusted_certificate_url=ipn.certificate_url))
    assert other.send(news).status_code == 400

    # Configured for the same merchant: Seller Central holds one URL, this channel's serves the payment of main.
    config.configuration = plugin_configuration(amazonpay.merchant, emulator,
                                                ipn_trusted_certificate_url=ipn.certificate_url)
    config.save()
    assert other.send(news).status_code == 200
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.NOT_CHARGED


def test_production_never_trusts_the_emulator_certificate(ipn, amazonpay, emulator, checkout_with_item_and_shipping):
    payment, news = _authorized_news(ipn, amazonpay, emulator, checkout_with_item_and_shipping)
    amazonpay.configure(can_handle_pending_authorization=True, ipn_trusted_certificate_url="")
    assert ipn.send(news).status_code == 403  # http, not an AWS host
    assert amazonpay.calls == []


def test_an_unreachable_signing_certificate_answers_503_so_sns_retries(
    ipn, amazonpay, emulator, checkout_with_item_and_shipping
):
    payment, news = _authorized_news(ipn, amazonpay, emulator, checkout_with_item_and_shipping)
    # A genuine-looking AWS certificate URL; the test network cannot reach AWS.
    aws_url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
    assert ipn.resend(news, signing_cert_url=aws_url).status_code == 503
    # The emulator's test certificate (tests only) cannot be fetched either.
    amazonpay.configure(can_handle_pending_authorization=True,
                        ipn_trusted_certificate_url=f"{emulator.url}/_emulator/no-such-cert.pem")
    assert ipn.send(news).status_code == 503
    assert amazonpay.calls == []
    # Once it can be fetched, SNS's retry of the same message is processed.
    amazonpay.configure(can_handle_pending_authorization=True)
    assert ipn.send(news).status_code == 200


def _subscription_confirmation(ipn, topic_arn: str) -> "tuple[str, dict]":
    envelope = {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e2425c464de257b4f8b6b6d63a8e2a5f3a1d7e5f6a",
        "TopicArn": topic_arn,
        "Message": f"You have chosen to subscribe to the topic {topic_arn}.",
        "SubscribeURL": f"{urlsplit(ipn.certificate_url)._replace(path='/_emulator/sns/confirm').geturl()}"
                        f"?Action=ConfirmSubscription&TopicArn={topic_arn}&Token=2336412f",
        "Timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    sign_envelope(envelope, ipn.emulator.app.ipn.identity, "1")
    envelope["SigningCertURL"] = ipn.certificate_url
    headers = {"x-amz-sns-message-type": "SubscriptionConfirmation", "x-amz-sns-message-id": envelope["MessageId"],
               "x-amz-sns-topic-arn": topic_arn}
    return json.dumps(envelope), headers


def test_subscriptions_are_confirmed_only_for_allowed_topics(ipn, amazonpay, monkeypatch):
    visited = []
    monkeypatch.setattr(core_ipn, "get_status", lambda url, **kw: visited.append(url) or 200)

    response = ipn.post(*_subscription_confirmation(ipn, ipn.topic_arn))
    assert response.status_code == 200 and b"not confirmed" in response.content
    assert visited == []

    amazonpay.configure(ipn_topic_arns=ipn.topic_arn)
    response = ipn.post(*_subscription_confirmation(ipn, ipn.topic_arn))
    assert response.status_code == 200 and b"subscription confirmed" in response.content
    assert len(visited) == 1 and "Action=ConfirmSubscription" in visited[0]


def test_no_personal_data_is_logged(ipn, amazonpay, emulator, checkout_with_item_and_shipping, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="saleor_amazonpay")
    payment, news = _authorized_news(ipn, amazonpay, emulator, checkout_with_item_and_shipping)
    ipn.send(news)
    ipn.send(news)
    ipn.post("garbage", news.headers)
    text = caplog.text
    assert news.message["ObjectId"] in text  # ids are logged ...
    for secret in ("Susie", "Ditka", "buyer@example.com", "Test Buyer", news.envelope["Signature"][:40]):
        assert secret not in text  # ... buyer data and signatures are not
    assert Decimal(payment.total) > 0
