"""Apply Amazon Pay's current state to Saleor's payment and order.

Shared by the IPN endpoint (``notifications``) and reconciliation (``reconcile``). Both
read the Amazon object first (an IPN carries no state, and nothing in a request body is
trusted), then lock the payment row and call :class:`PaymentSync`, which compares Amazon's
*current* state with what Saleor already recorded and only ever moves forward:

* what Saleor recorded is found by Amazon id: the ``token`` of a successful transaction
  (AUTH/CAPTURE/PENDING/CANCEL/VOID/REFUND/REFUND_REVERSED) is the chargeId, refundId or
  chargePermissionId it is about;
* a step runs only when Saleor is in the state that step starts from (e.g. the AUTH of a
  pending authorization needs ``charge_status == pending`` and no AUTH or CAPTURE for that
  charge), so a repeated or late notification (an old "pending" after "authorized") finds
  nothing to do;
* staff notes are written once per (object, state, reason), remembered in the payment's
  private metadata.

Money moves through Saleor's own functions (``create_transaction`` + ``gateway_postprocess``,
``order_authorized``, ``order_charged``, ``cancel_order``, ``order_voided``, order events),
never by editing amounts directly.

With ``dry_run=True`` nothing is written and nothing is sent to Amazon: :attr:`PaymentSync.changes`
lists what would happen.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from ..core import (
    Charge,
    ChargePermission,
    ChargePermissionState,
    ChargeState,
    CheckoutSession,
    CheckoutSessionState,
    InvalidStateError,
    Refund,
    RefundState,
)
from . import saleor_data
from .consts import (
    META_CHARGE_ID,
    META_CHARGE_PERMISSION_ID,
    META_CHECKOUT_SESSION_ID,
    PLUGIN_ID,
)
from .settings import ChannelSettings

logger = logging.getLogger("saleor_amazonpay.sync")

NOTE_PREFIX = "Amazon Pay: "
_MAX_REMEMBERED_NOTES = 200
_RELEASE_REASON = "Checkout was not completed in Saleor"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount} {currency}"


# -- finding Saleor's records -----------------------------------------------------------------


def find_payment(charge_permission_id: "str | None", object_id: "str | None" = None):
    """The Amazon Pay payment an Amazon object belongs to, or None.

    By the ``chargePermissionId`` public metadata key (every Charge, Refund and
    ChargePermission of a checkout hangs off one charge permission), then by ``chargeId``
    metadata or a transaction token equal to the object id.
    """
    from saleor.payment.models import Payment

    payments = Payment.objects.filter(gateway=PLUGIN_ID)
    if charge_permission_id:
        payment = payments.filter(**{f"metadata__{META_CHARGE_PERMISSION_ID}": charge_permission_id}).order_by(
            "-pk").first()
        if payment is not None:
            return payment
    if object_id:
        payment = payments.filter(**{f"metadata__{META_CHARGE_ID}": object_id}).order_by("-pk").first()
        if payment is None:
            payment = payments.filter(transactions__token=object_id).order_by("-pk").first()
        return payment
    return None


def payment_channel_slug(payment) -> "str | None":
    if payment.order_id:
        return payment.order.channel.slug
    if payment.checkout_id:
        checkout = payment.checkout
        return checkout.channel.slug if checkout is not None else None
    return None


def channel_settings(channel_slug: "str | None") -> "ChannelSettings | None":
    """The stored Amazon Pay settings of a channel, or None when the plugin is off there."""
    if not channel_slug:
        return None
    from saleor.plugins.models import PluginConfiguration

    config = PluginConfiguration.objects.filter(identifier=PLUGIN_ID, channel__slug=channel_slug).first()
    if config is None or not config.active:
        return None
    return ChannelSettings.from_items(config.configuration or [])


def lock_payment(payment_id: int, *, with_checkout: bool = False):
    """Lock the payment row (and first its checkout, in checkoutComplete's lock order)."""
    from saleor.checkout.models import Checkout
    from saleor.payment.models import Payment

    if with_checkout:
        list(Checkout.objects.select_for_update(of=("self",)).filter(payments__id=payment_id))
    return Payment.objects.select_for_update(of=("self",)).get(pk=payment_id)


# -- applying state -----------------------------------------------------------------------------


class PaymentSync:
    """Moves one locked payment (and its order) to what Amazon says is true now."""

    def __init__(self, payment, settings: ChannelSettings, *, dry_run: bool = False,
                 source: str = "notification", client: Any = None) -> None:
        self.payment = payment
        self.settings = settings
        self.dry_run = dry_run
        self.source = source
        self.client = client
        #: What happened (or, in a dry run, would happen), in words staff understand.
        self.changes: list[str] = []
        self._state = saleor_data.private_state(payment)
        self._dirty: set[str] = set()
        self._manager = None

    # -- bookkeeping ------------------------------------------------------------------------

    @property
    def charge_permission_id(self) -> "str | None":
        return (self.payment.metadata or {}).get(META_CHARGE_PERMISSION_ID)

    @property
    def released(self) -> bool:
        return bool(self._state.get("released"))

    def _do(self, description: str, action: Callable[[], None]) -> None:
        self.changes.append(description)
        if not self.dry_run:
            action()

    def _set_state(self, key: str, value: Any) -> None:
        if self._state.get(key) != value:
            self._state[key] = value
            self._dirty.add(key)

    def finish(self) -> None:
        """Persist the plugin's private bookkeeping (not in a dry run)."""
        if self._dirty and not self.dry_run:
            saleor_data.save_payment_meta(self.payment, private={k: self._state[k] for k in self._dirty})
        self._dirty.clear()

    def _recorded(self, token: "str | None", *kinds: str) -> bool:
        if not token:
            return False
        return self.payment.transactions.filter(token=token, kind__in=kinds, is_success=True,
                                                action_required=False).exists()

    def _has_auth_other_than(self, token: str) -> bool:
        from saleor.payment import TransactionKind

        return self.payment.transactions.filter(kind=TransactionKind.AUTH, is_success=True,
                                                action_required=False).exclude(token=token).exists()

    def _order(self):
        if not self.payment.order_id:
            return None
        from saleor.order.models import Order

        return Order.objects.get(pk=self.payment.order_id)

    def manager(self):
        if self._manager is None:
            from saleor.plugins.manager import get_plugins_manager

            self._manager = get_plugins_manager(allow_replica=False)
        return self._manager

    @staticmethod
    def _site_settings():
        try:
            from django.contrib.sites.models import Site

            return Site.objects.get_current().settings
        except Exception:
            return None

    def note(self, key: str, message: str) -> None:
        """An order note for staff, written once per ``key``; logged when there is no order."""
        noted = list(self._state.get("notified") or [])
        if key in noted:
            return
        if not self.payment.order_id:
            logger.info("Amazon Pay payment %s (no order): %s", self.payment.pk, message)
            return

        def write() -> None:
            from saleor.order import events

            events.order_note_added_event(order=self._order(), user=None, app=None,
                                          message=(NOTE_PREFIX + message)[:1000])

        self._do(f"add an order note: {message}", write)
        self._set_state("notified", (noted + [key])[-_MAX_REMEMBERED_NOTES:])

    def _transaction(self, kind: str, token: str, amount: Decimal, *, error: "str | None" = None,
                     raw: "dict | None" = None, postprocess: bool = True):
        from saleor.payment.interface import GatewayResponse
        from saleor.payment.utils import create_transaction, gateway_postprocess

        response = GatewayResponse(
            is_success=True, action_required=False, kind=kind, amount=amount, currency=self.payment.currency,
            transaction_id=token, error=error, psp_reference=token,
            raw_response={"source": self.source, **{k: str(v) for k, v in (raw or {}).items()}},
        )
        txn = create_transaction(self.payment, kind=kind, payment_information=None, action_required=False,
                                 gateway_response=response)
        if postprocess:
            was_active = self.payment.is_active
            gateway_postprocess(txn, self.payment)
            if self.payment.is_active and not was_active:
                # Saleor reactivates a payment on CAPTURE / REFUND_REVERSED but does not save the flag.
                self.payment.save(update_fields=["is_active", "modified_at"])
        return txn

    def _update_entry(self, key: str, id_key: str, object_id: str, state: str) -> None:
        entries = [dict(e) for e in (self._state.get(key) or [])]
        changed = False
        for entry in entries:
            if entry.get(id_key) == object_id and entry.get("state") != state:
                entry["state"] = state
                changed = True
        if changed:
            self._set_state(key, entries)

    # -- dispatch ---------------------------------------------------------------------------

    def apply(self, obj: Any) -> None:
        if isinstance(obj, Charge):
            self.charge(obj)
        elif isinstance(obj, Refund):
            self.refund(obj)
        elif isinstance(obj, ChargePermission):
            self.charge_permission(obj)
        elif isinstance(obj, CheckoutSession):
            self.checkout_session(obj)
        else:  # pragma: no cover - callers pass API models only
            raise TypeError(f"cannot apply {type(obj).__name__}")

    def _belongs(self, charge_permission_id: "str | None", what: str) -> bool:
        mine = self.charge_permission_id
        if charge_permission_id and mine and charge_permission_id != mine:
            logger.warning("Amazon Pay %s belongs to charge permission %s, not to payment %s (%s): ignored",
                           what, charge_permission_id, self.payment.pk, mine)
            return False
        return True

    # -- Charge -----------------------------------------------------------------------------

    def charge(self, charge: Charge) -> None:
        if not self._belongs(charge.charge_permission_id, f"charge {charge.charge_id}"):
            return
        if self.released:
            logger.info("Amazon Pay charge %s: payment %s was released by reconciliation; nothing to do",
                        charge.charge_id, self.payment.pk)
            return
        if self.payment.to_confirm:
            # Saleor never finished this checkout: only reconciliation decides (checkout_session).
            logger.info("Amazon Pay charge %s: payment %s still awaits checkoutComplete; left to reconciliation",
                        charge.charge_id, self.payment.pk)
            return
        state = charge.state
        self._update_entry("captures", "chargeId", charge.charge_id, state.value)
        if state is ChargeState.AUTHORIZED:
            self._authorized(charge)
        elif state is ChargeState.CAPTURED:
            self._captured(charge)
        elif state in (ChargeState.DECLINED, ChargeState.CANCELED):
            self._not_authorized(charge)
        # AuthorizationInitiated, CaptureInitiated, Pending: nothing final yet.

    def _charge_amount(self, charge: Charge) -> Decimal:
        price = charge.charge_amount
        return price.amount if price is not None else self.payment.total

    def _authorized(self, charge: Charge) -> None:
        from saleor.payment import ChargeStatus, TransactionKind

        payment = self.payment
        cid = charge.charge_id
        if self._recorded(cid, TransactionKind.AUTH, TransactionKind.CAPTURE):
            return
        if not payment.is_active or payment.charge_status != ChargeStatus.PENDING:
            return
        amount = self._charge_amount(charge)

        def record() -> None:
            from saleor.order.actions import order_authorized

            payment.charge_status = ChargeStatus.NOT_CHARGED
            payment.save(update_fields=["charge_status", "modified_at"])
            self._transaction(TransactionKind.AUTH, cid, amount, raw={"chargeId": cid, "state": "Authorized"})
            order = self._order()
            if order is not None:
                order_authorized(order, None, None, amount, payment, self.manager())

        self._do(f"record the authorization of {_money(amount, payment.currency)} (charge {cid}): "
                 f"the payment is authorized and can be captured", record)
        self._set_state("outcome", TransactionKind.AUTH)
        self.note(f"authorized:{cid}", f"the pending authorization {cid} of {_money(amount, payment.currency)} "
                                       f"was approved; the payment can now be captured.")

    def _captured(self, charge: Charge) -> None:
        from saleor.payment import TransactionKind

        payment = self.payment
        cid = charge.charge_id
        if self._recorded(cid, TransactionKind.CAPTURE):
            return
        price = charge.captured_amount or charge.charge_amount
        amount = price.amount if price is not None else payment.total
        was_active = payment.is_active

        def record() -> None:
            from saleor.order.actions import order_charged
            from saleor.order.fetch import fetch_order_info

            self._transaction(TransactionKind.CAPTURE, cid, amount, raw={"chargeId": cid, "state": "Captured"})
            saleor_data.save_payment_meta(payment, public={META_CHARGE_ID: cid})
            order = self._order()
            if order is not None:
                order_charged(fetch_order_info(order), None, None, amount, payment, self.manager(),
                              self._site_settings())

        self._do(f"record the capture of {_money(amount, payment.currency)} (charge {cid}): the payment is charged",
                 record)
        self._set_state("outcome", TransactionKind.CAPTURE)
        if not was_active:
            self.note(f"captured-inactive:{cid}",
                      f"Amazon captured {_money(amount, payment.currency)} (charge {cid}) on a payment Saleor "
                      f"had deactivated. Check the order and refund the buyer if it should not be paid.")

    def _not_authorized(self, charge: Charge) -> None:
        from saleor.payment import ChargeStatus, TransactionKind

        payment = self.payment
        cid = charge.charge_id
        reason = charge.status.reason_code or charge.state.value
        if self._recorded(cid, TransactionKind.CAPTURE):
            return  # a captured charge cannot be un-captured; refunds are separate objects
        if charge.state is ChargeState.CANCELED and self._recorded(cid, TransactionKind.VOID, TransactionKind.CANCEL):
            return  # Saleor voided it (or already recorded the failure)
        if self._recorded(cid, TransactionKind.CANCEL, TransactionKind.CAPTURE_FAILED):
            return
        if self._recorded(cid, TransactionKind.AUTH):
            if charge.state is ChargeState.CANCELED and reason == "ExpiredUnused":
                expired = list(self._state.get("expiredCharges") or [])
                if cid not in expired:
                    self._set_state("expiredCharges", expired + [cid])
                self.note(f"expired:{cid}",
                          f"the authorization {cid} expired before it was captured (ExpiredUnused). Amazon no "
                          f"longer holds the money: capturing the payment now charges the buyer's charge "
                          f"permission again (a new charge), which Amazon may decline.")
            elif charge.state is ChargeState.CANCELED:
                self.note(f"canceled:{cid}",
                          f"Amazon canceled the authorization {cid} ({reason}), e.g. from Seller Central. "
                          f"Amazon no longer holds the money for this payment.")
            return
        pending_here = self._recorded(cid, TransactionKind.PENDING) or (payment.metadata or {}).get(META_CHARGE_ID) == cid
        if payment.charge_status != ChargeStatus.PENDING or not pending_here:
            return  # a charge Saleor never counted on (e.g. refused synchronously): nothing to undo
        amount = self._charge_amount(charge)
        if self._has_auth_other_than(cid) or payment.captured_amount > 0:
            self._capture_failed(charge, amount, reason)
        else:
            self._authorization_failed(charge, amount, reason)

    def _capture_failed(self, charge: Charge, amount: Decimal, reason: str) -> None:
        from saleor.payment import ChargeStatus, TransactionKind

        payment = self.payment
        cid = charge.charge_id

        def record() -> None:
            self._transaction(TransactionKind.CAPTURE_FAILED, cid, amount, error=f"Amazon Pay: {reason}",
                              raw={"chargeId": cid, "state": charge.state.value, "reasonCode": reason},
                              postprocess=False)
            payment.charge_status = (ChargeStatus.PARTIALLY_CHARGED if payment.captured_amount > 0
                                     else ChargeStatus.NOT_CHARGED)
            payment.save(update_fields=["charge_status", "modified_at"])

        self._do(f"record that Amazon {charge.state.value.lower()} the capture of "
                 f"{_money(amount, payment.currency)} (charge {cid}, {reason}): the payment can be captured again",
                 record)
        self.note(f"capture-failed:{cid}",
                  f"Amazon {charge.state.value.lower()} the capture of {_money(amount, payment.currency)} "
                  f"(charge {cid}, {reason}). Nothing was charged; capture again or contact the buyer.")

    def _authorization_failed(self, charge: Charge, amount: Decimal, reason: str) -> None:
        from saleor.order import OrderStatus
        from saleor.payment import TransactionKind

        payment = self.payment
        cid = charge.charge_id
        order = self._order()
        cancel = (order is not None and order.status in (OrderStatus.UNCONFIRMED, OrderStatus.UNFULFILLED)
                  and not order.fulfillments.exists())
        outcome = "declined" if charge.state is ChargeState.DECLINED else "canceled"

        def record() -> None:
            from saleor.order import events
            from saleor.order.actions import cancel_order
            from saleor.order.utils import updates_amounts_for_order

            self._transaction(TransactionKind.CANCEL, cid, amount, error=f"Amazon Pay: {reason}",
                              raw={"chargeId": cid, "state": charge.state.value, "reasonCode": reason})
            if order is None:
                return
            current = self._order()
            updates_amounts_for_order(current)
            events.payment_failed_event(order=current, user=None, app=None, payment=payment,
                                        message=f"Amazon Pay {outcome} the pending authorization ({reason})")
            if cancel and current.total_charged_amount == 0 and current.total_authorized_amount == 0:
                cancel_order(current, None, None, self.manager(), self._site_settings())

        what = f"the pending authorization {cid} of {_money(amount, payment.currency)} was {outcome} ({reason})"
        if order is None:
            self._do(f"record that {what}: the payment is canceled", record)
            return
        self._do(f"record that {what}: the payment is canceled"
                 + (f" and order #{order.number} is canceled" if cancel else ""), record)
        if cancel:
            self.note(f"auth-failed:{cid}",
                      f"{what}. Nothing was charged, so the unpaid order was canceled and its stock released. "
                      f"The buyer may place a new order with another payment method.")
        else:
            self.note(f"auth-failed:{cid}",
                      f"{what}. Nothing was charged. The order was NOT canceled because it is already "
                      f"{order.status}: contact the buyer for another payment.")

    # -- Refund -----------------------------------------------------------------------------

    def _owns_refund(self, refund: Refund) -> bool:
        from saleor.payment import TransactionKind

        refunds = {e.get("refundId") for e in (self._state.get("refunds") or [])}
        if refund.refund_id in refunds:
            return True
        charges = {(self.payment.metadata or {}).get(META_CHARGE_ID)}
        charges |= {e.get("chargeId") for e in (self._state.get("captures") or [])}
        charges |= set(self.payment.transactions.filter(
            kind__in=[TransactionKind.AUTH, TransactionKind.CAPTURE, TransactionKind.PENDING]).values_list("token",
                                                                                                        flat=True))
        return bool(refund.charge_id) and refund.charge_id in charges

    def refund(self, refund: Refund) -> None:
        from saleor.payment import TransactionKind

        payment = self.payment
        rid = refund.refund_id
        if self.released or not self._owns_refund(refund):
            if not self.released:
                logger.warning("Amazon Pay refund %s does not belong to payment %s: ignored", rid, payment.pk)
            return
        state = refund.state
        self._update_entry("refunds", "refundId", rid, state.value)
        price = refund.refund_amount
        amount = price.amount if price is not None else Decimal(0)
        shown = _money(amount, price.currency_code if price else payment.currency)
        recorded = self._recorded(rid, TransactionKind.REFUND)
        if state is RefundState.REFUNDED:
            if recorded:
                self.note(f"refunded:{rid}", f"Amazon completed the refund {rid} of {shown}.")
            else:
                self.note(f"refunded-outside:{rid}",
                          f"Amazon completed a refund {rid} of {shown} that Saleor did not request (e.g. from "
                          f"Seller Central). Saleor's payment does not include it.")
        elif state is RefundState.DECLINED:
            reason = refund.status.reason_code or "Declined"
            if recorded and not self._recorded(rid, TransactionKind.REFUND_REVERSED):
                def record() -> None:
                    self._transaction(TransactionKind.REFUND_REVERSED, rid, amount, error=f"Amazon Pay: {reason}",
                                      raw={"refundId": rid, "state": "Declined", "reasonCode": reason})

                self._do(f"reverse the refund {rid} of {shown} that Amazon declined ({reason}): the amount counts "
                         f"as captured again", record)
                self.note(f"refund-declined:{rid}",
                          f"Amazon declined the refund {rid} of {shown} ({reason}). The buyer did not get the money "
                          f"back and it counts as captured again: retry the refund or refund the buyer another way.")
            elif not recorded:
                self.note(f"refund-declined:{rid}", f"Amazon declined a refund {rid} of {shown} ({reason}).")

    # -- Charge Permission -----------------------------------------------------------------------

    def charge_permission(self, permission: ChargePermission) -> None:
        from saleor.payment import ChargeStatus, TransactionKind

        payment = self.payment
        cpid = permission.charge_permission_id
        if self.released or not self._belongs(cpid, f"charge permission {cpid}"):
            return
        if payment.to_confirm:
            return
        state = permission.state
        reason = permission.status.reason_code or state.value
        if state is ChargePermissionState.CLOSED:
            voided = self._recorded(cpid, TransactionKind.VOID) or payment.transactions.filter(
                kind=TransactionKind.VOID, is_success=True).exists()
            nothing_captured = (payment.captured_amount == 0 and not payment.transactions.filter(
                kind=TransactionKind.CAPTURE, is_success=True).exists())
            if nothing_captured and payment.is_active and payment.charge_status == ChargeStatus.NOT_CHARGED:
                def deactivate() -> None:
                    from saleor.order.actions import order_voided

                    self._transaction(TransactionKind.VOID, cpid, payment.total,
                                      raw={"chargePermissionId": cpid, "state": "Closed", "reasonCode": reason})
                    order = self._order()
                    if order is not None:
                        order_voided(order, None, None, payment, self.manager())

                self._do(f"deactivate the payment: Amazon closed its charge permission {cpid} ({reason}) and "
                         f"nothing was captured", deactivate)
                self.note(f"closed:{cpid}",
                          f"Amazon closed the charge permission {cpid} ({reason}) before anything was captured. "
                          f"The payment was deactivated: it can no longer be captured.")
            elif not voided and payment.is_active:
                self.note(f"closed:{cpid}",
                          f"Amazon closed the charge permission {cpid} ({reason}): no further captures are "
                          f"possible; refunds of captured money still are.")
        elif state is ChargePermissionState.NON_CHARGEABLE and payment.is_active:
            self.note(f"non-chargeable:{cpid}:{reason}",
                      f"Amazon marked the charge permission {cpid} NonChargeable ({reason}): captures fail "
                      f"until the buyer updates the payment method in their Amazon account.")

    def chargeback(self, chargeback_id: str) -> None:
        """Amazon Pay API v2 has no call to read a chargeback: tell staff where to look."""
        self.note(f"chargeback:{chargeback_id}",
                  f"Amazon reported a chargeback ({chargeback_id}) on this payment. Review it in Seller Central "
                  f"(Payments > Chargebacks); the order was not changed.")

    # -- Checkout Session (reconciliation of an uncertain Complete) --------------------------------

    def checkout_session(self, session: CheckoutSession, charge: "Charge | None" = None) -> None:
        """A payment still ``to_confirm``: did Amazon complete the session Saleor lost track of?

        * Open: the buyer may still come back; nothing to do (Amazon cancels it after 24 hours).
        * Canceled: nothing was charged; remembered so the session is not read again.
        * Completed with an order: the order exists, so record Amazon's state on it.
        * Completed without an order: the buyer was told the payment failed and no order was
          created, so the money is released (authorization canceled or captured money
          refunded, charge permission closed) and the payment deactivated, rather than
          creating an order in the background or silently keeping the money.
        """
        payment = self.payment
        if not payment.to_confirm:
            return
        state = session.state
        if state is CheckoutSessionState.OPEN:
            return
        if state is CheckoutSessionState.CANCELED:
            if self._state.get("checkoutSessionState") != "Canceled":
                self.changes.append(f"remember that checkout session {session.checkout_session_id} was canceled "
                                    f"({session.status.reason_code}): nothing was charged")
                self._set_state("checkoutSessionState", "Canceled")
            return
        self._set_state("checkoutSessionState", state.value)
        if payment.order_id:
            self._record_completion(session, charge)
        else:
            self._release(session, charge)

    def _record_completion(self, session: CheckoutSession, charge: "Charge | None") -> None:
        from saleor.payment import TransactionKind

        payment = self.payment
        if charge is None:
            kind, token = TransactionKind.AUTH, session.charge_permission_id or session.checkout_session_id
        elif charge.state is ChargeState.CAPTURED:
            kind, token = TransactionKind.CAPTURE, charge.charge_id
        elif charge.state is ChargeState.AUTHORIZED:
            kind, token = TransactionKind.AUTH, charge.charge_id
        elif charge.state in (ChargeState.AUTHORIZATION_INITIATED, ChargeState.CAPTURE_INITIATED):
            kind, token = TransactionKind.PENDING, charge.charge_id
        else:
            kind, token = TransactionKind.CANCEL, charge.charge_id
        amount = (session.charge_amount.amount if session.charge_amount else payment.total)

        def record() -> None:
            public = {META_CHECKOUT_SESSION_ID: session.checkout_session_id,
                      META_CHARGE_PERMISSION_ID: session.charge_permission_id}
            if charge is not None:
                public[META_CHARGE_ID] = charge.charge_id
            saleor_data.save_payment_meta(payment, public=public)
            self._transaction(kind, token, amount, raw={"checkoutSessionId": session.checkout_session_id})

        self._do(f"record the completed checkout session {session.checkout_session_id} on the order "
                 f"({kind} {_money(amount, payment.currency)})", record)

    def _release(self, session: CheckoutSession, charge: "Charge | None") -> None:
        from saleor.payment import TransactionKind

        from .gateway import idempotency_key

        payment = self.payment
        cpid = session.charge_permission_id
        steps: list[str] = []
        if charge is not None and charge.state in (ChargeState.AUTHORIZATION_INITIATED, ChargeState.AUTHORIZED):
            steps.append(f"cancel the authorization {charge.charge_id}")
        if charge is not None and charge.state is ChargeState.CAPTURED:
            captured = charge.captured_amount or charge.charge_amount
            steps.append(f"refund the captured {captured.formatted() if captured else '?'} (charge {charge.charge_id})")
        if cpid:
            steps.append(f"close the charge permission {cpid}")
        token = (charge.charge_id if charge is not None else None) or cpid or session.checkout_session_id

        def release() -> None:
            client = self.client
            done: dict[str, Any] = {"at": _now(), "reason": _RELEASE_REASON,
                                    "checkoutSessionId": session.checkout_session_id}
            if charge is not None and charge.state in (ChargeState.AUTHORIZATION_INITIATED, ChargeState.AUTHORIZED):
                try:
                    client.cancel_charge(charge.charge_id, _RELEASE_REASON)
                except InvalidStateError:
                    pass  # already canceled/declined meanwhile
                done["canceledChargeId"] = charge.charge_id
            if charge is not None and charge.state is ChargeState.CAPTURED:
                captured = charge.captured_amount or charge.charge_amount
                refund = client.create_refund(charge.charge_id, captured,
                                              idempotency_key=idempotency_key(payment.pk, "release", charge.charge_id))
                done["refundId"] = refund.refund_id
            if cpid:
                try:
                    client.close_charge_permission(cpid, _RELEASE_REASON, cancel_pending_charges=True)
                except InvalidStateError:
                    pass  # already closed
                done["closedChargePermissionId"] = cpid
            public = {META_CHECKOUT_SESSION_ID: session.checkout_session_id, META_CHARGE_PERMISSION_ID: cpid}
            if charge is not None:
                public[META_CHARGE_ID] = charge.charge_id
            saleor_data.save_payment_meta(payment, public=public)
            self._set_state("released", done)
            self._transaction(TransactionKind.VOID, token, payment.total,
                              raw={"checkoutSessionId": session.checkout_session_id, "reason": _RELEASE_REASON})
            logger.warning("Amazon Pay payment %s: checkout session %s was completed at Amazon but no order was "
                           "created; released the money (%s)", payment.pk, session.checkout_session_id,
                           ", ".join(steps) or "nothing held")

        self._do(f"release the money of checkout session {session.checkout_session_id}, completed at Amazon "
                 f"although Saleor created no order: {', '.join(steps) or 'nothing is held'}; deactivate the payment",
                 release)
