"""paymentInitialize: the buyer's Amazon details for the review page, and the
additional-payment-button flow with a payload signed for one checkout."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests

from saleor.order.models import Order

from saleor_amazonpay.core.signing import hex_sha256, verify

pytestmark = pytest.mark.saleor


def _data(response) -> dict:
    assert not response["errors"], response["errors"]
    return json.loads(response["initializedPayment"]["data"])


def test_review_page_reads_buyer_details_in_saleor_address_shape(amazonpay, checkout_with_item_and_shipping):
    session_id = amazonpay.buyer_signs_in(checkout_with_item_and_shipping, address="DE")
    details = _data(amazonpay.initialize({"action": "checkoutSessionDetails", "amazonCheckoutSessionId": session_id}))
    assert details["checkoutSessionId"] == session_id and details["state"] == "Open"
    assert details["buyer"]["email"] and details["buyer"]["name"]
    shipping = details["shippingAddress"]
    assert shipping["country"] == "DE"
    assert shipping["firstName"] and shipping["streetAddress1"] and shipping["postalCode"] and shipping["city"]
    assert details["paymentDescriptor"]


def test_review_page_refuses_a_session_of_another_merchant(amazonpay, checkout_with_item_and_shipping, emulator):
    from saleor_amazonpay.core import AmazonPayClient, AmazonPayConfig

    other, _ = emulator.make_test_merchant("sandbox", "na")
    foreign = AmazonPayClient(AmazonPayConfig(**other))
    button = foreign.generate_button_signature({
        "storeId": other["store_id"], "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://x.example/r"},
    }).as_button_config()
    session_id = amazonpay.buyer_signs_in(checkout_with_item_and_shipping, button=button)
    response = amazonpay.initialize({"action": "checkoutSessionDetails", "amazonCheckoutSessionId": session_id})
    assert response["initializedPayment"] is None
    assert response["errors"][0]["field"] == "paymentData"
    assert "unknown Amazon checkout session" in response["errors"][0]["message"]


def test_invalid_session_id_is_refused_without_calling_amazon(amazonpay):
    response = amazonpay.initialize({"action": "checkoutSessionDetails", "amazonCheckoutSessionId": "../../x"})
    assert response["errors"] and amazonpay.operations() == []


def test_additional_payment_button_pays_in_one_trip(amazonpay, checkout_with_item_and_shipping, emulator):
    checkout = checkout_with_item_and_shipping
    total = amazonpay.gateway_total(checkout)
    options = _data(amazonpay.initialize({"action": "buttonConfig", "checkoutId": amazonpay.checkout_id(checkout)}))
    config = options["createCheckoutSessionConfig"]
    payload = json.loads(config["payloadJSON"])
    assert payload["webCheckoutDetails"]["checkoutMode"] == "ProcessOrder"
    assert Decimal(payload["paymentDetails"]["chargeAmount"]["amount"]) == total
    assert payload["addressDetails"]["countryCode"] == checkout.shipping_address.country.code
    assert options["estimatedOrderAmount"]["amount"] == payload["paymentDetails"]["chargeAmount"]["amount"]
    merchant = emulator.registry.get(amazonpay.merchant["merchant_id"])
    public_key = merchant.keys[amazonpay.merchant["public_key_id"]].public_key
    assert verify(public_key, config["algorithm"], f"{config['algorithm']}\n{hex_sha256(config['payloadJSON'])}",
                  config["signature"])

    # The buyer approves on Amazon and lands on the result page: one checkoutComplete.
    session_id = amazonpay.buyer_signs_in(checkout, button=dict(config, merchantId=options["merchantId"]))
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    amazonpay.calls.clear()
    result = amazonpay.complete(checkout)

    assert result.order is not None, result.errors
    assert result.data["confirmationNeeded"] is False
    assert amazonpay.operations() == ["GetCheckoutSession", "CompleteCheckoutSession"]
    payment = Order.objects.get(number=result.order["number"]).payments.get()
    [charge] = amazonpay.objects()["charges"]
    assert payment.metadata["chargeId"] == charge["chargeId"]


def test_additional_payment_button_refuses_a_cart_changed_after_approval(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    options = _data(amazonpay.initialize({"action": "buttonConfig", "checkoutId": amazonpay.checkout_id(checkout)}))
    session_id = amazonpay.buyer_signs_in(
        checkout, button=dict(options["createCheckoutSessionConfig"], merchantId=options["merchantId"]))
    line = checkout.lines.first()
    line.quantity += 1
    line.save(update_fields=["quantity"])
    from django.utils import timezone

    checkout.price_expiration = timezone.now()
    checkout.save(update_fields=["price_expiration"])
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    result = amazonpay.complete(checkout)
    assert result.order is None and result.errors
    assert amazonpay.objects()["charges"] == []


def test_unknown_checkout_gets_a_clear_error(amazonpay):
    response = amazonpay.initialize({"action": "buttonConfig",
                                     "checkoutId": "Q2hlY2tvdXQ6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"})
    assert response["errors"][0]["message"] == "checkout not found"
