"""Reconciliation: re-read Amazon's state for payments whose outcome Saleor does not know.

Notifications can be lost (endpoint down for longer than Amazon retries, misconfigured URL)
and a checkoutComplete can end without an answer from Amazon. This job finds the payments
concerned and applies Amazon's current state exactly as an IPN would (``sync.PaymentSync``):

* **pending**: Amazon Pay payments with ``charge_status = pending`` (a pending authorization
  or an asynchronous capture): the charge is read and applied.
* **uncertain Complete**: payments still ``to_confirm`` whose last activity is older than
  ``min_age_minutes``: the Checkout Session is read. Completed at Amazon but no order in
  Saleor means the money is released (see ``PaymentSync.checkout_session``).
* **refunds in flight**: refunds recorded in the payment's private metadata
  (``amazonpay.refunds[].state == RefundInitiated``): each refund is read and applied.

Only payments created within ``since_hours`` are considered. ``dry_run`` reads Amazon but
changes nothing, here or there, and reports what would change.

Run it with ``manage.py amazonpay_reconcile`` or the Celery task
``saleor_amazonpay.tasks.reconcile_payments_task`` (see docs/notifications.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from django.db import transaction

from ..core import AmazonPayError, RefundState
from . import saleor_data, sync
from .clients import client_for
from .consts import (
    META_CHARGE_ID,
    META_CHECKOUT_SESSION_ID,
    PLUGIN_ID,
    PRIVATE_META_KEY,
)

logger = logging.getLogger("saleor_amazonpay.reconcile")

DEFAULT_SINCE_HOURS = 720.0
DEFAULT_MIN_AGE_MINUTES = 30.0


@dataclass
class PaymentReport:
    payment_id: int
    channel: "str | None"
    order_number: "str | None"
    why: str
    read: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    error: "str | None" = None

    @property
    def label(self) -> str:
        where = f"order #{self.order_number}" if self.order_number else "no order"
        return f"payment {self.payment_id} ({where}, channel {self.channel or '?'})"

    def lines(self, dry_run: bool) -> list[str]:
        head = f"{self.label}: {self.why}"
        if self.read:
            head += f"; Amazon: {', '.join(self.read)}"
        out = [head]
        if self.error:
            out.append(f"  ! {self.error}")
        verb = "would " if dry_run else ""
        out += [f"  - {verb}{change}" for change in self.changes]
        if not self.changes and not self.error:
            out.append("  = nothing to change")
        return out


def candidates(*, channel_slug: "str | None" = None, since_hours: float = DEFAULT_SINCE_HOURS,
               min_age_minutes: float = DEFAULT_MIN_AGE_MINUTES, now: "datetime | None" = None) -> "list[tuple]":
    """``[(payment, why)]``: the Amazon Pay payments whose state may be out of date."""
    from django.db.models import Max, Q
    from django.utils import timezone
    from saleor.payment import ChargeStatus
    from saleor.payment.models import Payment

    now = now or timezone.now()
    payments = Payment.objects.filter(gateway=PLUGIN_ID, created_at__gte=now - timedelta(hours=since_hours))
    if channel_slug:
        payments = payments.filter(Q(order__channel__slug=channel_slug) | Q(checkout__channel__slug=channel_slug))
    found: dict[int, tuple] = {}
    for payment in payments.filter(is_active=True, charge_status=ChargeStatus.PENDING).order_by("pk"):
        found[payment.pk] = (payment, "pending at Amazon")
    quiet_since = now - timedelta(minutes=min_age_minutes)
    uncertain = (payments.filter(to_confirm=True)
                 .annotate(last_activity=Max("transactions__created_at"))
                 .filter(Q(last_activity__lte=quiet_since) | Q(last_activity__isnull=True, modified_at__lte=quiet_since))
                 .order_by("pk"))
    for payment in uncertain:
        if saleor_data.private_state(payment).get("checkoutSessionState") == "Canceled":
            continue  # already known: the buyer never paid
        found.setdefault(payment.pk, (payment, "checkoutComplete did not finish"))
    refunding = payments.filter(**{f"private_metadata__{PRIVATE_META_KEY}__icontains":
                                   RefundState.REFUND_INITIATED.value}).order_by("pk")
    for payment in refunding:
        if _pending_refund_ids(payment):
            found.setdefault(payment.pk, (payment, "refund pending at Amazon"))
    return [found[pk] for pk in sorted(found)]


def _pending_refund_ids(payment) -> list[str]:
    refunds = saleor_data.private_state(payment).get("refunds") or []
    return [r["refundId"] for r in refunds
            if isinstance(r, dict) and r.get("refundId") and r.get("state") == RefundState.REFUND_INITIATED.value]


def _pending_charge_id(payment) -> "str | None":
    from saleor.payment import TransactionKind

    txn = payment.transactions.filter(kind=TransactionKind.PENDING, is_success=True).order_by("-pk").first()
    return (txn.token if txn else None) or (payment.metadata or {}).get(META_CHARGE_ID)


def _session_id(payment) -> "str | None":
    from saleor.payment import TransactionKind

    session_id = (payment.metadata or {}).get(META_CHECKOUT_SESSION_ID)
    if session_id:
        return session_id
    txn = payment.transactions.filter(kind=TransactionKind.ACTION_TO_CONFIRM, is_success=True).order_by("-pk").first()
    return txn.token if txn else payment.token or None


def reconcile_payment(payment, why: str, *, dry_run: bool = False) -> PaymentReport:
    from saleor.payment import ChargeStatus

    channel = sync.payment_channel_slug(payment)
    order_number = str(payment.order.number) if payment.order_id else None
    report = PaymentReport(payment.pk, channel, order_number, why)
    settings = sync.channel_settings(channel)
    if settings is None:
        report.error = "Amazon Pay is not active in this channel: skipped"
        return report
    client = client_for(settings)
    try:
        session = charge = None
        refunds = []
        if payment.to_confirm:
            session_id = _session_id(payment)
            if not session_id:
                report.error = "no checkout session id recorded: skipped"
                return report
            session = client.get_checkout_session(session_id)
            report.read.append(f"checkout session {session.checkout_session_id} is {session.status.state}")
            if session.charge_id:
                charge = client.get_charge(session.charge_id)
                report.read.append(f"charge {charge.charge_id} is {charge.status.state}")
        elif payment.charge_status == ChargeStatus.PENDING:
            charge_id = _pending_charge_id(payment)
            if charge_id:
                charge = client.get_charge(charge_id)
                report.read.append(f"charge {charge.charge_id} is {charge.status.state}"
                                   + (f" ({charge.status.reason_code})" if charge.status.reason_code else ""))
        for refund_id in _pending_refund_ids(payment):
            refund = client.get_refund(refund_id)
            refunds.append(refund)
            report.read.append(f"refund {refund.refund_id} is {refund.status.state}")

        with transaction.atomic():
            locked = payment if dry_run else sync.lock_payment(payment.pk, with_checkout=payment.to_confirm)
            state = sync.PaymentSync(locked, settings, dry_run=dry_run, source="reconciliation", client=client)
            if session is not None:
                state.checkout_session(session, charge)
            elif charge is not None:
                state.charge(charge)
            for refund in refunds:
                state.refund(refund)
            state.finish()
        report.changes = state.changes
    except AmazonPayError as error:
        report.error = f"Amazon Pay: {error}"
        logger.warning("Amazon Pay reconciliation of payment %s failed: %s", payment.pk, error)
    return report


def run(*, dry_run: bool = False, channel_slug: "str | None" = None, since_hours: float = DEFAULT_SINCE_HOURS,
        min_age_minutes: float = DEFAULT_MIN_AGE_MINUTES,
        out: "Callable[[str], None] | None" = None) -> list[PaymentReport]:
    """Reconcile every candidate; ``out`` receives the report line by line."""
    reports = []
    for payment, why in candidates(channel_slug=channel_slug, since_hours=since_hours,
                                   min_age_minutes=min_age_minutes):
        report = reconcile_payment(payment, why, dry_run=dry_run)
        reports.append(report)
        if out is not None:
            for line in report.lines(dry_run):
                out(line)
        if report.changes and not dry_run:
            logger.info("Amazon Pay reconciliation of %s: %s", report.label, "; ".join(report.changes))
    return reports
