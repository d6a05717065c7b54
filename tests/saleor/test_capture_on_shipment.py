"""Capture on shipment: each shipped fulfillment captures its amount, on a real Saleor."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor.order import OrderChargeStatus, OrderEvents
from saleor.order.models import Order
from saleor.payment import ChargeStatus, TransactionKind

from saleor_amazonpay.plugin import shipments
from saleor_amazonpay.plugin.session_flow import idempotency_key
from shipment_helpers import Staff, amazon_notes

pytestmark = pytest.mark.saleor


@pytest.fixture
def staff(staff_client):
    return Staff(staff_client)


def _pay(amazonpay, checkout, intent="Authorize", **config):
    amazonpay.configure(payment_intent=intent, capture_on_shipment=True, **config)
    result = amazonpay.pay(checkout)
    assert result.order is not None, result.errors
    amazonpay.calls.clear()
    order = Order.objects.get(number=result.order["number"])
    return order, order.payments.get()


def _captured_at_amazon(amazonpay) -> Decimal:
    return sum((Decimal(c["captureAmount"]["amount"]) for c in amazonpay.objects()["charges"]
                if c["statusDetails"]["state"] == "Captured"), Decimal(0))


def test_full_shipment_captures_the_whole_order(amazonpay, staff, checkout_with_item_and_shipping):
    order, payment = _pay(amazonpay, checkout_with_item_and_shipping)
    assert payment.charge_status == ChargeStatus.NOT_CHARGED

    fulfillment = staff.fulfill(order)

    [call] = [c for c in amazonpay.calls if c.operation != "DeliveryTrackers"]
    assert call.operation == "CaptureCharge"
    assert call.idempotency_key == idempotency_key(payment.pk, "shipment-capture", fulfillment.pk)
    [charge] = amazonpay.objects()["charges"]
    assert charge["chargeId"] == payment.metadata["chargeId"]
    assert Decimal(charge["captureAmount"]["amount"]) == payment.total == order.total_gross_amount

    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED
    assert payment.captured_amount == payment.total
    assert order.charge_status == OrderChargeStatus.FULL
    assert order.total_charged_amount == payment.total
    [txn] = payment.transactions.filter(kind=TransactionKind.CAPTURE)
    assert txn.is_success and txn.token == charge["chargeId"] and txn.amount == payment.total
    # Saleor's own "payment captured" event, as orderCapture would create, plus our note.
    assert order.events.filter(type=OrderEvents.PAYMENT_CAPTURED).count() == 1
    [note] = amazon_notes(order)
    assert "captured" in note and "including shipping" in note and f"#{fulfillment.composed_id}" in note


def test_partial_shipments_capture_each_part(amazonpay, staff, checkout_with_item_and_shipping):
    order, payment = _pay(amazonpay, checkout_with_item_and_shipping)
    line = order.lines.get()
    assert line.quantity == 3
    unit = line.unit_price_gross_amount
    shipping = order.shipping_price_gross_amount
    assert shipping > 0

    first = staff.fulfill(order, {line: 1})
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.PARTIALLY_CHARGED
    assert payment.captured_amount == unit + shipping  # the first shipment carries the shipping

    second = staff.fulfill(order, {line: 2})

    captures = [c for c in amazonpay.calls if c.operation in ("CaptureCharge", "CreateCharge")]
    assert [c.operation for c in captures] == ["CaptureCharge", "CreateCharge"]
    assert captures[0].idempotency_key == idempotency_key(payment.pk, "shipment-capture", first.pk)
    assert captures[1].idempotency_key == idempotency_key(payment.pk, "shipment-charge", second.pk)
    objects = amazonpay.objects()
    charges = {c["chargeId"]: c for c in objects["charges"]}
    assert len(charges) == 2
    [session] = objects["checkoutSessions"]
    original = charges.pop(session["chargeId"])  # the authorization made at checkout
    [later] = charges.values()
    assert Decimal(original["captureAmount"]["amount"]) == unit + shipping
    assert Decimal(later["captureAmount"]["amount"]) == 2 * unit
    charges[original["chargeId"]] = original
    assert all(c["chargePermissionId"] == payment.metadata["chargePermissionId"] for c in charges.values())

    payment.refresh_from_db()
    order.refresh_from_db()
    assert _captured_at_amazon(amazonpay) == payment.captured_amount == payment.total == 3 * unit + shipping
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED
    assert order.charge_status == OrderChargeStatus.FULL
    amounts = sorted(t.amount for t in payment.transactions.filter(kind=TransactionKind.CAPTURE))
    assert amounts == sorted([unit + shipping, 2 * unit])
    assert len(amazon_notes(order)) == 2


def test_a_fulfillment_is_captured_once(amazonpay, staff, checkout_with_item_and_shipping):
    order, _ = _pay(amazonpay, checkout_with_item_and_shipping)
    line = order.lines.get()
    fulfillment = staff.fulfill(order, {line: 1})

    # A redelivered task (or a second hook) finds the capture recorded and does nothing.
    assert shipments.capture_fulfillment(fulfillment.pk).reason == "already captured"
    assert [c.operation for c in amazonpay.calls].count("CaptureCharge") == 1


def test_capture_is_retried_with_the_same_idempotency_key(amazonpay, staff, checkout_with_item_and_shipping,
                                                          emulator, settings):
    settings.AMAZONPAY_TASK_MAX_RETRIES = 3
    order, payment = _pay(amazonpay, checkout_with_item_and_shipping)
    # Amazon captures, but the answers are lost until the client gives up (1 + 3 attempts);
    # the Celery retry then gets Amazon's replay of the same capture.
    emulator.app.add_fault("drop-response", "CaptureCharge", count=4)

    fulfillment = staff.fulfill(order)

    calls = [c for c in amazonpay.calls if c.operation == "CaptureCharge"]
    assert len(calls) == 5
    assert {c.idempotency_key for c in calls} == {idempotency_key(payment.pk, "shipment-capture", fulfillment.pk)}
    [charge] = amazonpay.objects()["charges"]
    assert Decimal(charge["captureAmount"]["amount"]) == payment.total
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED
    assert payment.transactions.filter(kind=TransactionKind.CAPTURE).count() == 1


def test_a_declined_capture_leaves_a_note(amazonpay, staff, checkout_with_item_and_shipping, emulator):
    order, payment = _pay(amazonpay, checkout_with_item_and_shipping)
    line = order.lines.get()
    staff.fulfill(order, {line: 1})
    # The second shipment charges the permission again; make it exceed what Amazon allows.
    payment.total = payment.total * 3
    payment.save(update_fields=["total"])
    order.lines.filter(pk=line.pk).update(unit_price_gross_amount=line.unit_price_gross_amount * 50)

    staff.fulfill(order, {line: 2})

    notes = amazon_notes(order)
    assert "failed" in notes[-1] and "TransactionAmountExceeded" in notes[-1]
    payment.refresh_from_db()
    assert payment.transactions.filter(kind=TransactionKind.CAPTURE).count() == 1


def test_never_more_than_the_authorized_total(amazonpay, staff, checkout_with_item_and_shipping):
    order, payment = _pay(amazonpay, checkout_with_item_and_shipping)
    # The order got more expensive after checkout: only what Amazon authorized is captured.
    order.lines.update(unit_price_gross_amount=order.lines.get().unit_price_gross_amount + 5)

    staff.fulfill(order)

    assert _captured_at_amazon(amazonpay) == payment.total
    payment.refresh_from_db()
    assert payment.captured_amount == payment.total


def test_off_by_default(amazonpay, staff, checkout_with_item_and_shipping):
    amazonpay.configure(payment_intent="Authorize")  # capture_on_shipment left at its default
    result = amazonpay.pay(checkout_with_item_and_shipping)
    order = Order.objects.get(number=result.order["number"])
    amazonpay.calls.clear()

    staff.fulfill(order)

    assert [c.operation for c in amazonpay.calls if c.operation != "DeliveryTrackers"] == []
    assert order.payments.get().charge_status == ChargeStatus.NOT_CHARGED


def test_orders_already_charged_at_checkout_are_not_captured_again(amazonpay, staff, checkout_with_item_and_shipping):
    order, payment = _pay(amazonpay, checkout_with_item_and_shipping, intent="AuthorizeWithCapture")
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED

    staff.fulfill(order)

    assert amazonpay.operations() == []
    assert amazon_notes(order) == []


def test_confirm_intent_orders_are_charged_on_the_permission(amazonpay, staff, checkout_with_item_and_shipping):
    order, payment = _pay(amazonpay, checkout_with_item_and_shipping, intent="Confirm")
    assert amazonpay.objects()["charges"] == []

    staff.fulfill(order)

    assert amazonpay.operations() == ["CreateCharge"]
    assert _captured_at_amazon(amazonpay) == payment.total
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED


def test_capture_waits_for_approval(amazonpay, staff, checkout_with_item_and_shipping, site_settings):
    site_settings.fulfillment_auto_approve = False
    site_settings.save()
    order, payment = _pay(amazonpay, checkout_with_item_and_shipping)

    fulfillment = staff.fulfill(order)
    assert amazonpay.operations() == []

    staff.approve(fulfillment)
    assert amazonpay.operations() == ["CaptureCharge"]
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED
