"""Fixtures for driving Amazon Pay through a real Saleor's GraphQL API.

* ``emulator``: the Amazon Pay API emulator on a loopback port (session-wide; each test
  registers its own merchant, so tests never see each other's objects).
* ``amazonpay``: the plugin installed and configured for ``channel_USD`` against that
  merchant; returns a :class:`Storefront` that plays the storefront *and* the buyer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import graphene
import pytest
import requests

from saleor.graphql.tests.utils import get_graphql_content
from saleor.plugins.models import PluginConfiguration

from saleor_amazonpay.core import CallRecord
from saleor_amazonpay.emulator import Emulator
from saleor_amazonpay.plugin import clients
from saleor_amazonpay.plugin.consts import PLUGIN_ID, PLUGIN_NAME

PLUGIN_PATH = "saleor_amazonpay.plugin.plugin.AmazonPayGatewayPlugin"
REVIEW_URL = "https://shop.example.com/checkout/review"
RESULT_URL = "https://shop.example.com/checkout/result"

GATEWAYS = """
query Gateways($id: ID!) {
  checkout(id: $id) {
    totalPrice { gross { amount currency } }
    availablePaymentGateways { id name currencies config { field value } }
  }
}
"""
PAYMENT_CREATE = """
mutation PaymentCreate($id: ID!, $token: String, $amount: PositiveDecimal) {
  checkoutPaymentCreate(id: $id, input: {gateway: "saleor.payments.amazonpay", token: $token, amount: $amount}) {
    payment { id chargeStatus }
    errors { field code message }
  }
}
"""
COMPLETE = """
mutation Complete($id: ID!, $paymentData: JSONString) {
  checkoutComplete(id: $id, paymentData: $paymentData) {
    order { id number status paymentStatus total { gross { amount currency } } }
    confirmationNeeded
    confirmationData
    errors { field code message }
  }
}
"""
INITIALIZE = """
mutation Initialize($channel: String!, $data: JSONString) {
  paymentInitialize(gateway: "saleor.payments.amazonpay", channel: $channel, paymentData: $data) {
    initializedPayment { gateway name data }
    errors { field code message }
  }
}
"""


@pytest.fixture(scope="session")
def emulator():
    # No ticker thread: pending objects settle only when a test advances the clock.
    em = Emulator(tick_interval=None).start()
    yield em
    em.stop()


@dataclass
class CheckoutResult:
    data: dict
    errors: list

    @property
    def order(self):
        return self.data.get("order")


@dataclass
class Storefront:
    """Plays both the storefront (GraphQL) and the buyer (Amazon's pages)."""

    api_client: Any
    emulator: Emulator
    merchant: dict
    channel: Any
    calls: list = field(default_factory=list)

    # -- GraphQL ------------------------------------------------------------------------

    def gql(self, query: str, variables: dict, client=None) -> dict:
        response = (client or self.api_client).post_graphql(query, variables)
        return get_graphql_content(response)["data"]

    @staticmethod
    def checkout_id(checkout) -> str:
        return graphene.Node.to_global_id("Checkout", checkout.pk)

    def gateway(self, checkout) -> "dict | None":
        data = self.gql(GATEWAYS, {"id": self.checkout_id(checkout)})["checkout"]
        for gateway in data["availablePaymentGateways"]:
            if gateway["id"] == PLUGIN_ID:
                return {"gateway": gateway, "config": {c["field"]: c["value"] for c in gateway["config"]},
                        "total": data["totalPrice"]["gross"]}
        return None

    def payment_create(self, checkout, token: "str | None", amount: "Decimal | str | None" = None) -> dict:
        if amount is None:
            amount = str(self.gateway_total(checkout))
        return self.gql(PAYMENT_CREATE, {"id": self.checkout_id(checkout), "token": token, "amount": str(amount)})[
            "checkoutPaymentCreate"]

    def gateway_total(self, checkout) -> Decimal:
        data = self.gql(GATEWAYS, {"id": self.checkout_id(checkout)})["checkout"]
        return Decimal(str(data["totalPrice"]["gross"]["amount"]))

    def complete(self, checkout, payment_data: "dict | None" = None) -> CheckoutResult:
        variables = {"id": self.checkout_id(checkout)}
        if payment_data is not None:
            variables["paymentData"] = json.dumps(payment_data)
        data = self.gql(COMPLETE, variables)["checkoutComplete"]
        return CheckoutResult(data, data["errors"])

    def initialize(self, data: dict) -> dict:
        return self.gql(INITIALIZE, {"channel": self.channel.slug, "data": json.dumps(data)})["paymentInitialize"]

    # -- the buyer on Amazon's pages ----------------------------------------------------------

    def buyer_signs_in(self, checkout, *, address: str = "US", instrument: str = "1111",
                       button: "dict | None" = None) -> str:
        """Click the button with the storefront's signed config; approve; return the session id."""
        if button is None:
            config = self.gateway(checkout)["config"]
            button = json.loads(config["createCheckoutSessionConfig"])
            button = dict(button, merchantId=config["merchantId"])
        response = requests.post(f"{self.emulator.url}/_emulator/buyer/signin", json=button, timeout=10)
        assert response.status_code == 201, response.text
        session_id = response.json()["checkoutSessionId"]
        url = self.emulator.app.buyer_approve(session_id, address=address, instrument=instrument)
        return session_id_from(url) if url else session_id

    def buyer_returns_from_amazon(self, confirmation_data: "str | dict") -> str:
        """Follow amazonPayRedirectUrl like a browser; return the result URL's session id."""
        data = json.loads(confirmation_data) if isinstance(confirmation_data, str) else confirmation_data
        response = requests.get(data["amazonPayRedirectUrl"], allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), response.text
        location = response.headers["Location"]
        assert location.startswith(RESULT_URL), location
        return session_id_from(location)

    def pay(self, checkout, *, instrument: str = "1111", address: str = "US") -> CheckoutResult:
        """The whole happy flow: button, approval, payment, redirect, completion."""
        session_id = self.buyer_signs_in(checkout, address=address, instrument=instrument)
        created = self.payment_create(checkout, session_id)
        assert not created["errors"], created["errors"]
        first = self.complete(checkout)
        assert not first.errors, first.errors
        assert first.data["confirmationNeeded"] is True
        returned = self.buyer_returns_from_amazon(first.data["confirmationData"])
        return self.complete(checkout, {"amazonCheckoutSessionId": returned})

    # -- Amazon's side, for assertions -------------------------------------------------------

    def objects(self) -> dict:
        return self.emulator.app.objects(self.merchant["merchant_id"])

    def operations(self) -> "list[str]":
        return [call.operation for call in self.calls]


def session_id_from(url: str) -> str:
    return parse_qs(urlsplit(url).query)["amazonCheckoutSessionId"][0]


@pytest.fixture
def amazonpay_merchant(emulator):
    config, _ = emulator.make_test_merchant("sandbox", "na")
    return config


def plugin_configuration(merchant: dict, emulator: Emulator, **overrides) -> "list[dict]":
    values = {
        "merchant_id": merchant["merchant_id"],
        "store_id": merchant["store_id"],
        "public_key_id": merchant["public_key_id"],
        "private_key": merchant["private_key"],
        "region": "na",
        "sandbox": True,
        "payment_intent": "Authorize",
        "can_handle_pending_authorization": False,
        "checkout_review_return_url": REVIEW_URL,
        "checkout_result_return_url": RESULT_URL,
        "supported_currencies": "USD",
        "merchant_store_name": "Saleor Test Store",
        "api_base_url": emulator.url,
    }
    values.update(overrides)
    return [{"name": k, "value": v} for k, v in values.items()]


@pytest.fixture
def amazonpay(settings, channel_USD, api_client, emulator, amazonpay_merchant):
    """Install and configure the plugin; call it (``amazonpay(payment_intent=...)``) to reconfigure."""
    settings.PLUGINS = [PLUGIN_PATH]
    clients.reset()
    calls: "list[CallRecord]" = []
    clients.observers[:] = [calls.append]
    storefront = Storefront(api_client, emulator, amazonpay_merchant, channel_USD, calls)

    def configure(active: bool = True, **overrides) -> Storefront:
        PluginConfiguration.objects.update_or_create(
            identifier=PLUGIN_ID, channel=channel_USD,
            defaults={"name": PLUGIN_NAME, "active": active,
                      "configuration": plugin_configuration(amazonpay_merchant, emulator, **overrides)},
        )
        return storefront

    configure()
    storefront.configure = configure
    yield storefront
    clients.observers[:] = []
    clients.reset()
    emulator.app.clock.reset()
    emulator.app.faults.clear()


@pytest.fixture
def staff_client(staff_api_client, staff_user, permission_manage_orders, permission_manage_payments,
                 permission_manage_plugins):
    """A staff member with the dashboard permissions of a shop manager, in every channel."""
    from saleor.account.models import Group

    group = Group.objects.create(name="Amazon Pay managers", restricted_access_to_channels=False)
    group.permissions.add(permission_manage_orders, permission_manage_payments, permission_manage_plugins)
    group.user_set.add(staff_user)
    return staff_api_client
