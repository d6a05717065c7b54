"""What buyers and merchants get when an Amazon Pay checkout does not go to plan."""

from __future__ import annotations

import json

import pytest
import requests

from saleor.order.models import Order
from saleor.payment.models import Payment

from saleor_amazonpay.core import BUYER_MESSAGE

pytestmark = pytest.mark.saleor


def _no_order(checkout) -> bool:
    return not Order.objects.filter(checkout_token=str(checkout.token)).exists()


def _start_and_redirect(amazonpay, checkout, **buyer):
    session_id = amazonpay.buyer_signs_in(checkout, **buyer)
    created = amazonpay.payment_create(checkout, session_id)
    assert not created["errors"], created["errors"]
    first = amazonpay.complete(checkout)
    assert first.data["confirmationNeeded"], first.errors
    return session_id, json.loads(first.data["confirmationData"])


def _assert_failed_for_buyer(result, checkout):
    assert result.order is None
    assert [e["message"] for e in result.errors] == [BUYER_MESSAGE]
    assert result.errors[0]["code"] == "PAYMENT_ERROR"
    assert _no_order(checkout)


def test_hard_decline_fails_clearly_charges_nothing_and_the_buyer_can_start_over(
    amazonpay, checkout_with_item_and_shipping
):
    checkout = checkout_with_item_and_shipping
    session_id, confirmation = _start_and_redirect(amazonpay, checkout, instrument="3434")
    returned = amazonpay.buyer_returns_from_amazon(confirmation)

    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})

    _assert_failed_for_buyer(result, checkout)
    objects = amazonpay.objects()
    assert objects["charges"] == [] and objects["chargePermissions"] == []
    [session] = objects["checkoutSessions"]
    assert session["statusDetails"]["state"] == "Canceled"
    # Start over with another instrument: a new session and a new payment.
    retry = amazonpay.pay(checkout, instrument="1111")
    assert retry.order is not None, retry.errors
    paid = Order.objects.get(number=retry.order["number"]).payments.get(is_active=True)
    assert paid.metadata["checkoutSessionId"] != session_id


def test_soft_decline_lets_the_buyer_pick_another_instrument_on_amazon(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    session_id, confirmation = _start_and_redirect(amazonpay, checkout, instrument="0002")
    page = requests.get(confirmation["amazonPayRedirectUrl"], allow_redirects=False, timeout=10)
    assert page.status_code == 200  # Amazon shows its wallet again; no redirect yet
    result_url = amazonpay.emulator.app.buyer_confirm(session_id, instrument="1111")
    assert "amazonCheckoutSessionId=" in result_url

    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": session_id})

    assert result.order is not None, result.errors
    [charge] = amazonpay.objects()["charges"]
    assert charge["statusDetails"]["state"] == "Authorized"


def test_buyer_cancel_on_amazon_fails_without_an_order(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    session_id, confirmation = _start_and_redirect(amazonpay, checkout, instrument="3064")
    amazonpay.buyer_returns_from_amazon(confirmation)
    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": session_id})
    _assert_failed_for_buyer(result, checkout)


def test_pending_authorization_creates_an_order_with_a_pending_payment(amazonpay, checkout_with_item_and_shipping):
    amazonpay.configure(can_handle_pending_authorization=True)
    checkout = checkout_with_item_and_shipping
    result = amazonpay.pay(checkout, instrument="0701")
    assert result.order is not None, result.errors
    assert result.order["paymentStatus"] == "PENDING"
    payment = Order.objects.get(number=result.order["number"]).payments.get()
    assert payment.charge_status == "pending"
    [charge] = amazonpay.objects()["charges"]
    assert charge["statusDetails"]["state"] == "AuthorizationInitiated"
    assert payment.metadata["chargeId"] == charge["chargeId"]


def test_a_would_be_pending_authorization_is_declined_when_the_shop_cannot_wait(
    amazonpay, checkout_with_item_and_shipping
):
    checkout = checkout_with_item_and_shipping
    session_id, confirmation = _start_and_redirect(amazonpay, checkout, instrument="4354")
    amazonpay.buyer_returns_from_amazon(confirmation)
    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": session_id})
    _assert_failed_for_buyer(result, checkout)
    assert amazonpay.objects()["charges"] == []


def test_expired_session_is_refused_before_any_update(amazonpay, checkout_with_item_and_shipping, emulator):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    emulator.app.advance_clock(25 * 3600)  # the fixture puts the clock back afterwards
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    amazonpay.calls.clear()
    result = amazonpay.complete(checkout)
    _assert_failed_for_buyer(result, checkout)
    assert amazonpay.operations() == ["GetCheckoutSession"]


def test_session_of_another_merchant_is_refused(amazonpay, checkout_with_item_and_shipping, emulator):
    checkout = checkout_with_item_and_shipping
    other, _ = emulator.make_test_merchant("sandbox", "na")
    from saleor_amazonpay.core import AmazonPayClient, AmazonPayConfig

    foreign = AmazonPayClient(AmazonPayConfig(**other))
    button = foreign.generate_button_signature({
        "storeId": other["store_id"],
        "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://elsewhere.example.com/review"},
    }).as_button_config()
    session_id = amazonpay.buyer_signs_in(checkout, button=button)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    result = amazonpay.complete(checkout)
    _assert_failed_for_buyer(result, checkout)
    foreign_session = foreign.get_checkout_session(session_id)
    assert foreign_session.charge_amount is None  # we never touched it


def test_session_of_another_store_of_the_same_merchant_is_refused(amazonpay, checkout_with_item_and_shipping, emulator):
    checkout = checkout_with_item_and_shipping
    other_store = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef"
    emulator.registry.get(amazonpay.merchant["merchant_id"]).store_ids.append(other_store)
    from saleor_amazonpay.core import AmazonPayClient, AmazonPayConfig

    same_key = AmazonPayClient(AmazonPayConfig(**amazonpay.merchant))
    button = same_key.generate_button_signature({
        "storeId": other_store,
        "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://elsewhere.example.com/review"},
    }).as_button_config()
    session_id = amazonpay.buyer_signs_in(checkout, button=button)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    amazonpay.calls.clear()
    result = amazonpay.complete(checkout)
    _assert_failed_for_buyer(result, checkout)
    assert amazonpay.operations() == ["GetCheckoutSession"]


def test_amount_must_be_what_saleor_computed_not_what_the_storefront_sent(
    amazonpay, checkout_with_item_and_shipping
):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    # The cart shrinks after the payment was created: the payment now exceeds the
    # total. Saleor accepts over-payment; the plugin must not charge the old figure.
    line = checkout.lines.first()
    line.quantity = 1
    line.save(update_fields=["quantity"])
    from django.utils import timezone

    checkout.price_expiration = timezone.now()
    checkout.save(update_fields=["price_expiration"])
    amazonpay.calls.clear()

    result = amazonpay.complete(checkout)

    _assert_failed_for_buyer(result, checkout)
    assert "UpdateCheckoutSession" not in amazonpay.operations()
    assert amazonpay.objects()["checkoutSessions"][0]["paymentDetails"]["chargeAmount"] is None


def test_a_session_id_that_does_not_match_the_payment_is_refused(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    _, confirmation = _start_and_redirect(amazonpay, checkout)
    amazonpay.buyer_returns_from_amazon(confirmation)
    amazonpay.calls.clear()
    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": "0e5f9bb0-0000-4000-8000-000000000000"})
    _assert_failed_for_buyer(result, checkout)
    assert amazonpay.operations() == []
