"""Secrets and personal data: never in logs, never in GraphQL answers; the key parsed once.

One whole flow at DEBUG level (button, review page, checkout with a lost Complete answer,
capture after a 500, partial refund, a failed checkout signed with a wrong key, staff
reading the plugin configuration) with every log record and every GraphQL response kept,
then scanned for the private key (any line of its PEM body), its passphrase and the
buyer's name, email, phone and street.

Allowed by design, and excluded from the personal-data scan: ``paymentInitialize``
``checkoutSessionDetails`` (it shows the buyer their own Amazon details on the review page)
and the payment's private metadata read by staff with MANAGE_ORDERS. Logs of the emulator
(it plays Amazon) are excluded too.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import graphene
import pytest
from cryptography.hazmat.primitives import serialization

from saleor.graphql.tests.utils import get_graphql_content
from saleor.order.models import Order

from saleor_amazonpay.core import signing
from saleor_amazonpay.plugin import clients
from saleor_amazonpay.plugin.consts import PLUGIN_ID

pytestmark = pytest.mark.saleor

PASSPHRASE = "correct horse battery staple 7f3a"
BUYER_NAME = "Ximena Quetzalcóatl-Żółć"
BUYER_EMAIL = "ximena.private.7f3a@buyer.example"
STREET, PHONE = "10 Ditka Ave", "800-000-0000"  # the emulator's US test address

CAPTURE = """
mutation Capture($id: ID!, $amount: PositiveDecimal) {
  paymentCapture(paymentId: $id, amount: $amount) { payment { chargeStatus } errors { code message } }
}
"""
REFUND = """
mutation Refund($id: ID!, $amount: PositiveDecimal) {
  paymentRefund(paymentId: $id, amount: $amount) { payment { chargeStatus } errors { code message } }
}
"""
ORDER = """
query Order($id: ID!) {
  order(id: $id) { number userEmail payments { pspReference metadata { key value }
    transactions { kind isSuccess token error gatewayResponse } } }
}
"""
PRIVATE = """
query Order($id: ID!) { order(id: $id) { payments { privateMetadata { key value } } } }
"""
PLUGIN = """
query Plugin($id: ID!) {
  plugin(id: $id) { channelConfigurations { active configuration { name value type } } }
}
"""


def _encrypted(pem: str) -> str:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(PASSPHRASE.encode())).decode()


def _key_fragments(*pems: str) -> "list[str]":
    """Every base64 line of the PEM bodies, and the bodies joined without newlines."""
    fragments = []
    for pem in pems:
        body = [line.strip() for line in pem.strip().splitlines() if line.strip() and "-----" not in line]
        fragments += [line for line in body if len(line) >= 40]
        fragments.append("".join(body)[:200])
        fragments.append("\\n".join(body[:2]))  # as it would appear JSON-escaped
    return fragments


class Recorder:
    """Keeps every GraphQL response a test client receives, by operation."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, str, str]] = []

    def wrap(self, client, label: str):
        original = client.post_graphql

        def post_graphql(query, variables=None, **kwargs):
            response = original(query, variables, **kwargs)
            name = query.strip().split("(")[0].split("{")[0].strip()
            self.responses.append((f"{label}:{name}", json.dumps(variables or {}), response.content.decode("utf-8")))
            return response

        client.post_graphql = post_graphql
        return client


def _gql(client, query, variables, name):
    return get_graphql_content(client.post_graphql(query, variables))["data"][name]


def test_no_private_key_or_buyer_data_in_logs_or_graphql(
    amazonpay, staff_client, checkout_with_item_and_shipping, emulator, caplog,
    permission_manage_plugins,
):
    merchant_pem = amazonpay.merchant["private_key"]
    encrypted = _encrypted(merchant_pem)
    amazonpay.configure(private_key=encrypted, private_key_passphrase=PASSPHRASE)
    recorder = Recorder()
    recorder.wrap(amazonpay.api_client, "storefront")
    recorder.wrap(staff_client, "staff")
    caplog.set_level(logging.DEBUG)
    checkout = checkout_with_item_and_shipping

    # Storefront: the button, the buyer on Amazon, the review page, the checkout.
    amazonpay.initialize({"action": "buttonConfig"})
    session_id = amazonpay.buyer_signs_in(checkout)
    emulator.app.buyer_approve(session_id, name=BUYER_NAME, email=BUYER_EMAIL, address="US")
    details = amazonpay.initialize({"action": "checkoutSessionDetails", "amazonCheckoutSessionId": session_id})
    assert BUYER_EMAIL in json.dumps(details)  # the one place the buyer sees their own data
    # First attempt: the shop's key was replaced by a wrong one; Amazon refuses everything.
    from cryptography.hazmat.primitives.asymmetric import rsa

    wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    amazonpay.configure(private_key=wrong, private_key_passphrase="")
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    failed = amazonpay.complete(checkout)
    assert failed.order is None and failed.errors
    amazonpay.configure(private_key=encrypted, private_key_passphrase=PASSPHRASE)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    first = amazonpay.complete(checkout)
    assert first.data["confirmationNeeded"], first.errors
    returned = amazonpay.buyer_returns_from_amazon(first.data["confirmationData"])
    emulator.app.add_fault("drop-response", "CompleteCheckoutSession")
    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})
    assert result.order is not None, result.errors

    # Staff: a capture that first meets a 500, a partial refund, the order, the plugin.
    order = Order.objects.get(number=result.order["number"])
    payment = order.payments.get(is_active=True)
    payment_id = graphene.Node.to_global_id("Payment", payment.pk)
    emulator.app.add_fault("500", "CaptureCharge", count=10)
    assert _gql(staff_client, CAPTURE, {"id": payment_id}, "paymentCapture")["errors"]
    emulator.app.faults.clear()
    assert not _gql(staff_client, CAPTURE, {"id": payment_id}, "paymentCapture")["errors"]
    assert not _gql(staff_client, REFUND, {"id": payment_id, "amount": "1.00"}, "paymentRefund")["errors"]
    order_id = graphene.Node.to_global_id("Order", order.pk)
    _gql(staff_client, ORDER, {"id": order_id}, "order")
    private = json.dumps(_gql(staff_client, PRIVATE, {"id": order_id}, "order"))
    assert BUYER_EMAIL in private  # staff with MANAGE_ORDERS keep the buyer snapshot
    staff_client.user.user_permissions.add(permission_manage_plugins)
    plugin = _gql(staff_client, PLUGIN, {"id": PLUGIN_ID}, "plugin")
    [config] = [c for c in plugin["channelConfigurations"] if c["active"]]
    shown = {item["name"]: item["value"] for item in config["configuration"]}
    assert shown["private_key"] not in (encrypted, merchant_pem) and len(shown["private_key"] or "") <= 4
    assert not shown.get("private_key_passphrase")

    secrets = _key_fragments(merchant_pem, encrypted, wrong) + [PASSPHRASE]
    personal = [BUYER_NAME, BUYER_EMAIL, STREET, PHONE]
    records = [r for r in caplog.records if not r.name.startswith("saleor_amazonpay.emulator")]
    assert len(records) > 10, "the flow should have logged at DEBUG"
    for record in records:
        text = record.getMessage() + (caplog.handler.formatter.formatException(record.exc_info)
                                      if record.exc_info else "")
        for secret in secrets:
            assert secret not in text, f"private key material in a log record of {record.name}"
        for value in personal:
            assert value not in text, f"buyer data {value!r} in a log record of {record.name}: {text[:300]}"
    assert recorder.responses
    for label, variables, body in recorder.responses:
        for secret in secrets:
            assert secret not in body, f"private key material in the GraphQL response of {label}"
        if "checkoutSessionDetails" in variables or label == "staff:query Order" and "privateMetadata" in body:
            continue  # by design: the buyer's own review page; staff with MANAGE_ORDERS
        for value in personal:
            assert value not in body, f"buyer data {value!r} in the GraphQL response of {label}"


def test_the_private_key_is_parsed_once_per_process_not_per_request(
    amazonpay, checkout_with_item_and_shipping, monkeypatch
):
    parses = []
    real = signing.serialization.load_pem_private_key

    def counting(*args, **kwargs):
        parses.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(signing.serialization, "load_pem_private_key", counting)
    signing._load_private_key_cached.cache_clear()
    before = signing._load_private_key_cached.cache_info()
    checkout = checkout_with_item_and_shipping
    calls_before = len(amazonpay.calls)

    for _ in range(5):
        amazonpay.gateway(checkout)  # signs the button payload
        amazonpay.initialize({"action": "buttonConfig", "checkoutId": amazonpay.checkout_id(checkout)})
        # A new client (e.g. another worker, or the settings changed back and forth) must
        # reuse the parsed key.
        clients.reset()
    result = amazonpay.pay(checkout)
    assert result.order is not None, result.errors

    after = signing._load_private_key_cached.cache_info()
    signed_requests = len(amazonpay.calls) - calls_before
    assert signed_requests >= 3
    assert len(parses) == 1, f"the PEM was parsed {len(parses)} times"
    assert after.misses - before.misses == 1
    assert after.hits - before.hits >= 5, after


def test_total_payment_amount_is_never_logged_with_buyer_names(amazonpay, checkout_with_item_and_shipping, caplog):
    """The checkout's own log lines carry ids, states and reason codes only."""
    caplog.set_level(logging.DEBUG, logger="saleor_amazonpay")
    result = amazonpay.pay(checkout_with_item_and_shipping)
    assert result.order is not None
    ours = [r for r in caplog.records if r.name.startswith("saleor_amazonpay") and "emulator" not in r.name]
    assert ours, "the plugin logs its Amazon calls at DEBUG"
    for record in ours:
        message = record.getMessage()
        assert "Test Buyer" not in message and "buyer@example.com" not in message
    assert Decimal(str(result.order["total"]["gross"]["amount"])) > 0
