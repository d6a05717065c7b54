"""Hostile input: what a buyer, a tampered storefront or a misconfigured shop can send.

Every case must end safely: no Amazon call that could move money for a wrong amount, no
order, no crash that locks the checkout, and the buyer message instead of internals.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from saleor.checkout.models import Checkout
from saleor.order.models import Order
from saleor.payment.models import Payment

from saleor_amazonpay.core import BUYER_MESSAGE, AmazonPayClient, AmazonPayConfig

pytestmark = pytest.mark.saleor

MONEY_OPERATIONS = {"UpdateCheckoutSession", "CompleteCheckoutSession", "CreateCharge", "CaptureCharge",
                    "CreateRefund"}

LINES_UPDATE = """
mutation LinesUpdate($id: ID!, $lines: [CheckoutLineUpdateInput!]!) {
  checkoutLinesUpdate(id: $id, lines: $lines) {
    checkout { totalPrice { gross { amount } } } errors { field code message }
  }
}
"""


def _new_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _no_order(checkout) -> bool:
    return not Order.objects.filter(checkout_token=str(checkout.token)).exists()


def _failed_for_buyer(result) -> bool:
    return result.order is None and result.errors and all(e["message"] == BUYER_MESSAGE for e in result.errors)


def _redirected(amazonpay, checkout) -> str:
    session_id = amazonpay.buyer_signs_in(checkout)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    first = amazonpay.complete(checkout)
    assert first.data["confirmationNeeded"], first.errors
    return amazonpay.buyer_returns_from_amazon(first.data["confirmationData"])


# -- signatures ------------------------------------------------------------------------------


def test_requests_signed_with_the_wrong_key_are_rejected_and_fail_safely(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    # Same public key id, another private key: Amazon cannot verify a single request.
    amazonpay.configure(private_key=_new_private_key())
    amazonpay.calls.clear()

    result = amazonpay.complete(checkout)

    assert _failed_for_buyer(result), result.errors
    assert [(c.operation, c.status, c.error) for c in amazonpay.calls] == [
        ("GetCheckoutSession", 403, "InvalidRequestSignature")]
    [session] = amazonpay.objects()["checkoutSessions"]
    assert session["paymentDetails"]["chargeAmount"] is None
    assert _no_order(checkout)


def test_a_key_rotated_away_between_redirect_and_return_charges_nothing_until_fixed(
    amazonpay, checkout_with_item_and_shipping
):
    checkout = checkout_with_item_and_shipping
    returned = _redirected(amazonpay, checkout)
    good_key = amazonpay.merchant["private_key"]
    amazonpay.configure(private_key=_new_private_key())

    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})

    assert _failed_for_buyer(result), result.errors
    objects = amazonpay.objects()
    assert objects["charges"] == [] and objects["checkoutSessions"][0]["statusDetails"]["state"] == "Open"
    amazonpay.configure(private_key=good_key)
    retry = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})
    assert retry.order is not None, retry.errors
    assert len(amazonpay.objects()["charges"]) == 1


# -- sessions of someone else ------------------------------------------------------------------


def _foreign_session(emulator, *, same_merchant_of: "dict | None" = None) -> str:
    """A checkout session a buyer approved for another shop (another merchant, or another
    store of the same merchant)."""
    if same_merchant_of is None:
        other, _ = emulator.make_test_merchant("sandbox", "na")
        store_id = other["store_id"]
    else:
        other = same_merchant_of
        store_id = "amzn1.application-oa2-client.fedcba9876543210fedcba9876543210"
        emulator.registry.get(other["merchant_id"]).store_ids.append(store_id)
    client = AmazonPayClient(AmazonPayConfig(**dict(other, base_url=emulator.url)))
    button = client.generate_button_signature({
        "storeId": store_id,
        "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://elsewhere.example.com/review"},
    }).as_button_config()
    import requests

    response = requests.post(f"{emulator.url}/_emulator/buyer/signin", json=dict(button, merchantId=other["merchant_id"]),
                             timeout=10)
    assert response.status_code == 201, response.text
    session_id = response.json()["checkoutSessionId"]
    emulator.app.buyer_approve(session_id, name="Foreign Buyer", email="foreign.buyer@example.org")
    return session_id


@pytest.mark.parametrize("whose", ["another merchant", "another store of this merchant"])
def test_review_page_details_of_someone_elses_session_are_not_disclosed(amazonpay, emulator, whose):
    session_id = _foreign_session(emulator, same_merchant_of=amazonpay.merchant if whose != "another merchant" else None)
    data = amazonpay.initialize({"action": "checkoutSessionDetails", "amazonCheckoutSessionId": session_id})
    assert data["initializedPayment"] is None
    assert data["errors"]
    text = json.dumps(data)
    assert "Foreign Buyer" not in text and "foreign.buyer@example.org" not in text


def test_a_foreign_session_as_the_return_parameter_is_refused(amazonpay, emulator, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    _redirected(amazonpay, checkout)
    foreign = _foreign_session(emulator)
    amazonpay.calls.clear()
    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": foreign})
    assert _failed_for_buyer(result), result.errors
    assert amazonpay.calls == []
    assert amazonpay.objects()["charges"] == []


# -- tampered amounts and currencies ------------------------------------------------------------


@pytest.mark.parametrize("delta", [Decimal("0.01"), Decimal("1000.00")])
def test_an_over_payment_is_refused_before_amazon_is_asked_to_charge(amazonpay, checkout_with_item_and_shipping, delta):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    total = amazonpay.gateway_total(checkout)
    created = amazonpay.payment_create(checkout, session_id, amount=total + delta)
    amazonpay.calls.clear()
    if created["errors"]:
        # Saleor itself refuses (PARTIAL_PAYMENT_NOT_ALLOWED) when the amount is sent.
        assert created["errors"][0]["code"] == "PARTIAL_PAYMENT_NOT_ALLOWED"
        # A payment created without an amount and then changed (a storefront bug or a
        # tampered row) is refused by the plugin.
        assert not amazonpay.payment_create(checkout, session_id)["errors"]
        Payment.objects.filter(checkout=checkout, is_active=True).update(total=total + delta)
    result = amazonpay.complete(checkout)
    assert _failed_for_buyer(result), result.errors
    assert not MONEY_OPERATIONS & set(amazonpay.operations())
    assert amazonpay.objects()["checkoutSessions"][0]["paymentDetails"]["chargeAmount"] is None


def test_an_under_payment_never_reaches_amazon(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    total = amazonpay.gateway_total(checkout)
    created = amazonpay.payment_create(checkout, session_id, amount=total - Decimal("0.01"))
    amazonpay.calls.clear()
    if not created["errors"]:
        result = amazonpay.complete(checkout)
        assert result.order is None and result.errors
    assert not MONEY_OPERATIONS & set(amazonpay.operations())
    assert _no_order(checkout)


def _set_quantity(amazonpay, checkout, quantity: int) -> Decimal:
    import graphene

    line = checkout.lines.first()
    data = amazonpay.gql(LINES_UPDATE, {"id": amazonpay.checkout_id(checkout), "lines": [
        {"lineId": graphene.Node.to_global_id("CheckoutLine", line.pk), "quantity": quantity}]})["checkoutLinesUpdate"]
    assert not data["errors"], data["errors"]
    return Decimal(str(data["checkout"]["totalPrice"]["gross"]["amount"]))


def test_a_cart_shrunk_while_the_buyer_was_on_amazon_is_not_charged_the_old_total(
    amazonpay, checkout_with_item_and_shipping
):
    checkout = checkout_with_item_and_shipping
    returned = _redirected(amazonpay, checkout)
    approved = Decimal(amazonpay.objects()["checkoutSessions"][0]["paymentDetails"]["chargeAmount"]["amount"])
    # Another tab removes items after the buyer approved the old total on Amazon.
    smaller = _set_quantity(amazonpay, checkout, 1)
    assert smaller < approved
    amazonpay.calls.clear()

    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})

    assert result.order is None, "an order was created for less than Amazon charged"
    assert _failed_for_buyer(result), result.errors
    assert "CompleteCheckoutSession" not in amazonpay.operations()
    objects = amazonpay.objects()
    assert objects["charges"] == [] and objects["checkoutSessions"][0]["statusDetails"]["state"] == "Open"
    # The buyer starts over and pays the new total.
    retry = amazonpay.pay(checkout)
    assert retry.order is not None, retry.errors
    charges = [c for c in amazonpay.objects()["charges"] if c["statusDetails"]["state"] == "Authorized"]
    assert [Decimal(c["chargeAmount"]["amount"]) for c in charges] == [smaller]


def test_a_cart_grown_while_the_buyer_was_on_amazon_is_not_completed(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    returned = _redirected(amazonpay, checkout)
    _set_quantity(amazonpay, checkout, 5)
    amazonpay.calls.clear()
    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})
    assert result.order is None and result.errors
    assert "CompleteCheckoutSession" not in amazonpay.operations()
    assert amazonpay.objects()["charges"] == []


def test_gift_cards_are_deducted_and_the_total_before_them_is_refused(
    amazonpay, checkout_with_item_and_shipping, gift_card
):
    checkout = checkout_with_item_and_shipping
    before = amazonpay.gateway_total(checkout)
    checkout.gift_cards.add(gift_card)  # 10.00 USD
    total = amazonpay.gateway_total(checkout)  # Saleor's totalPrice deducts gift cards
    assert total == before - Decimal("10.00")
    session_id = amazonpay.buyer_signs_in(checkout)
    # A storefront that charges the total before the gift card: refused, nothing updated.
    created = amazonpay.payment_create(checkout, session_id, amount=before)
    if created["errors"]:
        assert not amazonpay.payment_create(checkout, session_id)["errors"]
        Payment.objects.filter(checkout=checkout, is_active=True).update(total=before)
    amazonpay.calls.clear()
    refused = amazonpay.complete(checkout)
    assert _failed_for_buyer(refused), refused.errors
    assert "UpdateCheckoutSession" not in amazonpay.operations()
    # Saleor's own figure, the total minus the gift card, is what Amazon is asked to charge.
    assert not amazonpay.payment_create(checkout, session_id, amount=total)["errors"]
    first = amazonpay.complete(checkout)
    assert first.data["confirmationNeeded"], first.errors
    returned = amazonpay.buyer_returns_from_amazon(first.data["confirmationData"])
    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})
    assert result.order is not None, result.errors
    [charge] = amazonpay.objects()["charges"]
    assert Decimal(charge["chargeAmount"]["amount"]) == total


def test_a_payment_currency_tampered_in_the_database_is_refused(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    Payment.objects.filter(checkout=checkout).update(currency="EUR")
    amazonpay.calls.clear()
    result = amazonpay.complete(checkout)
    assert result.order is None and result.errors
    assert not MONEY_OPERATIONS & set(amazonpay.operations())


def test_amounts_and_currencies_in_payment_data_are_ignored(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    forged = {"amount": "0.01", "currency": "JPY", "chargeAmount": {"amount": "0.01", "currencyCode": "JPY"},
              "paymentIntent": "AuthorizeWithCapture"}
    first = amazonpay.complete(checkout, forged)
    assert first.data["confirmationNeeded"], first.errors
    returned = amazonpay.buyer_returns_from_amazon(first.data["confirmationData"])
    result = amazonpay.complete(checkout, dict(forged, amazonCheckoutSessionId=returned))
    assert result.order is not None, result.errors
    [charge] = amazonpay.objects()["charges"]
    assert Decimal(charge["chargeAmount"]["amount"]) == Decimal(str(result.order["total"]["gross"]["amount"]))
    assert charge["chargeAmount"]["currencyCode"] == "USD"
    assert charge["statusDetails"]["state"] == "Authorized"  # the shop's intent, not the payload's


# -- oversized and malformed payloads -------------------------------------------------------------

BAD_SESSION_IDS = [
    "short",
    "../../charges/S01-0000000-0000000-C000000",
    "0e5f9bb0-0000-4000-8000-000000000000/complete",
    "x' OR '1'='1",
    "abc\r\nx-amz-pay-idempotency-key: 1",
    "ｓｅｓｓｉｏｎ－ｉｄ－ｆｕｌｌｗｉｄｔｈ",
    "A" * 129,
    "%2e%2e%2fcharges",
]


@pytest.mark.parametrize("token", BAD_SESSION_IDS, ids=range(len(BAD_SESSION_IDS)))
def test_malformed_session_ids_never_reach_amazon(amazonpay, checkout_with_item_and_shipping, token):
    checkout = checkout_with_item_and_shipping
    created = amazonpay.payment_create(checkout, token)
    amazonpay.calls.clear()
    if not created["errors"]:
        result = amazonpay.complete(checkout)
        assert _failed_for_buyer(result), result.errors
    assert amazonpay.calls == []
    assert _no_order(checkout)


def test_a_huge_token_never_reaches_amazon(amazonpay, checkout_with_item_and_shipping):
    from amazonpay_fixtures import PAYMENT_CREATE

    checkout = checkout_with_item_and_shipping
    amazonpay.calls.clear()
    # Saleor stores the token before any plugin hook runs; a token longer than its column
    # (512) fails inside Saleor (GraphQL "Internal Server Error", DataError).
    response = amazonpay.api_client.post_graphql(PAYMENT_CREATE, {
        "id": amazonpay.checkout_id(checkout), "token": "S" * 100_000,
        "amount": str(amazonpay.gateway_total(checkout))})
    content = response.json()
    created = (content.get("data") or {}).get("checkoutPaymentCreate") or {}
    assert content.get("errors") or created.get("errors")
    result = amazonpay.complete(checkout)
    assert result.order is None and result.errors
    assert amazonpay.calls == []


@pytest.mark.parametrize("payment_data", [
    {"amazonCheckoutSessionId": "A" * 1_000_000},
    {"amazonCheckoutSessionId": None, "junk": ["x" * 1000] * 200},
    {"amazonCheckoutSessionId": {"nested": {"deeper": [1, 2, 3]}}},
    {"amazonCheckoutSessionId": 12345},
    ["amazonCheckoutSessionId"],
    "amazonCheckoutSessionId",
    12345,
], ids=["1MB-string", "junk-keys", "nested-object", "number", "list", "string", "bare-number"])
def test_malformed_payment_data_at_confirmation_fails_safely_and_the_buyer_can_retry(
    amazonpay, checkout_with_item_and_shipping, payment_data, caplog
):
    checkout = checkout_with_item_and_shipping
    returned = _redirected(amazonpay, checkout)
    amazonpay.calls.clear()
    result = amazonpay.complete(checkout, payment_data)
    # Buyer input is handled, not crashed on (a crash is logged with a traceback as ERROR).
    assert not [r for r in caplog.records if r.name.startswith("saleor_amazonpay") and r.levelname == "ERROR"]
    if result.order is None:
        assert result.errors
        # Nothing was completed on a malformed request, and the checkout is not locked.
        assert amazonpay.objects()["charges"] == []
        retry = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})
        assert retry.order is not None, retry.errors
    assert len(amazonpay.objects()["charges"]) == 1


@pytest.mark.parametrize("data", [
    {"action": "checkoutSessionDetails", "amazonCheckoutSessionId": "A" * 1_000_000},
    {"action": "checkoutSessionDetails", "amazonCheckoutSessionId": "../../charges/x"},
    {"action": "checkoutSessionDetails", "amazonCheckoutSessionId": ["a"]},
    {"action": "buttonConfig", "checkoutId": "not-a-checkout-" + "x" * 10_000},
    {"action": "no-such-action"},
], ids=["1MB-id", "path", "list", "bad-checkout-id", "unknown-action"])
def test_malformed_payment_initialize_requests_are_refused(amazonpay, data):
    amazonpay.calls.clear()
    result = amazonpay.initialize(data)
    assert result["initializedPayment"] is None and result["errors"]
    assert amazonpay.calls == []


# -- unicode everywhere ----------------------------------------------------------------------------

STORE_NAME = "Café Zürich — 東京店 🛒"
SOFT_DESCRIPTOR = "Café Zürich 東京"
BUYER_NAME = "Zoë Ünïcødé-山田 🚀"
BUYER_EMAIL = "zoë.山田@exämple.com"


def test_unicode_in_every_text_field_round_trips(amazonpay, staff_client, checkout_with_item_and_shipping, emulator):
    amazonpay.configure(merchant_store_name=STORE_NAME, soft_descriptor=SOFT_DESCRIPTOR,
                        payment_intent="AuthorizeWithCapture")
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    # The buyer's Amazon account has a unicode name and email and a Japanese address.
    emulator.app.buyer_approve(session_id, name=BUYER_NAME, email=BUYER_EMAIL, address="JP")
    details = amazonpay.initialize({"action": "checkoutSessionDetails", "amazonCheckoutSessionId": session_id})
    assert not details["errors"], details["errors"]
    shown = json.loads(details["initializedPayment"]["data"]) if isinstance(
        details["initializedPayment"]["data"], str) else details["initializedPayment"]["data"]
    assert shown["buyer"]["name"] == BUYER_NAME and shown["buyer"]["email"] == BUYER_EMAIL
    assert shown["shippingAddress"]["city"] == "千代田区"

    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    first = amazonpay.complete(checkout)
    assert first.data["confirmationNeeded"], first.errors
    returned = amazonpay.buyer_returns_from_amazon(first.data["confirmationData"])
    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})
    assert result.order is not None, result.errors

    objects = amazonpay.objects()
    [session] = objects["checkoutSessions"]
    assert session["merchantMetadata"]["merchantStoreName"] == STORE_NAME
    [charge] = objects["charges"]
    assert charge["softDescriptor"] in (SOFT_DESCRIPTOR, None)
    payment = Order.objects.get(number=result.order["number"]).payments.get()
    stored = json.loads(payment.private_metadata["amazonpay"])
    assert stored["buyer"]["name"] == BUYER_NAME and stored["buyer"]["email"] == BUYER_EMAIL
    assert stored["shippingAddress"]["addressLine1"] == "丸の内1-1-1"
