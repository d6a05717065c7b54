"""Amazon Pay checkout through Saleor's storefront GraphQL API, on a real Saleor."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from saleor.order.models import Order
from saleor.payment import ChargeStatus, TransactionKind
from saleor.payment.models import Payment

from saleor_amazonpay.core import BUYER_MESSAGE
from saleor_amazonpay.core.signing import load_public_key, verify

pytestmark = pytest.mark.saleor


def _payment() -> Payment:
    return Payment.objects.get(gateway="saleor.payments.amazonpay", is_active=True)


def test_gateway_is_listed_with_a_signed_button_config(amazonpay, checkout_with_item_and_shipping, emulator):
    found = amazonpay.gateway(checkout_with_item_and_shipping)
    assert found is not None
    config = found["config"]
    assert config["merchantId"] == amazonpay.merchant["merchant_id"]
    assert config["ledgerCurrency"] == "USD" and config["sandbox"] == "true"
    assert config["buttonScriptUrl"] == f"{emulator.url}/_emulator/checkout.js"
    button = json.loads(config["createCheckoutSessionConfig"])
    payload = json.loads(button["payloadJSON"])
    assert payload["storeId"] == amazonpay.merchant["store_id"]
    assert payload["webCheckoutDetails"]["checkoutReviewReturnUrl"].endswith("/checkout/review")
    # The signature covers exactly payloadJSON with the merchant's registered key.
    merchant = emulator.registry.get(amazonpay.merchant["merchant_id"])
    public_key = merchant.keys[amazonpay.merchant["public_key_id"]].public_key
    message = f"{button['algorithm']}\n" + __import__("hashlib").sha256(button["payloadJSON"].encode()).hexdigest()
    assert verify(public_key, button["algorithm"], message, button["signature"])


@pytest.mark.parametrize(
    ("intent", "charge_state", "payment_status", "kind"),
    [
        ("Authorize", "Authorized", ChargeStatus.NOT_CHARGED, TransactionKind.AUTH),
        ("AuthorizeWithCapture", "Captured", ChargeStatus.FULLY_CHARGED, TransactionKind.CAPTURE),
        # Confirm holds no money; it is recorded as an AUTH on the charge permission so
        # that Saleor lets staff charge it later.
        ("Confirm", None, ChargeStatus.NOT_CHARGED, TransactionKind.AUTH),
    ],
)
def test_each_intent_creates_the_order_and_stores_amazon_ids(
    amazonpay, checkout_with_item_and_shipping, intent, charge_state, payment_status, kind
):
    amazonpay.configure(payment_intent=intent)
    checkout = checkout_with_item_and_shipping
    total = amazonpay.gateway_total(checkout)

    result = amazonpay.pay(checkout)

    assert not result.errors, result.errors
    assert result.data["confirmationNeeded"] is False
    order = Order.objects.get(number=result.order["number"])
    payment = order.payments.get()
    assert payment.charge_status == payment_status
    assert payment.transactions.filter(kind=kind, is_success=True).exists()

    objects = amazonpay.objects()
    [session] = objects["checkoutSessions"]
    assert session["statusDetails"]["state"] == "Completed"
    assert Decimal(session["paymentDetails"]["chargeAmount"]["amount"]) == total
    assert payment.metadata["checkoutSessionId"] == session["checkoutSessionId"]
    assert payment.metadata["chargePermissionId"] == session["chargePermissionId"]
    if charge_state is None:
        assert "chargeId" not in payment.metadata
        assert objects["charges"] == []
        assert payment.psp_reference == session["chargePermissionId"]
        assert payment.transactions.get(kind=kind).token == session["chargePermissionId"]
        assert json.loads(payment.private_metadata["amazonpay"])["moneyHeld"] is False
    else:
        [charge] = objects["charges"]
        assert payment.metadata["chargeId"] == charge["chargeId"] == session["chargeId"]
        assert charge["statusDetails"]["state"] == charge_state
        assert payment.psp_reference == charge["chargeId"]
    # What Amazon deletes after 30 days is kept privately.
    private = json.loads(payment.private_metadata["amazonpay"])
    assert private["buyer"]["email"] and private["shippingAddress"]["countryCode"] == "US"
    assert private["paymentIntent"] == intent


def test_happy_path_makes_one_amazon_call_in_the_confirm_step(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    amazonpay.payment_create(checkout, session_id)
    first = amazonpay.complete(checkout)
    assert amazonpay.operations() == ["GetCheckoutSession", "UpdateCheckoutSession"]
    amazonpay.calls.clear()
    returned = amazonpay.buyer_returns_from_amazon(first.data["confirmationData"])
    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})
    assert result.order is not None
    assert amazonpay.operations() == ["CompleteCheckoutSession"]
