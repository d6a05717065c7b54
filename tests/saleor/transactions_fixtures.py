"""Fixtures for Amazon Pay through Saleor's Transactions API (tests/saleor/test_transactions_api.py).

``amazonpay_tx`` installs what a merchant installs: both plugins of this package, *after*
Saleor's built-in WebhookPlugin (as in production, where built-ins come first), with the
channel configured by the ``amazonpay`` fixture and the App identity installed. It returns a
:class:`TxStorefront` that drives ``paymentGatewayInitialize`` / ``transactionInitialize`` /
``transactionProcess`` / ``checkoutComplete`` like a storefront and Amazon's pages like a
buyer. Registered in tests/saleor/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

from decimal import Decimal

import graphene
import pytest

from saleor.graphql.tests.utils import get_graphql_content
from saleor.payment.models import TransactionItem

from saleor_amazonpay.plugin import app_identity
from saleor_amazonpay.plugin.consts import PLUGIN_ID

from amazonpay_fixtures import PLUGIN_PATH, Storefront

WEBHOOK_PLUGIN_PATH = "saleor.plugins.webhook.plugin.WebhookPlugin"
COMPANION_PATH = "saleor_amazonpay.plugin.transactions_plugin.AmazonPayTransactionsPlugin"

TRANSACTION_FIELDS = """
  id token name pspReference actions
  authorizedAmount { amount } chargedAmount { amount } refundedAmount { amount } canceledAmount { amount }
  authorizePendingAmount { amount } chargePendingAmount { amount } refundPendingAmount { amount }
  metadata { key value }
  paymentMethodDetails { name }
  events { type pspReference message amount { amount } }
"""
GATEWAY_INITIALIZE = """
mutation GatewayInit($id: ID!, $amount: PositiveDecimal, $gateways: [PaymentGatewayToInitialize!]) {
  paymentGatewayInitialize(id: $id, amount: $amount, paymentGateways: $gateways) {
    gatewayConfigs { id data errors { field message code } }
    errors { field message code }
  }
}
"""
TRANSACTION_INITIALIZE = """
mutation TxInit($id: ID!, $gateway: PaymentGatewayToInitialize!, $key: String, $amount: PositiveDecimal) {
  transactionInitialize(id: $id, paymentGateway: $gateway, idempotencyKey: $key, amount: $amount) {
    transaction { %s }
    transactionEvent { type message pspReference amount { amount } }
    data
    errors { field message code }
  }
}
""" % TRANSACTION_FIELDS
TRANSACTION_PROCESS = """
mutation TxProcess($id: ID!, $data: JSON) {
  transactionProcess(id: $id, data: $data) {
    transaction { %s }
    transactionEvent { type message pspReference amount { amount } }
    data
    errors { field message code }
  }
}
""" % TRANSACTION_FIELDS
REQUEST_ACTION = """
mutation Action($id: ID!, $action: TransactionActionEnum!, $amount: PositiveDecimal) {
  transactionRequestAction(id: $id, actionType: $action, amount: $amount) {
    transaction { %s }
    errors { field message code }
  }
}
""" % TRANSACTION_FIELDS
CHECKOUT_COMPLETE = """
mutation Complete($id: ID!) {
  checkoutComplete(id: $id) {
    order { id number status paymentStatus chargeStatus authorizeStatus total { gross { amount } }
 }
    errors { field code message }
  }
}
"""


def amount(money: dict) -> Decimal:
    return Decimal(str(money["amount"]))


class TxStorefront:
    """A Transactions API storefront (and its buyer) on top of the legacy :class:`Storefront`."""

    def __init__(self, sf: Storefront):
        self.sf = sf

    def __getattr__(self, name):
        if name == "sf":
            raise AttributeError(name)
        return getattr(self.sf, name)

    def gql(self, query: str, variables: dict, client=None) -> dict:
        response = (client or self.sf.api_client).post_graphql(query, variables)
        return get_graphql_content(response)["data"]

    def gateway_initialize(self, checkout, *, gateways=None, amount=None) -> dict:
        variables = {"id": self.checkout_id(checkout), "gateways": gateways}
        if gateways is None:
            variables["gateways"] = [{"id": PLUGIN_ID}]
        if amount is not None:
            variables["amount"] = str(amount)
        return self.gql(GATEWAY_INITIALIZE, variables)["paymentGatewayInitialize"]

    def amazon_config(self, checkout) -> dict:
        result = self.gateway_initialize(checkout)
        assert not result["errors"], result["errors"]
        [config] = [c for c in result["gatewayConfigs"] if c["id"] == PLUGIN_ID]
        assert not config["errors"], config["errors"]
        return config["data"]

    def review_button(self, checkout) -> dict:
        data = self.amazon_config(checkout)
        return dict(data["reviewCheckoutSessionConfig"], merchantId=data["merchantId"])

    def initialize(self, checkout, session_id=None, *, key=None, amount=None, data=None,
                   gateway_id=PLUGIN_ID) -> dict:
        gateway = {"id": gateway_id, "data": data if data is not None else {"amazonCheckoutSessionId": session_id}}
        variables = {"id": self.checkout_id(checkout), "gateway": gateway, "key": key}
        if amount is not None:
            variables["amount"] = str(amount)
        return self.gql(TRANSACTION_INITIALIZE, variables)["transactionInitialize"]

    def process(self, transaction_id: str, data: "dict | None" = None) -> dict:
        return self.gql(TRANSACTION_PROCESS, {"id": transaction_id, "data": data})["transactionProcess"]

    def checkout_complete(self, checkout) -> dict:
        return self.gql(CHECKOUT_COMPLETE, {"id": self.checkout_id(checkout)})["checkoutComplete"]

    def request_action(self, staff_client, transaction_id: str, action: str, value=None) -> dict:
        variables = {"id": transaction_id, "action": action}
        if value is not None:
            variables["amount"] = str(value)
        return self.gql(REQUEST_ACTION, variables, client=staff_client)["transactionRequestAction"]

    def authorize(self, checkout, *, instrument: str = "1111") -> dict:
        """Sign in on Amazon, transactionInitialize, confirm on Amazon, transactionProcess."""
        session_id = self.buyer_signs_in(checkout, instrument=instrument, button=self.review_button(checkout))
        started = self.initialize(checkout, session_id)
        assert not started["errors"], started["errors"]
        assert started["transactionEvent"]["type"].endswith("_ACTION_REQUIRED"), started["transactionEvent"]
        returned = self.buyer_returns_from_amazon(started["data"])
        assert returned == session_id
        return self.process(started["transaction"]["id"], {"amazonCheckoutSessionId": returned})

    def paid_order(self, checkout, *, instrument: str = "1111"):
        from saleor.order.models import Order

        processed = self.authorize(checkout, instrument=instrument)
        assert not processed["errors"], processed["errors"]
        completed = self.checkout_complete(checkout)
        assert not completed["errors"], completed["errors"]
        order = Order.objects.get(number=completed["order"]["number"])
        return order, order.payment_transactions.get(app_identifier=PLUGIN_ID)


def item_of(transaction: dict) -> TransactionItem:
    return TransactionItem.objects.get(token=transaction["token"])


def metadata(transaction: dict) -> dict:
    return {m["key"]: m["value"] for m in transaction["metadata"]}


def tx_id(item: TransactionItem) -> str:
    return graphene.Node.to_global_id("TransactionItem", item.token)


def set_flow(channel, strategy: str) -> None:
    channel.default_transaction_flow_strategy = strategy
    channel.save(update_fields=["default_transaction_flow_strategy"])


@pytest.fixture
def amazonpay_tx(amazonpay, settings, channel_USD):
    """Both plugins after Saleor's WebhookPlugin, channel configured, App identity installed."""
    settings.PLUGINS = [WEBHOOK_PLUGIN_PATH, PLUGIN_PATH, COMPANION_PATH]
    app_identity.install()
    return TxStorefront(amazonpay)
