"""After an order ships: Amazon's Delivery Tracker and "capture on shipment".

Called from the plugin's fulfillment hooks (scheduling) and from ``tasks.py`` (the work).
The hooks only decide, after the fulfillment's transaction committed, whether a task is
worth queueing; the tasks re-read everything (fresh configuration, fresh rows) because
they may run minutes later on another machine.

Rules kept here (see docs/delivery-tracker.md):

* Only fulfillments of orders paid with Amazon Pay (a Payment of this gateway, or a
  Transactions API item of this app, holding a ``chargePermissionId``), in a channel where
  the plugin is active and the feature is on.
  Everything else is left alone: no Amazon call, no order note.
* Delivery Tracker: one POST per (tracking number, charge permission). What Amazon
  accepted is recorded in the fulfillment's private metadata (:data:`TRACKER_META_KEY`),
  under a row lock, so repeated hooks, retried tasks and a second fulfillment carrying
  the same number do not post again; a changed number posts the new one.
* Capture on shipment: one capture per fulfillment, recorded in the payment's private
  state, with idempotency keys derived from the payment and the fulfillment.
* Staff learn what happened from order notes (``EXTERNAL_SERVICE_NOTIFICATION`` events).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from django.db import transaction

from ..core import AmazonPayError, ChargeState, InvalidStateError, Price
from ..core.carriers import KNOWN_CARRIERS, CarrierChoice, choose_carrier
from . import saleor_data
from .clients import client_for
from .consts import FULFILLMENT_CARRIER_META_KEY, META_CHARGE_ID, META_CHARGE_PERMISSION_ID, PLUGIN_ID
from .settings import ChannelSettings

logger = logging.getLogger("saleor_amazonpay.shipments")

#: Fulfillment private metadata: what Amazon accepted (JSON
#: ``{trackingNumber, carrierCode, chargePermissionId, postedAt}``).
TRACKER_META_KEY = "amazonpay.deliveryTracker"
#: Fulfillment private metadata: the last problem a note was written about (so the same
#: problem is not noted twice), JSON ``{trackingNumber, reason, at}``.
TRACKER_ISSUE_META_KEY = "amazonpay.deliveryTrackerIssue"

#: Fulfillment statuses that mean "this parcel is on its way to the buyer".
_SHIPPED = ("fulfilled",)
#: Attribute set on the fulfillment instance the hooks receive, so that the two hooks
#: Saleor fires for one new fulfillment (tracking_number_updated, fulfillment_created)
#: queue one task, not two.
_SCHEDULED_ATTR = "_amazonpay_tracker_scheduled"


@dataclass(frozen=True)
class Outcome:
    """What a task should do next: nothing (``done``) or try again later (``retry``)."""

    done: bool
    reason: str = ""
    error: "AmazonPayError | None" = None

    @property
    def retry(self) -> bool:
        return not self.done


def _done(reason: str) -> Outcome:
    return Outcome(True, reason)


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# -- configuration, payments, notes ----------------------------------------------------------


def channel_settings(channel_slug: str) -> "ChannelSettings | None":
    """The channel's current Amazon Pay settings, or None when the plugin is off there."""
    from saleor.plugins.manager import get_plugins_manager

    plugin = get_plugins_manager(allow_replica=False).get_plugin(PLUGIN_ID, channel_slug)
    if plugin is None or not plugin.active:
        return None
    return getattr(plugin, "settings", None) or ChannelSettings.from_items(plugin.configuration)


def amazon_payments(order_id, *, lock: bool = False):
    """Payments of this gateway on the order that hold an Amazon charge permission, newest first."""
    from saleor.payment.models import Payment

    queryset = Payment.objects.filter(order_id=order_id, gateway=PLUGIN_ID).order_by("-is_active", "-pk")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    return [p for p in queryset if (p.metadata or {}).get(META_CHARGE_PERMISSION_ID)]


def amazon_transaction_items(order_id):
    """Transactions API items of Amazon Pay on the order holding a charge permission, newest first."""
    from saleor.payment.models import TransactionItem

    return list(TransactionItem.objects.filter(order_id=order_id, app_identifier=PLUGIN_ID,
                                               metadata__has_key=META_CHARGE_PERMISSION_ID).order_by("-pk"))


def charge_permission_of(order_id) -> "str | None":
    """The order's Amazon charge permission: from its Payment (checkoutComplete flow) or
    from its TransactionItem (Transactions API flow)."""
    for holder in amazon_payments(order_id) or amazon_transaction_items(order_id):
        return holder.metadata[META_CHARGE_PERMISSION_ID]
    return None


def is_amazon_order(order_id) -> bool:
    from saleor.payment.models import Payment, TransactionItem

    return (Payment.objects.filter(order_id=order_id, gateway=PLUGIN_ID,
                                   metadata__has_key=META_CHARGE_PERMISSION_ID).exists()
            or TransactionItem.objects.filter(order_id=order_id, app_identifier=PLUGIN_ID,
                                              metadata__has_key=META_CHARGE_PERMISSION_ID).exists())


def add_note(order, message: str) -> None:
    """An order note staff see in the dashboard's order history."""
    from saleor.order import events

    events.external_notification_event(order=order, user=None, app=None, message=message[:1000], parameters=None)


def _meta(fulfillment, key: str) -> dict:
    return saleor_data.private_json(fulfillment, key)


def _save_meta(fulfillment, key: str, value: dict) -> None:
    fulfillment.store_value_in_private_metadata({key: json.dumps(value, sort_keys=True)})
    fulfillment.save(update_fields=["private_metadata"])


def _carrier_label(code: str) -> str:
    name = KNOWN_CARRIERS.get(code)
    return f"{code} ({name})" if name and name != code else code


# -- scheduling (runs in the web process, after the fulfillment's transaction committed) ------


def schedule_delivery_tracker(settings: ChannelSettings, fulfillment) -> None:
    """Queue the Delivery Tracker task once the current transaction commits. Never raises."""
    try:
        if not settings.delivery_tracker_enabled:
            return
        tracking_number = (fulfillment.tracking_number or "").strip()
        if not tracking_number:
            return
        if getattr(fulfillment, _SCHEDULED_ATTR, None) == tracking_number:
            return
        setattr(fulfillment, _SCHEDULED_ATTR, tracking_number)
        fulfillment_id = fulfillment.pk
        transaction.on_commit(lambda: _queue_tracker(fulfillment_id))
    except Exception:  # noqa: BLE001 - a hook must never break a fulfillment mutation
        logger.exception("Amazon Pay: could not schedule the delivery tracker of fulfillment %s",
                         getattr(fulfillment, "pk", None))


def _queue_tracker(fulfillment_id: int) -> None:
    try:
        from saleor.core.db.connection import allow_writer
        from saleor.order.models import Fulfillment

        with allow_writer():
            fulfillment = Fulfillment.objects.filter(pk=fulfillment_id).only(
                "pk", "order_id", "status", "tracking_number", "private_metadata").first()
            if fulfillment is None or fulfillment.status not in _SHIPPED:
                return
            tracking_number = (fulfillment.tracking_number or "").strip()
            if not tracking_number or _meta(fulfillment, TRACKER_META_KEY).get("trackingNumber") == tracking_number:
                return
            if not is_amazon_order(fulfillment.order_id):
                return
        from .tasks import post_delivery_tracker_task

        post_delivery_tracker_task.delay(fulfillment_id)
    except Exception:  # noqa: BLE001
        logger.exception("Amazon Pay: could not queue the delivery tracker of fulfillment %s", fulfillment_id)


def schedule_capture(settings: ChannelSettings, fulfillment) -> None:
    """Queue the capture of a shipped fulfillment once the transaction commits. Never raises."""
    try:
        if not settings.capture_on_shipment:
            return
        fulfillment_id = fulfillment.pk
        transaction.on_commit(lambda: _queue_capture(fulfillment_id))
    except Exception:  # noqa: BLE001
        logger.exception("Amazon Pay: could not schedule the capture of fulfillment %s",
                         getattr(fulfillment, "pk", None))


def _queue_capture(fulfillment_id: int) -> None:
    try:
        from saleor.core.db.connection import allow_writer
        from saleor.order.models import Fulfillment

        with allow_writer():
            fulfillment = Fulfillment.objects.filter(pk=fulfillment_id).only("pk", "order_id", "status").first()
            if fulfillment is None or fulfillment.status not in _SHIPPED or not is_amazon_order(fulfillment.order_id):
                return
        from .tasks import capture_fulfillment_task

        capture_fulfillment_task.delay(fulfillment_id)
    except Exception:  # noqa: BLE001
        logger.exception("Amazon Pay: could not queue the capture of fulfillment %s", fulfillment_id)


# -- Delivery Tracker (runs in the Celery task) -------------------------------------------------


def _shipping_method_ids(order) -> "list[str]":
    """The forms a merchant may use for the order's shipping method in the mapping."""
    pk = getattr(order, "shipping_method_id", None)
    if not pk:
        return []
    from graphql_relay import to_global_id

    global_ids = [to_global_id(kind, str(pk)) for kind in ("ShippingMethodType", "ShippingMethod")]
    return [str(pk)] + global_ids + [g.rstrip("=") for g in global_ids]


def carrier_for(settings: ChannelSettings, fulfillment, order, tracking_number: str) -> CarrierChoice:
    """Metadata, then the channel's mapping, then the tracking number's format."""
    mapping = settings.carriers()
    ids = _shipping_method_ids(order)
    method_id = next((i for i in ids if i.lower() in mapping), ids[0] if ids else None)
    address = getattr(order, "shipping_address", None)
    country = getattr(getattr(address, "country", None), "code", None) or (str(address.country) if address else None)
    return choose_carrier(
        tracking_number=tracking_number,
        fulfillment_metadata=fulfillment.metadata or {},
        shipping_method_name=order.shipping_method_name,
        shipping_method_id=method_id,
        mapping=mapping,
        country=country,
        metadata_key=FULFILLMENT_CARRIER_META_KEY,
    )


def _how_to_fix(order, channel_slug: str) -> str:
    method = f'"{order.shipping_method_name}"' if order.shipping_method_name else "this order's shipping method"
    return (
        f'To fix it, set the fulfillment\'s metadata key "{FULFILLMENT_CARRIER_META_KEY}" to Amazon\'s carrier '
        f"code (for example UPS, FEDEX, DHL, USPS) - the tracking number is then sent automatically - or map "
        f"{method} to a carrier code in the Amazon Pay plugin setting \"Shipping method to carrier code\" of "
        f"channel {channel_slug} and save the tracking number again."
    )


def _note_issue(fulfillment, order, tracking_number: str, reason: str, message: str, *, once: bool) -> None:
    issue = _meta(fulfillment, TRACKER_ISSUE_META_KEY)
    if once and issue.get("trackingNumber") == tracking_number and issue.get("reason") == reason:
        return
    _save_meta(fulfillment, TRACKER_ISSUE_META_KEY,
               {"trackingNumber": tracking_number, "reason": reason, "at": _utcnow()})
    add_note(order, message)


def post_delivery_tracker(fulfillment_id: int, *, attempt: int = 1, final_attempt: bool = True) -> Outcome:
    """Send the fulfillment's tracking number to Amazon, at most once per charge permission."""
    from saleor.order.models import Fulfillment

    with transaction.atomic():
        # The row lock serializes the tasks of one fulfillment (two hooks, retries, a quick
        # second update): the second one sees what the first recorded.
        fulfillment = (Fulfillment.objects.select_for_update(of=("self",))
                       .select_related("order", "order__channel", "order__shipping_address")
                       .filter(pk=fulfillment_id).first())
        if fulfillment is None:
            return _done("fulfillment deleted")
        order = fulfillment.order
        channel_slug = order.channel.slug
        settings = channel_settings(channel_slug)
        if settings is None or not settings.delivery_tracker_enabled:
            return _done("feature off")
        if fulfillment.status not in _SHIPPED:
            return _done(f"fulfillment is {fulfillment.status}")
        tracking_number = (fulfillment.tracking_number or "").strip()
        if not tracking_number:
            return _done("no tracking number")
        charge_permission_id = charge_permission_of(order.pk)
        if not charge_permission_id:
            return _done("not paid with Amazon Pay")
        posted = _meta(fulfillment, TRACKER_META_KEY)
        if posted.get("trackingNumber") == tracking_number and posted.get("chargePermissionId") == charge_permission_id:
            return _done("already posted")
        sibling = _posted_on_sibling(fulfillment, tracking_number, charge_permission_id)
        if sibling:
            # One parcel, several fulfillments (one per warehouse): Amazon has it already.
            _save_meta(fulfillment, TRACKER_META_KEY, dict(sibling, sameAsFulfillment=sibling.get("fulfillment")))
            return _done("posted with another fulfillment")

        label = f"#{fulfillment.composed_id}"
        choice = carrier_for(settings, fulfillment, order, tracking_number)
        if not choice.carrier_code:
            _note_issue(fulfillment, order, tracking_number, "no-carrier",
                        f"Amazon Pay: tracking number {tracking_number} of fulfillment {label} was not sent to "
                        f"Amazon because its carrier is unknown: {choice.detail}. {_how_to_fix(order, channel_slug)}",
                        once=True)
            return _done("no carrier")

        try:
            client_for(settings).create_delivery_tracker(charge_permission_id, tracking_number, choice.carrier_code)
        except AmazonPayError as error:
            if error.should_retry and not final_attempt:
                logger.info("Amazon Pay delivery tracker of fulfillment %s: attempt %d failed (%s); retrying",
                            fulfillment_id, attempt, error)
                return Outcome(False, "retry", error)
            if error.should_retry:
                message = (f"Amazon Pay: tracking number {tracking_number} ({_carrier_label(choice.carrier_code)}) of "
                           f"fulfillment {label} could not be sent to Amazon after {attempt} attempts: {error}. "
                           f"Save the tracking number again to retry.")
                reason = "gave-up"
            else:
                message = (f"Amazon Pay did not accept tracking number {tracking_number} with carrier "
                           f"{_carrier_label(choice.carrier_code)} for fulfillment {label}: {error}. "
                           + _how_to_fix(order, channel_slug))
                reason = "rejected"
            logger.warning("Amazon Pay delivery tracker of fulfillment %s failed: %s", fulfillment_id, error)
            _note_issue(fulfillment, order, tracking_number, f"{reason}:{choice.carrier_code}", message, once=False)
            return _done(reason)

        _save_meta(fulfillment, TRACKER_META_KEY, {
            "trackingNumber": tracking_number,
            "carrierCode": choice.carrier_code,
            "chargePermissionId": charge_permission_id,
            "postedAt": _utcnow(),
        })
        source = {"metadata": f"from the fulfillment metadata {FULFILLMENT_CARRIER_META_KEY}",
                  "mapping": f"from the channel's mapping of shipping method {choice.detail!r}",
                  "detected": "detected from the tracking number"}.get(choice.source, choice.source)
        add_note(order, f"Amazon Pay: tracking number {tracking_number} of fulfillment {label} sent to Amazon "
                        f"(carrier {_carrier_label(choice.carrier_code)}, {source}).")
        return _done("posted")


def _posted_on_sibling(fulfillment, tracking_number: str, charge_permission_id: str) -> "dict | None":
    for other in fulfillment.order.fulfillments.exclude(pk=fulfillment.pk).only("pk", "fulfillment_order",
                                                                                 "private_metadata"):
        record = _meta(other, TRACKER_META_KEY)
        if record.get("trackingNumber") == tracking_number and record.get("chargePermissionId") == charge_permission_id:
            return dict(record, fulfillment=f"{fulfillment.order.number}-{other.fulfillment_order}")
    return None


# -- capture on shipment (runs in the Celery task) ------------------------------------------------


def fulfillment_amount(fulfillment) -> Decimal:
    """Sum of the fulfillment's lines at the order's unit gross prices."""
    total = Decimal(0)
    for line in fulfillment.lines.select_related("order_line"):
        total += Decimal(line.quantity) * line.order_line.unit_price_gross_amount
    return total


def capture_fulfillment(fulfillment_id: int, *, attempt: int = 1, final_attempt: bool = True) -> Outcome:
    """Capture what this fulfillment ships (plus shipping on the first one), once."""
    from saleor.order.models import Fulfillment

    fulfillment = (Fulfillment.objects.select_related("order", "order__channel")
                   .filter(pk=fulfillment_id).first())
    if fulfillment is None:
        return _done("fulfillment deleted")
    order = fulfillment.order
    settings = channel_settings(order.channel.slug)
    if settings is None or not settings.capture_on_shipment:
        return _done("feature off")
    if fulfillment.status not in _SHIPPED:
        return _done(f"fulfillment is {fulfillment.status}")
    captured: "dict[str, Any] | None" = None
    with transaction.atomic():
        payments = amazon_payments(order.pk, lock=True)
        if not payments:
            if amazon_transaction_items(order.pk):
                # Transactions API orders are charged through their TransactionItem
                # (transactionRequestAction), which this feature does not drive.
                add_note(order, f"Amazon Pay: fulfillment #{fulfillment.composed_id} was not captured on shipment: "
                                f"this order was paid through the Transactions API. Charge it from the order's "
                                f"Amazon Pay transaction in the dashboard.")
            return _done("not paid with Amazon Pay")
        payment = payments[0]
        outcome, captured = _capture_locked(settings, payment, fulfillment, order, attempt, final_attempt)
    if captured:
        _after_capture(order, payment, fulfillment, captured)
    return outcome


def _capture_locked(settings: ChannelSettings, payment, fulfillment, order, attempt: int,
                    final_attempt: bool) -> "tuple[Outcome, dict | None]":
    from saleor.core.prices import quantize_price
    from saleor.payment import ChargeStatus

    from .session_flow import idempotency_key

    state = saleor_data.private_state(payment)
    captures = list(state.get("captures", []))
    label = f"#{fulfillment.composed_id}"
    if any(c.get("fulfillmentId") == fulfillment.pk for c in captures):
        return _done("already captured"), None
    if not payment.is_active or payment.charge_status not in (ChargeStatus.NOT_CHARGED, ChargeStatus.PARTIALLY_CHARGED):
        if payment.charge_status == ChargeStatus.PENDING:
            add_note(order, f"Amazon Pay: fulfillment {label} was not captured on shipment because an earlier "
                            f"capture is still pending at Amazon. Capture it from the dashboard once that settles.")
        return _done(f"payment is {payment.charge_status}"), None

    currency = payment.currency
    remaining = payment.total - payment.captured_amount
    with_shipping = not any(c.get("includesShipping") for c in captures)
    amount = fulfillment_amount(fulfillment)
    if with_shipping:
        amount += order.shipping_price_gross_amount or Decimal(0)
    amount = quantize_price(min(amount, remaining), currency)
    if amount <= 0:
        return _done("nothing left to capture"), None

    price = Price(amount, currency)
    charge_permission_id = payment.metadata[META_CHARGE_PERMISSION_ID]
    charge_id = (payment.metadata or {}).get(META_CHARGE_ID)
    captured_ids = {c.get("chargeId") for c in captures}
    client = client_for(settings)
    descriptor = settings.soft_descriptor or None
    try:
        if charge_id and charge_id not in captured_ids and payment.captured_amount == 0:
            # First shipment: capture (part of) the checkout's authorization.
            try:
                charge = client.capture_charge(charge_id, price, soft_descriptor=descriptor,
                                               idempotency_key=idempotency_key(payment.pk, "shipment-capture",
                                                                               fulfillment.pk))
            except InvalidStateError:
                current = client.get_charge(charge_id)
                if current.state is ChargeState.CAPTURED:
                    if current.captured_amount != price:
                        done = current.captured_amount.formatted() if current.captured_amount else "?"
                        raise _Refused(f"charge {charge_id} was already captured outside Saleor ({done})") from None
                    charge = current  # our own capture whose answer was lost
                else:
                    # The authorization expired (30 days) or was closed: charge the permission.
                    charge = _charge_permission(client, settings, payment, fulfillment, charge_permission_id, price)
        else:
            # Later shipments: Amazon captures an authorization once, so charge the permission again.
            charge = _charge_permission(client, settings, payment, fulfillment, charge_permission_id, price)
        if charge.state is ChargeState.DECLINED:
            raise _Refused(f"Amazon declined the charge ({charge.status.reason_code})")
    except AmazonPayError as error:
        if error.should_retry and not final_attempt:
            logger.info("Amazon Pay capture of fulfillment %s: attempt %d failed (%s); retrying",
                        fulfillment.pk, attempt, error)
            return Outcome(False, "retry", error), None
        logger.warning("Amazon Pay capture of fulfillment %s failed: %s", fulfillment.pk, error)
        tail = f" after {attempt} attempts" if error.should_retry else ""
        add_note(order, f"Amazon Pay: capturing {_money(price)} for fulfillment {label} failed{tail}: {error}. "
                        f"Capture the amount from the dashboard or Seller Central.")
        return _done("failed"), None
    except _Refused as refused:
        add_note(order, f"Amazon Pay: capturing {_money(price)} for fulfillment {label} failed: {refused}. "
                        f"Capture the amount from the dashboard or Seller Central.")
        return _done("refused"), None

    _record_capture(payment, charge, price, fulfillment, with_shipping, captures)
    return _done("captured"), {"chargeId": charge.charge_id, "amount": amount, "state": charge.state,
                               "price": price, "withShipping": with_shipping}


class _Refused(Exception):
    pass


def _money(price: Price) -> str:
    return f"{price.formatted()} {price.currency_code}"


def _charge_permission(client, settings: ChannelSettings, payment, fulfillment, charge_permission_id: str,
                       price: Price):
    from .session_flow import idempotency_key

    return client.create_charge(
        charge_permission_id, price, capture_now=True,
        idempotency_key=idempotency_key(payment.pk, "shipment-charge", fulfillment.pk),
        soft_descriptor=settings.soft_descriptor or None,
        can_handle_pending_authorization=settings.can_handle_pending_authorization,
    )


def _record_capture(payment, charge, price: Price, fulfillment, with_shipping: bool, captures: list) -> None:
    """Saleor's side of a capture, done the way ``saleor.payment.gateway.capture`` does it."""
    from saleor.payment import TransactionKind
    from saleor.payment.interface import GatewayResponse
    from saleor.payment.utils import create_transaction, gateway_postprocess

    kind = TransactionKind.CAPTURE if charge.state is ChargeState.CAPTURED else TransactionKind.PENDING
    response = GatewayResponse(
        is_success=True, action_required=False, kind=kind, amount=price.amount, currency=price.currency_code,
        transaction_id=charge.charge_id, error=None, psp_reference=charge.charge_id,
        raw_response={"chargeId": charge.charge_id, "state": charge.state.value,
                      "fulfillmentId": str(fulfillment.pk)},
    )
    txn = create_transaction(payment, kind=kind, payment_information=None, gateway_response=response)
    gateway_postprocess(txn, payment)
    captures = captures + [{"chargeId": charge.charge_id, "amount": price.formatted(), "state": charge.state.value,
                            "fulfillmentId": fulfillment.pk, "includesShipping": with_shipping,
                            "capturedAt": _utcnow()}]
    saleor_data.save_payment_meta(payment, public={META_CHARGE_ID: charge.charge_id}, private={"captures": captures})


def _after_capture(order, payment, fulfillment, captured: dict) -> None:
    """Order events and webhooks, as ``orderCapture`` does; then a note naming the fulfillment."""
    from saleor.order.actions import order_charged
    from saleor.order.fetch import fetch_order_info
    from saleor.plugins.manager import get_plugins_manager

    price: Price = captured["price"]
    label = f"#{fulfillment.composed_id}"
    payment.refresh_from_db()
    order.refresh_from_db()
    if captured["state"] is ChargeState.CAPTURED:
        try:
            from django.contrib.sites.models import Site

            site_settings = Site.objects.get_current().settings
        except Exception:  # noqa: BLE001 - only used for gift cards of fully paid orders
            site_settings = None
        order_charged(fetch_order_info(order), None, None, price.amount, payment,
                      get_plugins_manager(allow_replica=False), site_settings)
        shipping = " (including shipping)" if captured["withShipping"] else ""
        so_far = Price(payment.captured_amount, payment.currency).formatted()
        total = _money(Price(payment.total, payment.currency))
        add_note(order, f"Amazon Pay: captured {_money(price)}{shipping} for fulfillment {label} "
                        f"(charge {captured['chargeId']}); {so_far} of {total} captured so far.")
    else:
        add_note(order, f"Amazon Pay: the capture of {_money(price)} for fulfillment {label} is pending at "
                        f"Amazon (charge {captured['chargeId']}, {captured['state'].value}).")
