"""Reconciliation: ``manage.py amazonpay_reconcile`` and its Celery task repair what IPNs and
checkoutComplete could not tell Saleor."""

from __future__ import annotations

import io
import json

import graphene
import pytest
from django.core.management import call_command
from saleor.graphql.tests.utils import get_graphql_content
from saleor.order import OrderAuthorizeStatus
from saleor.order.models import Order
from saleor.payment import ChargeStatus, TransactionKind
from saleor.payment.models import Payment

from saleor_amazonpay.plugin import notifications

pytestmark = pytest.mark.saleor

REFUND = """
mutation Refund($id: ID!) {
  paymentRefund(paymentId: $id) { payment { chargeStatus } errors { code message } }
}
"""
READS = {"GetCharge", "GetCheckoutSession", "GetRefund", "GetChargePermission"}


def _reconcile(*args) -> str:
    out = io.StringIO()
    call_command("amazonpay_reconcile", *args, stdout=out)
    return out.getvalue()


def _paid(amazonpay, checkout, **pay):
    result = amazonpay.pay(checkout, **pay)
    assert result.order is not None, result.errors
    order = Order.objects.get(number=result.order["number"])
    return order, order.payments.get()


def test_a_lost_notification_is_repaired_dry_run_first(ipn, amazonpay, emulator, checkout_with_item_and_shipping):
    amazonpay.configure(can_handle_pending_authorization=True)
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping, instrument="0701")
    emulator.app.set_ipn_url(notifications.ipn_url(ipn.channel_slug), ipn.merchant_id, enabled=False)  # IPN delivery off (the fixture's default)
    emulator.app.settle()  # Amazon authorized it ...
    assert {d.status for d in ipn.pending()} == {"suppressed"}  # ... but every IPN was lost
    ipn.skip_pending()
    amazonpay.calls.clear()

    report = _reconcile("--dry-run")
    assert "Dry run" in report
    assert f"payment {payment.pk} (order #{order.number}, channel main): pending at Amazon" in report
    assert "is Authorized" in report and "would record the authorization" in report
    assert "1 payment(s) checked, 1 would change" in report
    assert set(amazonpay.operations()) <= READS
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.PENDING
    assert not payment.transactions.filter(kind=TransactionKind.AUTH).exists()

    report = _reconcile()
    assert "1 payment(s) checked, 1 changed" in report
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.charge_status == ChargeStatus.NOT_CHARGED
    assert payment.transactions.filter(kind=TransactionKind.AUTH, token=payment.metadata["chargeId"]).count() == 1
    assert order.authorize_status == OrderAuthorizeStatus.FULL

    # Nothing is pending any more.
    assert "0 payment(s) checked" in _reconcile()
    # A late IPN changes nothing either.
    emulator_news = ipn.deliveries("CHARGE")[-1]
    assert ipn.resend(emulator_news).status_code == 200
    assert payment.transactions.filter(kind=TransactionKind.AUTH).count() == 1


def test_a_lost_decline_cancels_the_order(ipn, amazonpay, emulator, checkout_with_item_and_shipping):
    amazonpay.configure(can_handle_pending_authorization=True)
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping, instrument="4354")
    emulator.app.settle()
    ipn.skip_pending()
    report = _reconcile()
    assert "Declined (HardDeclined)" in report
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == "canceled"
    assert payment.charge_status == ChargeStatus.CANCELLED


def _uncertain_complete(amazonpay, emulator, checkout):
    """checkoutComplete fails after Amazon completed the session: Complete's answer is lost
    and the session cannot be read to converge."""
    session_id = amazonpay.buyer_signs_in(checkout)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    first = amazonpay.complete(checkout)
    assert first.data["confirmationNeeded"], first.errors
    returned = amazonpay.buyer_returns_from_amazon(first.data["confirmationData"])
    emulator.app.add_fault("drop-response", "CompleteCheckoutSession")
    emulator.app.add_fault("503", "GetCheckoutSession", count=10)
    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})
    emulator.app.faults.clear()
    assert result.order is None and result.errors
    assert not Order.objects.filter(checkout_token=str(checkout.token)).exists()
    payment = Payment.objects.get(checkout=checkout, is_active=True)
    assert payment.to_confirm
    [session] = amazonpay.objects()["checkoutSessions"]
    assert session["statusDetails"]["state"] == "Completed"
    [charge] = amazonpay.objects()["charges"]
    assert charge["statusDetails"]["state"] == "Authorized"  # Amazon holds the buyer's money
    return payment, session, charge


def test_an_uncertain_complete_without_an_order_releases_the_money(
    ipn, amazonpay, emulator, checkout_with_item_and_shipping
):
    checkout = checkout_with_item_and_shipping
    payment, session, charge = _uncertain_complete(amazonpay, emulator, checkout)

    # Too recent: the buyer may still be retrying checkoutComplete.
    assert f"payment {payment.pk} " not in _reconcile("--dry-run")

    amazonpay.calls.clear()
    report = _reconcile("--dry-run", "--min-age", "0")
    assert f"payment {payment.pk} (no order, channel main): checkoutComplete did not finish" in report
    assert f"would release the money of checkout session {session['checkoutSessionId']}" in report
    assert "Saleor created no order" in report
    assert f"cancel the authorization {charge['chargeId']}" in report
    assert f"close the charge permission {session['chargePermissionId']}" in report
    assert set(amazonpay.operations()) <= READS
    assert amazonpay.objects()["charges"][0]["statusDetails"]["state"] == "Authorized"

    report = _reconcile("--min-age", "0", "--channel", "main")
    assert "1 changed" in report
    objects = amazonpay.objects()
    assert objects["charges"][0]["statusDetails"]["state"] == "Canceled"
    assert objects["chargePermissions"][0]["statusDetails"]["state"] == "Closed"
    payment.refresh_from_db()
    assert payment.is_active is False and payment.to_confirm is False
    assert payment.transactions.filter(kind=TransactionKind.VOID, token=charge["chargeId"]).exists()
    released = json.loads(payment.private_metadata["amazonpay"])["released"]
    assert released["canceledChargeId"] == charge["chargeId"]
    assert released["reason"] == "Checkout was not completed in Saleor"
    assert not Order.objects.filter(checkout_token=str(checkout.token)).exists()

    # Idempotent, and the IPNs of the release change nothing.
    assert f"payment {payment.pk} " not in _reconcile("--min-age", "0")
    ipn.deliver_pending()
    payment.refresh_from_db()
    assert payment.is_active is False and payment.charge_status == ChargeStatus.NOT_CHARGED

    # The buyer can still pay for the checkout.
    retry = amazonpay.pay(checkout)
    assert retry.order is not None, retry.errors


def test_an_uncertain_complete_of_another_channel_is_left_alone(amazonpay, emulator, checkout_with_item_and_shipping):
    payment, _, charge = _uncertain_complete(amazonpay, emulator, checkout_with_item_and_shipping)
    report = _reconcile("--min-age", "0", "--channel", "other-channel")
    assert f"payment {payment.pk} " not in report
    assert amazonpay.objects()["charges"][0]["statusDetails"]["state"] == "Authorized"


def test_abandoned_checkouts_are_read_once(amazonpay, emulator, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    assert amazonpay.complete(checkout).data["confirmationNeeded"]
    payment = Payment.objects.get(checkout=checkout)

    report = _reconcile("--min-age", "0")
    assert f"payment {payment.pk} " in report and "is Open" in report and "nothing to change" in report
    emulator.app.advance_clock(25 * 3600)  # Amazon cancels sessions after 24 hours
    report = _reconcile("--min-age", "0")
    assert "is Canceled" in report and "nothing was charged" in report
    assert f"payment {payment.pk} " not in _reconcile("--min-age", "0")


def test_a_declined_refund_without_notification_is_reversed_by_the_celery_task(
    ipn, amazonpay, emulator, staff_client, checkout_with_item_and_shipping
):
    from saleor_amazonpay.tasks import reconcile_payments_task

    amazonpay.configure(payment_intent="AuthorizeWithCapture")
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping, instrument="0010")
    data = get_graphql_content(staff_client.post_graphql(
        REFUND, {"id": graphene.Node.to_global_id("Payment", payment.pk)}))["data"]["paymentRefund"]
    assert not data["errors"], data["errors"]
    emulator.app.settle()
    ipn.skip_pending()

    summary = reconcile_payments_task.delay().get()
    assert summary == {"checked": 1, "changed": 1, "failed": 0}
    payment.refresh_from_db()
    assert payment.transactions.filter(kind=TransactionKind.REFUND_REVERSED).count() == 1
    assert payment.captured_amount == payment.total
    assert json.loads(payment.private_metadata["amazonpay"])["refunds"][0]["state"] == "Declined"
    assert reconcile_payments_task.delay().get()["checked"] == 0


def test_amazon_errors_are_reported_and_the_run_goes_on(ipn, amazonpay, emulator, checkout_with_item_and_shipping):
    amazonpay.configure(can_handle_pending_authorization=True)
    order, payment = _paid(amazonpay, checkout_with_item_and_shipping, instrument="0701")
    emulator.app.add_fault("500", "GetCharge", count=10)
    report = _reconcile()
    emulator.app.faults.clear()
    assert "! Amazon Pay:" in report and "1 with errors" in report
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.PENDING


def test_install_and_uninstall_the_beat_schedule():
    from saleor.schedulers.models import CustomPeriodicTask

    out = _reconcile("--install-schedule", "--every", "10")
    assert "Created" in out
    task = CustomPeriodicTask.objects.get(name="saleor_amazonpay.reconcile")
    assert task.task == "saleor_amazonpay.tasks.reconcile_payments_task"
    assert task.interval.every == 10 and task.interval.period == "minutes" and task.enabled
    assert json.loads(task.kwargs)["min_age_minutes"] == 30

    assert "Updated" in _reconcile("--install-schedule", "--every", "5", "--channel", "main")
    task = CustomPeriodicTask.objects.get(name="saleor_amazonpay.reconcile")
    assert task.interval.every == 5 and json.loads(task.kwargs)["channel_slug"] == "main"

    assert "Removed" in _reconcile("--uninstall-schedule")
    assert not CustomPeriodicTask.objects.filter(name="saleor_amazonpay.reconcile").exists()


def test_the_task_is_registered_with_celery():
    from saleor.celeryconf import app

    import saleor_amazonpay.tasks  # noqa: F401 - what Celery's autodiscovery imports

    assert "saleor_amazonpay.tasks.reconcile_payments_task" in app.tasks
