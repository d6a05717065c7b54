"""Amazon Pay through Saleor's Transactions API, on a real Saleor, through GraphQL.

paymentGatewayInitialize -> transactionInitialize -> (buyer on Amazon) -> transactionProcess
-> checkoutComplete, then transactionRequestAction / granted refunds from the dashboard.
Saleor's WebhookPlugin is installed in front of this package's plugins, as in production.
"""

from __future__ import annotations

import hashlib
import json
import logging
from decimal import Decimal

import graphene
import pytest
from django.core.management import CommandError, call_command

from saleor.app.models import App, AppToken
from saleor.order.models import Order
from saleor.payment import TransactionEventType
from saleor.payment.models import TransactionEvent, TransactionItem
from saleor.webhook.models import Webhook

from saleor_amazonpay.core import BUYER_MESSAGE
from saleor_amazonpay.core.signing import verify
from saleor_amazonpay.plugin import app_identity, saleor_data, transactions
from saleor_amazonpay.plugin.consts import PLUGIN_ID

from transactions_fixtures import amount, item_of, metadata, set_flow, tx_id

pytestmark = pytest.mark.saleor

STRAY_CAUSE = "Cannot find a webhook that can process the action."


def _events(item: TransactionItem) -> "list[tuple[str, str | None, Decimal]]":
    return [(e.type, e.psp_reference, e.amount_value) for e in item.events.order_by("created_at", "pk")]


def _charges(tx) -> dict:
    return {c["chargeId"]: c for c in tx.objects()["charges"]}


# -- the App identity --------------------------------------------------------------------------


def test_install_command_registers_a_least_privilege_identity_and_is_idempotent(db, capsys):
    call_command("amazonpay_install_app")
    call_command("amazonpay_install_app")
    [app] = App.objects.filter(identifier=PLUGIN_ID)
    assert app.name == "Amazon Pay" and app.is_active and app.removed_at is None
    assert sorted(app.get_permissions()) == ["payment.handle_payments"]
    assert not app.tokens.exists() and not app.webhooks.exists()
    out = capsys.readouterr().out
    assert "Installed the Amazon Pay app identity" in out and "already installed" in out

    # Somebody widened it: running the command again restores least privilege.
    from saleor.permission.models import Permission

    app.permissions.add(Permission.objects.get(codename="manage_orders"))
    AppToken.objects.create(app=app, name="leaked")
    Webhook.objects.create(app=app, name="w", target_url="https://example.com/hook")
    app.is_active = False
    app.save(update_fields=["is_active"])
    call_command("amazonpay_install_app")
    app.refresh_from_db()
    assert app.is_active and sorted(app.get_permissions()) == ["payment.handle_payments"]
    assert not app.tokens.exists() and not app.webhooks.exists()
    assert "Repaired" in capsys.readouterr().out

    call_command("amazonpay_install_app", "--check")
    assert "installed" in capsys.readouterr().out
    call_command("amazonpay_install_app", "--uninstall")
    assert not App.objects.filter(identifier=PLUGIN_ID).exists()
    with pytest.raises(CommandError, match="amazonpay_install_app"):
        call_command("amazonpay_install_app", "--check")


def test_the_companion_plugin_is_hidden_from_merchants(amazonpay_tx, staff_client):
    query = "{ plugins(first: 50) { edges { node { id } } } }"
    data = amazonpay_tx.gql(query, {}, client=staff_client)
    ids = {edge["node"]["id"] for edge in data["plugins"]["edges"]}
    assert PLUGIN_ID in ids
    assert "saleor.payments.amazonpay.transactions" not in ids


# -- paymentGatewayInitialize ------------------------------------------------------------------------


def test_gateway_initialize_returns_a_button_signed_for_this_checkout(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD, emulator
):
    checkout = checkout_with_item_and_shipping
    set_flow(channel_USD, "authorization")
    total = amazonpay_tx.gateway_total(checkout)

    data = amazonpay_tx.amazon_config(checkout)

    assert data["merchantId"] == amazonpay_tx.merchant["merchant_id"]
    assert data["checkoutMode"] == "ProcessOrder" and data["paymentIntent"] == "Authorize"
    assert Decimal(data["amount"]) == total and data["currency"] == "USD"
    assert data["buttonScriptUrl"] == f"{emulator.url}/_emulator/checkout.js"
    button = data["createCheckoutSessionConfig"]
    payload = json.loads(button["payloadJSON"])
    assert payload["webCheckoutDetails"]["checkoutMode"] == "ProcessOrder"
    assert payload["paymentDetails"]["chargeAmount"] == {"amount": f"{total:.2f}", "currencyCode": "USD"}
    assert payload["paymentDetails"]["paymentIntent"] == "Authorize"
    assert payload["merchantMetadata"]["merchantReferenceId"] == str(checkout.token)
    address = checkout.shipping_address
    assert payload["addressDetails"]["postalCode"] == address.postal_code
    assert payload["addressDetails"]["countryCode"] == address.country.code
    merchant = emulator.registry.get(amazonpay_tx.merchant["merchant_id"])
    public_key = merchant.keys[amazonpay_tx.merchant["public_key_id"]].public_key
    message = f"{button['algorithm']}\n" + hashlib.sha256(button["payloadJSON"].encode()).hexdigest()
    assert verify(public_key, button["algorithm"], message, button["signature"])
    review = json.loads(data["reviewCheckoutSessionConfig"]["payloadJSON"])
    assert review["webCheckoutDetails"]["checkoutReviewReturnUrl"].endswith("/checkout/review")


def test_gateway_initialize_leaves_other_gateways_to_saleor(amazonpay_tx, checkout_with_item_and_shipping):
    result = amazonpay_tx.gateway_initialize(checkout_with_item_and_shipping, gateways=[{"id": "other.payment.app"}])
    [config] = result["gatewayConfigs"]
    assert config["id"] == "other.payment.app" and config["data"] is None
    assert "not found" in config["errors"][0]["message"]  # Saleor's own answer, untouched
    # Without a filter Amazon Pay is offered next to whatever else answers.
    everything = amazonpay_tx.gateway_initialize(checkout_with_item_and_shipping, gateways=[])
    assert [c["id"] for c in everything["gatewayConfigs"]] == [PLUGIN_ID]


def test_gateway_initialize_refuses_an_amount_saleor_did_not_compute(amazonpay_tx, checkout_with_item_and_shipping):
    result = amazonpay_tx.gateway_initialize(checkout_with_item_and_shipping, amount=Decimal("1.00"))
    [config] = result["gatewayConfigs"]
    assert config["data"] is None and "differs from the amount due" in config["errors"][0]["message"]


def test_missing_app_identity_is_reported_with_the_install_command(
    amazonpay_tx, checkout_with_item_and_shipping, caplog
):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay_tx.buyer_signs_in(checkout, button=amazonpay_tx.review_button(checkout))
    app_identity.uninstall()

    with caplog.at_level(logging.ERROR, logger="saleor_amazonpay.transactions"):
        result = amazonpay_tx.gateway_initialize(checkout)
    [config] = result["gatewayConfigs"]
    assert config["data"] is None
    assert "python manage.py amazonpay_install_app" in config["errors"][0]["message"]
    assert any("amazonpay_install_app" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    # Saleor refuses transactionInitialize itself before any plugin runs; its message is fixed.
    started = amazonpay_tx.initialize(checkout, session_id)
    assert started["transaction"] is None
    assert started["errors"][0]["code"] == "NOT_FOUND"
    assert "App with provided identifier not found" in started["errors"][0]["message"]
    assert amazonpay_tx.objects()["checkoutSessions"][0]["paymentDetails"]["chargeAmount"] is None


# -- transactionInitialize / transactionProcess / checkoutComplete ----------------------------------


@pytest.mark.parametrize(
    ("flow", "plugin_intent", "amazon_intent", "result", "charge_state"),
    [
        ("authorization", "Authorize", "Authorize", "AUTHORIZATION", "Authorized"),
        ("charge", "AuthorizeWithCapture", "AuthorizeWithCapture", "CHARGE", "Captured"),
        # Saleor's requested action wins: CHARGE captures even if the channel says Authorize.
        ("charge", "Authorize", "AuthorizeWithCapture", "CHARGE", "Captured"),
        # Confirm: only the payment method is saved; the charge permission is the reference.
        ("authorization", "Confirm", "Confirm", "AUTHORIZATION", None),
    ],
)
def test_each_intent_pays_and_checkout_complete_creates_the_order(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD, flow, plugin_intent, amazon_intent, result,
    charge_state,
):
    amazonpay_tx.configure(payment_intent=plugin_intent)
    set_flow(channel_USD, flow)
    checkout = checkout_with_item_and_shipping
    total = amazonpay_tx.gateway_total(checkout)
    session_id = amazonpay_tx.buyer_signs_in(checkout, button=amazonpay_tx.review_button(checkout))
    amazonpay_tx.calls.clear()

    started = amazonpay_tx.initialize(checkout, session_id)

    assert not started["errors"], started["errors"]
    assert started["transactionEvent"]["type"] == f"{result}_ACTION_REQUIRED"
    assert started["transactionEvent"]["pspReference"] == session_id
    assert started["data"]["checkoutSessionId"] == session_id
    assert started["data"]["amazonPayRedirectUrl"].startswith(amazonpay_tx.emulator.url)
    assert amazonpay_tx.operations() == ["GetCheckoutSession", "UpdateCheckoutSession"]
    [session] = amazonpay_tx.objects()["checkoutSessions"]
    assert Decimal(session["paymentDetails"]["chargeAmount"]["amount"]) == total
    assert session["paymentDetails"]["paymentIntent"] == amazon_intent
    assert session["merchantMetadata"]["merchantReferenceId"] == str(checkout.token)

    returned = amazonpay_tx.buyer_returns_from_amazon(started["data"])
    amazonpay_tx.calls.clear()
    processed = amazonpay_tx.process(started["transaction"]["id"], {"amazonCheckoutSessionId": returned})

    assert not processed["errors"], processed["errors"]
    assert amazonpay_tx.operations() == ["CompleteCheckoutSession"]
    objects = amazonpay_tx.objects()
    [session] = objects["checkoutSessions"]
    [permission] = objects["chargePermissions"]
    event = processed["transactionEvent"]
    assert event["type"] == f"{result}_SUCCESS" and amount(event["amount"]) == total
    transaction = processed["transaction"]
    meta = metadata(transaction)
    assert meta["checkoutSessionId"] == session_id
    assert meta["chargePermissionId"] == permission["chargePermissionId"] == session["chargePermissionId"]
    if charge_state is None:
        assert objects["charges"] == [] and "chargeId" not in meta
        assert transaction["pspReference"] == permission["chargePermissionId"]
    else:
        [charge] = objects["charges"]
        assert charge["statusDetails"]["state"] == charge_state
        assert meta["chargeId"] == charge["chargeId"] == transaction["pspReference"] == event["pspReference"]
    assert transaction["name"] == "Amazon Pay"
    assert transaction["paymentMethodDetails"]["name"].startswith("Amazon Pay")
    if result == "AUTHORIZATION":
        assert amount(transaction["authorizedAmount"]) == total and amount(transaction["chargedAmount"]) == 0
        assert sorted(transaction["actions"]) == ["CANCEL", "CHARGE"]
    else:
        assert amount(transaction["chargedAmount"]) == total and amount(transaction["authorizedAmount"]) == 0
        assert transaction["actions"] == ["REFUND"]
    # What Amazon forgets after 30 days is kept privately on the transaction.
    private = json.loads(item_of(transaction).private_metadata["amazonpay"])
    assert private["buyer"]["email"] and private["paymentIntent"] == amazon_intent

    completed = amazonpay_tx.checkout_complete(checkout)

    assert not completed["errors"], completed["errors"]
    order = Order.objects.get(number=completed["order"]["number"])
    item = order.payment_transactions.get()
    assert item.app_identifier == PLUGIN_ID and item.metadata["chargePermissionId"] == permission["chargePermissionId"]
    if result == "AUTHORIZATION":
        assert completed["order"]["authorizeStatus"] == "FULL" and completed["order"]["chargeStatus"] == "NONE"
    else:
        assert completed["order"]["chargeStatus"] == "FULL"
    ids = saleor_data.amazon_ids_for_order(order)
    assert ids.source == "transaction" and ids.object == item
    assert ids.charge_permission_id == permission["chargePermissionId"]
    assert ids.charge_id == (None if charge_state is None else objects["charges"][0]["chargeId"])


def test_additional_payment_button_pays_in_one_trip_without_a_redirect(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD
):
    set_flow(channel_USD, "authorization")
    checkout = checkout_with_item_and_shipping
    data = amazonpay_tx.amazon_config(checkout)
    button = dict(data["createCheckoutSessionConfig"], merchantId=data["merchantId"])
    session_id = amazonpay_tx.buyer_signs_in(checkout, button=button)  # approves amount and address on Amazon
    amazonpay_tx.calls.clear()

    started = amazonpay_tx.initialize(checkout, session_id)

    assert not started["errors"], started["errors"]
    assert started["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    assert amazonpay_tx.operations() == ["GetCheckoutSession", "CompleteCheckoutSession"]
    [charge] = amazonpay_tx.objects()["charges"]
    assert started["transaction"]["pspReference"] == charge["chargeId"]
    completed = amazonpay_tx.checkout_complete(checkout)
    assert not completed["errors"], completed["errors"]
    assert completed["order"]["authorizeStatus"] == "FULL"


def test_decline_fails_for_the_buyer_and_a_new_amazon_checkout_succeeds(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD
):
    set_flow(channel_USD, "authorization")
    checkout = checkout_with_item_and_shipping

    declined = amazonpay_tx.authorize(checkout, instrument="3434")

    assert not declined["errors"], declined["errors"]
    event = declined["transactionEvent"]
    assert event["type"] == "AUTHORIZATION_FAILURE" and event["message"] == BUYER_MESSAGE
    assert amount(declined["transaction"]["authorizedAmount"]) == 0
    objects = amazonpay_tx.objects()
    assert objects["charges"] == [] and objects["chargePermissions"] == []
    # The merchant's reason is kept privately, never shown to the buyer.
    assert "canceled" in json.loads(item_of(declined["transaction"]).private_metadata["amazonpay"])["lastError"]
    not_paid = amazonpay_tx.checkout_complete(checkout)
    assert not_paid["order"] is None and not_paid["errors"][0]["code"] == "CHECKOUT_NOT_FULLY_PAID"

    retry = amazonpay_tx.authorize(checkout, instrument="1111")

    assert retry["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    completed = amazonpay_tx.checkout_complete(checkout)
    assert completed["order"] is not None, completed["errors"]
    order = Order.objects.get(number=completed["order"]["number"])
    assert order.payment_transactions.count() == 2
    assert saleor_data.amazon_ids_for_order(order).object.token == item_of(retry["transaction"]).token


def test_pending_authorization_is_recorded_pending_and_settled_later(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD, emulator
):
    amazonpay_tx.configure(can_handle_pending_authorization=True)
    set_flow(channel_USD, "authorization")
    checkout = checkout_with_item_and_shipping
    total = amazonpay_tx.gateway_total(checkout)

    processed = amazonpay_tx.authorize(checkout, instrument="0701")

    [charge] = amazonpay_tx.objects()["charges"]
    assert charge["statusDetails"]["state"] == "AuthorizationInitiated"
    assert processed["transactionEvent"]["type"] == "AUTHORIZATION_REQUEST"
    assert processed["transactionEvent"]["pspReference"] == charge["chargeId"]
    transaction = processed["transaction"]
    assert amount(transaction["authorizePendingAmount"]) == total and amount(transaction["authorizedAmount"]) == 0
    # Saleor counts pending authorizations: the order can be placed.
    completed = amazonpay_tx.checkout_complete(checkout)
    assert completed["order"] is not None, completed["errors"]
    order = Order.objects.get(number=completed["order"]["number"])

    item = order.payment_transactions.get()
    assert transactions.refresh_from_amazon(item) is None  # Amazon has not decided yet
    emulator.app.advance_clock(31)
    assert transactions.refresh_from_amazon(item) == TransactionEventType.AUTHORIZATION_SUCCESS
    assert transactions.refresh_from_amazon(item) is None  # nothing pending any more

    item.refresh_from_db()
    order.refresh_from_db()
    assert item.authorized_value == total and item.authorize_pending_value == 0
    assert order.authorize_status == "full"


def test_repeated_transaction_process_never_completes_twice(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD
):
    set_flow(channel_USD, "authorization")
    checkout = checkout_with_item_and_shipping
    first = amazonpay_tx.authorize(checkout)
    amazonpay_tx.calls.clear()

    again = amazonpay_tx.process(first["transaction"]["id"], {"amazonCheckoutSessionId":
                                                              metadata(first["transaction"])["checkoutSessionId"]})

    assert not again["errors"], again["errors"]
    assert again["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
    assert amazonpay_tx.operations() == []
    assert len(amazonpay_tx.objects()["charges"]) == 1
    item = item_of(first["transaction"])
    assert [t for t, _, _ in _events(item)].count(TransactionEventType.AUTHORIZATION_SUCCESS) == 1


def test_unknown_outcome_of_complete_is_never_a_failure_and_the_retry_reads_first(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD, emulator
):
    set_flow(channel_USD, "authorization")
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay_tx.buyer_signs_in(checkout, button=amazonpay_tx.review_button(checkout))
    started = amazonpay_tx.initialize(checkout, session_id)
    amazonpay_tx.buyer_returns_from_amazon(started["data"])
    # Complete commits at Amazon but its answer is lost, and Amazon stays unreachable.
    emulator.app.add_fault("drop-response", "CompleteCheckoutSession")
    emulator.app.add_fault("503", "GetCheckoutSession", count=10)
    amazonpay_tx.calls.clear()

    uncertain = amazonpay_tx.process(started["transaction"]["id"])

    assert uncertain["transactionEvent"]["type"] == "AUTHORIZATION_ACTION_REQUIRED"
    assert uncertain["data"]["retry"] is True
    assert amount(uncertain["transaction"]["authorizedAmount"]) == 0
    emulator.app.faults.clear()
    amazonpay_tx.calls.clear()

    retried = amazonpay_tx.process(started["transaction"]["id"])

    assert retried["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS", retried
    # Read before deciding: no second Complete.
    assert amazonpay_tx.operations() == ["GetCheckoutSession", "GetCharge"]
    [charge] = amazonpay_tx.objects()["charges"]
    assert retried["transaction"]["pspReference"] == charge["chargeId"]
    assert amazonpay_tx.checkout_complete(checkout)["order"] is not None


def test_process_before_the_buyer_confirmed_asks_for_the_redirect_again(
    amazonpay_tx, checkout_with_item_and_shipping
):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay_tx.buyer_signs_in(checkout, button=amazonpay_tx.review_button(checkout))
    started = amazonpay_tx.initialize(checkout, session_id)

    early = amazonpay_tx.process(started["transaction"]["id"])

    assert early["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
    assert early["data"]["amazonPayRedirectUrl"] == started["data"]["amazonPayRedirectUrl"]
    amazonpay_tx.buyer_returns_from_amazon(early["data"])
    done = amazonpay_tx.process(started["transaction"]["id"])
    assert done["transactionEvent"]["type"] == "CHARGE_SUCCESS"


def test_amount_must_be_what_saleor_computed(amazonpay_tx, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay_tx.buyer_signs_in(checkout, button=amazonpay_tx.review_button(checkout))
    amazonpay_tx.calls.clear()

    started = amazonpay_tx.initialize(checkout, session_id, amount=Decimal("1.00"))

    assert started["transactionEvent"]["type"] == "CHARGE_FAILURE"
    assert started["transactionEvent"]["message"] == BUYER_MESSAGE
    assert amazonpay_tx.operations() == []
    assert amazonpay_tx.objects()["checkoutSessions"][0]["paymentDetails"]["chargeAmount"] is None


def test_cart_changed_while_the_buyer_was_on_amazon_is_not_charged(
    amazonpay_tx, checkout_with_item_and_shipping
):
    from django.utils import timezone

    checkout = checkout_with_item_and_shipping
    session_id = amazonpay_tx.buyer_signs_in(checkout, button=amazonpay_tx.review_button(checkout))
    started = amazonpay_tx.initialize(checkout, session_id)
    amazonpay_tx.buyer_returns_from_amazon(started["data"])
    line = checkout.lines.first()
    line.quantity += 1
    line.save(update_fields=["quantity"])
    checkout.price_expiration = timezone.now()
    checkout.save(update_fields=["price_expiration"])
    amazonpay_tx.calls.clear()

    processed = amazonpay_tx.process(started["transaction"]["id"])

    assert processed["transactionEvent"]["type"] == "CHARGE_FAILURE"
    assert "CompleteCheckoutSession" not in amazonpay_tx.operations()
    assert amazonpay_tx.objects()["charges"] == []


def test_split_payment_amazon_pays_what_other_transactions_leave(
    amazonpay_tx, checkout_with_item_and_shipping
):
    checkout = checkout_with_item_and_shipping
    total = amazonpay_tx.gateway_total(checkout)
    voucher_part = Decimal("10.00")
    other = TransactionItem.objects.create(checkout=checkout, currency=checkout.currency, name="Store credit",
                                           charged_value=voucher_part)
    TransactionEvent.objects.create(transaction=other, type="charge_success", amount_value=voucher_part,
                                    currency=checkout.currency, include_in_calculations=True)

    data = amazonpay_tx.amazon_config(checkout)
    assert Decimal(data["amount"]) == total - voucher_part
    processed = amazonpay_tx.authorize(checkout)

    assert processed["transactionEvent"]["type"] == "CHARGE_SUCCESS"
    assert amount(processed["transaction"]["chargedAmount"]) == total - voucher_part
    [charge] = amazonpay_tx.objects()["charges"]
    assert Decimal(charge["captureAmount"]["amount"]) == total - voucher_part
    completed = amazonpay_tx.checkout_complete(checkout)
    assert completed["order"]["chargeStatus"] == "FULL", completed["errors"]


def test_a_session_pays_for_one_transaction_only(amazonpay_tx, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    first = amazonpay_tx.authorize(checkout)
    session_id = metadata(first["transaction"])["checkoutSessionId"]
    # Same Amazon session, new transaction (another idempotency key): refused, nothing sent.
    amazonpay_tx.calls.clear()
    second = amazonpay_tx.initialize(checkout, session_id, key="another-attempt")
    assert second["transactionEvent"]["type"].endswith("_FAILURE")
    assert amazonpay_tx.operations() == []


def test_other_gateways_transactions_are_left_to_saleor(amazonpay_tx, checkout_with_item_and_shipping):
    from saleor.permission.models import Permission

    other = App.objects.create(name="Other PSP", identifier="other.psp", is_active=True)
    other.permissions.add(Permission.objects.get(codename="handle_payments"))
    amazonpay_tx.calls.clear()

    started = amazonpay_tx.initialize(checkout_with_item_and_shipping, data={"foo": "bar"}, gateway_id="other.psp")

    # Saleor's WebhookPlugin answers (no webhook for that app); the Amazon Pay plugin stays out.
    assert started["transactionEvent"]["type"] == "CHARGE_FAILURE"
    assert started["transactionEvent"]["message"] == "Failed to delivery request."  # Saleor's own words
    assert amazonpay_tx.operations() == []
    item = item_of(started["transaction"])
    assert item.metadata == {} and item.name != "Amazon Pay"


# -- dashboard actions: transactionRequestAction and granted refunds ------------------------------------


def test_partial_charges_up_to_the_authorization_then_refunds_then_cancel(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD, staff_client
):
    set_flow(channel_USD, "authorization")
    order, item = amazonpay_tx.paid_order(checkout_with_item_and_shipping)
    total = item.authorized_value
    first_part, second_part = Decimal("10.00"), Decimal("5.00")
    tid = tx_id(item)
    first_charge = item.metadata["chargeId"]

    charged = amazonpay_tx.request_action(staff_client, tid, "CHARGE", first_part)

    assert not charged["errors"], charged["errors"]
    charges = _charges(amazonpay_tx)
    assert charges[first_charge]["statusDetails"]["state"] == "Captured"
    assert Decimal(charges[first_charge]["captureAmount"]["amount"]) == first_part

    charged = amazonpay_tx.request_action(staff_client, tid, "CHARGE", second_part)

    assert not charged["errors"], charged["errors"]
    charges = _charges(amazonpay_tx)
    [second_charge] = [cid for cid in charges if cid != first_charge]
    assert charges[second_charge]["statusDetails"]["state"] == "Captured"
    assert Decimal(charges[second_charge]["chargeAmount"]["amount"]) == second_part
    transaction = charged["transaction"]
    assert amount(transaction["chargedAmount"]) == first_part + second_part
    assert amount(transaction["authorizedAmount"]) == total - first_part - second_part
    assert sorted(transaction["actions"]) == ["CANCEL", "CHARGE", "REFUND"]

    # Two refunds; the second spans both Amazon charges (Amazon refunds per charge).
    refunded = amazonpay_tx.request_action(staff_client, tid, "REFUND", Decimal("4.00"))
    assert not refunded["errors"], refunded["errors"]
    refunded = amazonpay_tx.request_action(staff_client, tid, "REFUND", Decimal("8.00"))
    assert not refunded["errors"], refunded["errors"]
    refunds = amazonpay_tx.objects()["refunds"]
    by_charge = {}
    for refund in refunds:
        by_charge[refund["chargeId"]] = by_charge.get(refund["chargeId"], 0) + Decimal(refund["refundAmount"]["amount"])
    assert by_charge == {first_charge: Decimal("10.00"), second_charge: Decimal("2.00")}
    transaction = refunded["transaction"]
    assert amount(transaction["refundedAmount"]) == Decimal("12.00")
    assert amount(transaction["chargedAmount"]) == first_part + second_part - Decimal("12.00")

    canceled = amazonpay_tx.request_action(staff_client, tid, "CANCEL")

    assert not canceled["errors"], canceled["errors"]
    transaction = canceled["transaction"]
    assert amount(transaction["canceledAmount"]) == total - first_part - second_part
    assert amount(transaction["authorizedAmount"]) == 0
    assert transaction["actions"] == ["REFUND"]
    [permission] = amazonpay_tx.objects()["chargePermissions"]
    assert permission["statusDetails"]["state"] == "Closed"

    item.refresh_from_db()
    types = [t for t, _, _ in _events(item)]
    assert types.count(TransactionEventType.CHARGE_SUCCESS) == 2
    assert types.count(TransactionEventType.REFUND_SUCCESS) == 2
    assert TransactionEventType.CANCEL_SUCCESS in types
    # Every event carries Amazon's id; the WebhookPlugin's "no webhook" failures are gone.
    success = item.events.filter(type__in=["charge_success", "refund_success", "cancel_success"])
    assert {e.psp_reference for e in success.filter(type="charge_success")} == {first_charge, second_charge}
    assert {e.psp_reference for e in success.filter(type="refund_success")} <= {r["refundId"] for r in refunds}
    assert not TransactionEvent.objects.filter(transaction=item, message=STRAY_CAUSE).exists()
    order.refresh_from_db()
    assert order.total_charged_amount == first_part + second_part - Decimal("12.00")


def test_full_capture_with_default_amount(amazonpay_tx, checkout_with_item_and_shipping, channel_USD, staff_client):
    set_flow(channel_USD, "authorization")
    order, item = amazonpay_tx.paid_order(checkout_with_item_and_shipping)
    charged = amazonpay_tx.request_action(staff_client, tx_id(item), "CHARGE")
    assert not charged["errors"], charged["errors"]
    assert amount(charged["transaction"]["chargedAmount"]) == item.authorized_value
    [charge] = amazonpay_tx.objects()["charges"]
    assert charge["statusDetails"]["state"] == "Captured"
    order.refresh_from_db()
    assert order.charge_status == "full"


def test_refund_in_full_after_capture_at_checkout(
    amazonpay_tx, checkout_with_item_and_shipping, staff_client
):
    order, item = amazonpay_tx.paid_order(checkout_with_item_and_shipping)  # channel default: CHARGE
    refunded = amazonpay_tx.request_action(staff_client, tx_id(item), "REFUND")
    assert not refunded["errors"], refunded["errors"]
    [refund] = amazonpay_tx.objects()["refunds"]
    assert refund["chargeId"] == item.metadata["chargeId"]
    assert Decimal(refund["refundAmount"]["amount"]) == item.charged_value
    assert amount(refunded["transaction"]["refundedAmount"]) == item.charged_value
    assert refunded["transaction"]["actions"] == []


def test_confirm_intent_is_charged_later_on_the_charge_permission(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD, staff_client
):
    amazonpay_tx.configure(payment_intent="Confirm")
    set_flow(channel_USD, "authorization")
    order, item = amazonpay_tx.paid_order(checkout_with_item_and_shipping)
    assert amazonpay_tx.objects()["charges"] == []

    charged = amazonpay_tx.request_action(staff_client, tx_id(item), "CHARGE")

    assert not charged["errors"], charged["errors"]
    [charge] = amazonpay_tx.objects()["charges"]
    assert charge["chargePermissionId"] == item.metadata["chargePermissionId"]
    assert charge["statusDetails"]["state"] == "Captured"
    item.refresh_from_db()
    assert item.metadata["chargeId"] == charge["chargeId"]
    assert saleor_data.amazon_ids_for_order(order).charge_id == charge["chargeId"]


def test_amazon_errors_reach_staff_and_the_retry_charges_once(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD, staff_client, emulator
):
    set_flow(channel_USD, "authorization")
    order, item = amazonpay_tx.paid_order(checkout_with_item_and_shipping)
    emulator.app.add_fault("500", "CaptureCharge", count=10)

    failed = amazonpay_tx.request_action(staff_client, tx_id(item), "CHARGE")

    assert not failed["errors"], failed["errors"]
    assert amount(failed["transaction"]["chargedAmount"]) == 0
    failure = item.events.filter(type=TransactionEventType.CHARGE_FAILURE).last()
    assert failure.message.startswith("Amazon Pay: [InternalServerError]")
    assert failure.psp_reference == item.metadata["chargeId"]
    emulator.app.faults.clear()

    retried = amazonpay_tx.request_action(staff_client, tx_id(item), "CHARGE")

    assert amount(retried["transaction"]["chargedAmount"]) == item.authorized_value
    [charge] = amazonpay_tx.objects()["charges"]
    assert charge["statusDetails"]["state"] == "Captured"


def test_a_capture_whose_answer_is_lost_is_read_back_not_repeated(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD, staff_client, emulator
):
    set_flow(channel_USD, "authorization")
    order, item = amazonpay_tx.paid_order(checkout_with_item_and_shipping)
    # Amazon captures, but every answer is lost until the client gives up.
    emulator.app.add_fault("drop-response", "CaptureCharge", count=4)
    amazonpay_tx.calls.clear()

    charged = amazonpay_tx.request_action(staff_client, tx_id(item), "CHARGE")

    assert amount(charged["transaction"]["chargedAmount"]) == item.authorized_value
    assert amazonpay_tx.operations()[-1] == "GetCharge"
    [charge] = amazonpay_tx.objects()["charges"]
    assert Decimal(charge["captureAmount"]["amount"]) == item.authorized_value
    # Pressing the button again finds nothing left to charge.
    again = amazonpay_tx.request_action(staff_client, tx_id(item), "CHARGE")
    assert len(amazonpay_tx.objects()["charges"]) == 1
    assert amount(again["transaction"]["chargedAmount"]) == item.authorized_value


def test_cancel_twice_keeps_the_first_cancellation(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD, staff_client
):
    set_flow(channel_USD, "authorization")
    order, item = amazonpay_tx.paid_order(checkout_with_item_and_shipping)
    total = item.authorized_value
    first = amazonpay_tx.request_action(staff_client, tx_id(item), "CANCEL")
    assert amount(first["transaction"]["canceledAmount"]) == total
    [charge] = amazonpay_tx.objects()["charges"]
    assert charge["statusDetails"]["state"] == "Canceled"

    again = amazonpay_tx.request_action(staff_client, tx_id(item), "CANCEL")

    assert amount(again["transaction"]["canceledAmount"]) == total
    failure = item.events.filter(type=TransactionEventType.CANCEL_FAILURE).get()
    assert "already closed" in failure.message and not failure.include_in_calculations


def test_canceling_a_pending_authorization_settles_it(
    amazonpay_tx, checkout_with_item_and_shipping, channel_USD, staff_client
):
    amazonpay_tx.configure(can_handle_pending_authorization=True)
    set_flow(channel_USD, "authorization")
    order, item = amazonpay_tx.paid_order(checkout_with_item_and_shipping, instrument="0701")
    assert item.authorize_pending_value > 0

    amazonpay_tx.request_action(staff_client, tx_id(item), "CANCEL")

    [charge] = amazonpay_tx.objects()["charges"]
    assert charge["statusDetails"]["state"] == "Canceled"
    item.refresh_from_db()
    assert item.authorize_pending_value == 0 and item.authorized_value == 0
    assert item.events.filter(type=TransactionEventType.AUTHORIZATION_FAILURE,
                              psp_reference=charge["chargeId"]).exists()


def test_granted_refund_is_sent_to_amazon(amazonpay_tx, checkout_with_item_and_shipping, staff_client,
                                          permission_manage_orders):
    order, item = amazonpay_tx.paid_order(checkout_with_item_and_shipping)
    grant = """
    mutation Grant($id: ID!, $tx: ID!, $amount: Decimal) {
      orderGrantRefundCreate(id: $id, input: {amount: $amount, reason: "damaged", transactionId: $tx}) {
        grantedRefund { id } errors { field message code } } }
    """
    send = """
    mutation Send($grant: ID!, $tx: ID!) {
      transactionRequestRefundForGrantedRefund(grantedRefundId: $grant, id: $tx) {
        transaction { refundedAmount { amount } } errors { field message code } } }
    """
    order_id = graphene.Node.to_global_id("Order", order.pk)
    granted = amazonpay_tx.gql(grant, {"id": order_id, "tx": tx_id(item), "amount": "3.00"},
                               client=staff_client)["orderGrantRefundCreate"]
    assert not granted["errors"], granted["errors"]

    sent = amazonpay_tx.gql(send, {"grant": granted["grantedRefund"]["id"], "tx": tx_id(item)},
                            client=staff_client)["transactionRequestRefundForGrantedRefund"]

    assert not sent["errors"], sent["errors"]
    assert amount(sent["transaction"]["refundedAmount"]) == Decimal("3.00")
    [refund] = amazonpay_tx.objects()["refunds"]
    assert Decimal(refund["refundAmount"]["amount"]) == Decimal("3.00")
    granted_refund = order.granted_refunds.get()
    assert granted_refund.status == "success"


def test_actions_on_another_apps_transaction_are_not_touched(
    amazonpay_tx, order_with_lines, staff_client
):
    from saleor.permission.models import Permission

    other = App.objects.create(name="Other PSP", identifier="other.psp", is_active=True)
    other.permissions.add(Permission.objects.get(codename="handle_payments"))
    item = TransactionItem.objects.create(order=order_with_lines, app=other, app_identifier="other.psp",
                                          currency=order_with_lines.currency, psp_reference="PSP-1",
                                          authorized_value=Decimal("10.00"), available_actions=["charge"])
    TransactionEvent.objects.create(transaction=item, type="authorization_success", amount_value=Decimal("10.00"),
                                    currency=item.currency, psp_reference="PSP-1", include_in_calculations=True)
    amazonpay_tx.calls.clear()

    amazonpay_tx.request_action(staff_client, tx_id(item), "CHARGE", Decimal("5.00"))

    assert amazonpay_tx.operations() == []
    # Saleor's WebhookPlugin recorded its own failure, and the Amazon Pay plugin left it alone.
    assert TransactionEvent.objects.filter(transaction=item, type="charge_failure", message=STRAY_CAUSE).exists()
    item.refresh_from_db()
    assert item.metadata == {} and item.charged_value == 0


# -- ids for fulfillment / notifications ----------------------------------------------------------------


def test_amazon_ids_for_a_legacy_order(amazonpay, checkout_with_item_and_shipping):
    result = amazonpay.pay(checkout_with_item_and_shipping)
    order = Order.objects.get(number=result.order["number"])
    ids = saleor_data.amazon_ids_for_order(order)
    payment = order.payments.get()
    assert ids.source == "payment" and ids.object == payment
    assert ids.charge_permission_id == payment.metadata["chargePermissionId"]
    assert ids.charge_id == payment.metadata["chargeId"]
    assert ids.checkout_session_id == payment.metadata["checkoutSessionId"]


def test_amazon_ids_for_an_order_without_amazon_pay(order_with_lines):
    assert saleor_data.amazon_ids_for_order(order_with_lines) is None
