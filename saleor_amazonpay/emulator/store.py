"""In-memory Amazon Pay objects and the rules that move them between states.

Every mutation happens under ``Store.lock`` (an RLock: the app holds it for a whole API
call, and the Python API methods take it too), so the threaded server sees each call as
atomic. Time-based transitions (session expiry, pending authorizations, refund
settlement, authorization expiry) are applied lazily by :meth:`Store.tick` against the
injectable clock: at the start of every call, on admin clock moves, and once a second by
the threaded server's ticker.

State changes of charges, refunds and charge permissions are queued as :class:`Event`
for the IPN dispatcher; the app drains them after each call.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable

from ..core.constants import (
    ChargePermissionState,
    ChargeState,
    CheckoutSessionState,
    Environment,
    PaymentIntent,
    RefundState,
)
from ..core.models import Price
from . import ids
from .clock import Clock
from .errors import AmazonError, currency_mismatch, invalid, not_found
from .fixtures import Instrument, find_address, find_instrument
from .merchants import Merchant
from .money import allowance, total, within_allowance, zero
from .objects import (
    BuyerInfo,
    Charge,
    ChargePermission,
    ChargePermissionStatus,
    CheckoutSession,
    DeliveryTracker,
    Event,
    Owner,
    PaymentDetails,
    Pending,
    Refund,
    Status,
)
from .settings import EmulatorSettings

_OPEN_CHARGE_STATES = (
    ChargeState.AUTHORIZATION_INITIATED.value,
    ChargeState.AUTHORIZED.value,
    ChargeState.CAPTURE_INITIATED.value,
)
_CANCELABLE_CHARGE_STATES = (ChargeState.AUTHORIZATION_INITIATED.value, ChargeState.AUTHORIZED.value)

DECLINE_DESCRIPTIONS = {
    "HardDeclined": "Charge was hard declined. Retry attempts will not succeed. "
                    "Ask the buyer for another payment method.",
    "SoftDeclined": "Charge was soft declined. Retry attempts may or may not be successful.",
    "AmazonRejected": "Charge was declined by Amazon.",
    "TransactionTimedOut": "Amazon could not process the authorization in time.",
    "ProcessingFailure": "Amazon could not process the transaction because of an internal processing error.",
}


class Store:
    def __init__(self, clock: Clock, settings: "EmulatorSettings | None" = None) -> None:
        self.clock = clock
        self.settings = settings or EmulatorSettings()
        self.lock = threading.RLock()
        self.checkout_sessions: dict[str, CheckoutSession] = {}
        self.charge_permissions: dict[str, ChargePermission] = {}
        self.charges: dict[str, Charge] = {}
        self.refunds: dict[str, Refund] = {}
        self.delivery_trackers: list[DeliveryTracker] = []
        self._events: list[Event] = []

    # -- housekeeping -----------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.checkout_sessions.clear()
            self.charge_permissions.clear()
            self.charges.clear()
            self.refunds.clear()
            self.delivery_trackers.clear()
            self._events.clear()

    def drain_events(self) -> "list[Event]":
        with self.lock:
            events, self._events = self._events, []
            return events

    def _emit(self, object_type: str, object_id: str, charge_permission_id: str, owner: Owner, state: str) -> None:
        self._events.append(Event(object_type, object_id, charge_permission_id, owner, state))

    @staticmethod
    def _unique(existing: dict, make: Callable[[], str]) -> str:
        while True:
            value = make()
            if value not in existing:
                return value

    # -- lookups (404 for unknown ids and for other merchants' objects) -----------------

    @staticmethod
    def _owned(obj: Any, owner: "Owner | None", what: str, object_id: str):
        if obj is None or (owner is not None and obj.owner != owner):
            raise not_found(what, object_id)
        return obj

    def get_checkout_session(self, checkout_session_id: str, owner: "Owner | None" = None) -> CheckoutSession:
        return self._owned(self.checkout_sessions.get(checkout_session_id), owner, "Checkout Session",
                           checkout_session_id)

    def get_charge_permission(self, charge_permission_id: str, owner: "Owner | None" = None) -> ChargePermission:
        return self._owned(self.charge_permissions.get(charge_permission_id), owner, "Charge Permission",
                           charge_permission_id)

    def get_charge(self, charge_id: str, owner: "Owner | None" = None) -> Charge:
        return self._owned(self.charges.get(charge_id), owner, "Charge", charge_id)

    def get_refund(self, refund_id: str, owner: "Owner | None" = None) -> Refund:
        return self._owned(self.refunds.get(refund_id), owner, "Refund", refund_id)

    def charges_of(self, cp: ChargePermission) -> "list[Charge]":
        return [self.charges[cid] for cid in cp.charge_ids if cid in self.charges]

    def refunds_of(self, charge: Charge) -> "list[Refund]":
        return [r for r in self.refunds.values() if r.charge_id == charge.charge_id]

    def trackers_of(self, charge_permission_id: str) -> "list[DeliveryTracker]":
        return [t for t in self.delivery_trackers if t.charge_permission_id == charge_permission_id]

    # -- time -------------------------------------------------------------------------

    def tick(self) -> int:
        """Apply every time-based transition that is due; returns how many were applied."""
        applied = 0
        with self.lock:
            while True:
                now = self.clock.now()
                due = self._due_transitions(now)
                if not due:
                    return applied
                due.sort(key=lambda item: item[0])
                _, apply = due[0]
                apply()
                applied += 1

    def settle(self, object_id: "str | None" = None) -> int:
        """Make pending charges and refunds (all, or the one named) due now and apply them:
        the admin's "settle" button, for tests that do not want to think about timings."""
        with self.lock:
            now = self.clock.now()
            for obj in [*self.charges.values(), *self.refunds.values()]:
                oid = obj.refund_id if isinstance(obj, Refund) else obj.charge_id
                if obj.pending is not None and object_id in (None, oid) and obj.pending.due > now:
                    obj.pending.due = now
            return self.tick()

    def _due_transitions(self, now: datetime) -> "list[tuple[datetime, Callable[[], None]]]":
        due: list = []
        for session in self.checkout_sessions.values():
            if session.is_open and session.expires <= now:
                due.append((session.expires, lambda s=session: self._expire_session(s)))
        for charge in self.charges.values():
            if charge.pending is not None and charge.pending.due <= now:
                due.append((charge.pending.due, lambda c=charge: self._resolve_charge(c)))
            elif charge.state == ChargeState.AUTHORIZED.value and charge.expires <= now:
                due.append((charge.expires, lambda c=charge: self._expire_authorization(c)))
        for refund in self.refunds.values():
            if refund.pending is not None and refund.pending.due <= now:
                due.append((refund.pending.due, lambda r=refund: self._resolve_refund(r)))
        for cp in self.charge_permissions.values():
            if cp.state != ChargePermissionState.CLOSED.value and cp.expires <= now:
                due.append((cp.expires, lambda p=cp: self._close_charge_permission(
                    p, "Expired", "The Charge Permission expired.", at=p.expires)))
        return due

    def _expire_session(self, session: CheckoutSession) -> None:
        session.status = Status(CheckoutSessionState.CANCELED.value, session.expires, "Expired",
                                "The Checkout Session expired: it was not completed within 24 hours.")

    def _expire_authorization(self, charge: Charge) -> None:
        self._set_charge_status(charge, ChargeState.CANCELED.value, "ExpiredUnused",
                                "The authorization expired before it was captured.", at=charge.expires)
        self._emit_charge(charge)  # a state change like any other: Amazon sends an IPN
        self._after_charge_change(charge)

    # -- Checkout Session -------------------------------------------------------------

    def create_checkout_session(self, merchant: Merchant, environment: Environment, fields: dict,
                                *, source: str = "api") -> CheckoutSession:
        """``fields``: a validated Create Checkout Session body (see validation.py)."""
        with self.lock:
            store_id = fields.get("storeId")
            if store_id not in merchant.store_ids:
                raise invalid("storeId", f"storeId {store_id} does not belong to merchant {merchant.merchant_id}.")
            now = self.clock.now()
            web = fields.get("webCheckoutDetails") or {}
            session = CheckoutSession(
                checkout_session_id=self._unique(self.checkout_sessions, ids.new_checkout_session_id),
                owner=Owner(merchant.merchant_id, environment),
                store_id=store_id,
                created=now,
                expires=now + self.settings.checkout_session_lifetime,
                status=Status(CheckoutSessionState.OPEN.value, now),
                checkout_review_return_url=web.get("checkoutReviewReturnUrl"),
                checkout_result_return_url=web.get("checkoutResultReturnUrl"),
                checkout_cancel_url=web.get("checkoutCancelUrl"),
                checkout_mode=web.get("checkoutMode"),
                product_type=fields.get("productType") or "PayAndShip",
                charge_permission_type=fields.get("chargePermissionType") or "OneTime",
                recurring_metadata=fields.get("recurringMetadata"),
                payment=replace(PaymentDetails(), **fields.get("paymentDetails", {})),
                merchant_metadata=dict(fields.get("merchantMetadata") or {}),
                platform_id=fields.get("platformId"),
                provider_metadata=fields.get("providerMetadata"),
                delivery_specifications=fields.get("deliverySpecifications"),
                address_details=fields.get("addressDetails"),
                scopes=fields.get("scopes"),
                source=source,
            )
            self._check_payment_currencies(merchant, session.payment)
            self.checkout_sessions[session.checkout_session_id] = session
            return session

    def _check_payment_currencies(self, merchant: Merchant, payment: PaymentDetails) -> None:
        charge, total_amount = payment.charge_amount, payment.total_order_amount
        for name, price in (("chargeAmount", charge), ("totalOrderAmount", total_amount)):
            if price is not None and not merchant.accepts_currency(price.currency_code, payment.presentment_currency):
                raise currency_mismatch(f"paymentDetails.{name}", "/".join(merchant.ledger_currencies),
                                        price.currency_code)
        if charge is not None and total_amount is not None:
            if charge.currency_code != total_amount.currency_code:
                raise currency_mismatch("paymentDetails.totalOrderAmount", charge.currency_code,
                                        total_amount.currency_code)
            if total_amount.amount < charge.amount:
                raise invalid("paymentDetails.totalOrderAmount", "totalOrderAmount must not be less than chargeAmount.")

    def update_checkout_session(self, session: CheckoutSession, merchant: Merchant, changes: dict) -> CheckoutSession:
        with self.lock:
            self._require_open(session)
            web = changes.get("webCheckoutDetails") or {}
            payment = session.payment
            if "paymentDetails" in changes:
                payment = replace(session.payment, **changes["paymentDetails"])
                self._check_payment_currencies(merchant, payment)
            if payment != session.payment and session.buyer_confirmed:
                # The buyer confirmed other terms: they must see the new ones on Amazon.
                session.buyer_confirmed = False
            session.payment = payment
            if "checkoutReviewReturnUrl" in web:
                session.checkout_review_return_url = web["checkoutReviewReturnUrl"]
            if "checkoutResultReturnUrl" in web:
                session.checkout_result_return_url = web["checkoutResultReturnUrl"]
            if "checkoutCancelUrl" in web:
                session.checkout_cancel_url = web["checkoutCancelUrl"]
            if "merchantMetadata" in changes:
                session.merchant_metadata.update(changes["merchantMetadata"])
            for key, attr in (("recurringMetadata", "recurring_metadata"), ("platformId", "platform_id"),
                              ("providerMetadata", "provider_metadata"), ("addressDetails", "address_details"),
                              ("deliverySpecifications", "delivery_specifications"),
                              ("chargePermissionType", "charge_permission_type")):
                if key in changes:
                    setattr(session, attr, changes[key])
            session.status.updated = self.clock.now()
            return session

    def _require_open(self, session: CheckoutSession) -> None:
        if not session.is_open:
            raise AmazonError(422, "InvalidCheckoutSessionStatus",
                              f"The Checkout Session is in the {session.state} state; only Open sessions can be "
                              "updated or completed.")

    # -- the buyer (hosted pages) -------------------------------------------------------

    def buyer_approve(self, session: CheckoutSession, *, address: "str | None" = None,
                      instrument: "str | Instrument | None" = None, name: "str | None" = None,
                      email: "str | None" = None, region: str = "na") -> str:
        """The buyer signed in and picked an address and a payment instrument.

        Returns "review" (send them to checkoutReviewReturnUrl) or, for ``ProcessOrder``
        sessions that go straight to the result, the outcome of :meth:`buyer_confirm`.
        """
        from .fixtures import DEFAULT_BUYER_EMAIL, DEFAULT_BUYER_NAME

        with self.lock:
            self.tick()
            self._require_open(session)
            chosen = instrument if isinstance(instrument, Instrument) else find_instrument(instrument)
            _, address_data = find_address(address, region)
            email = (email or DEFAULT_BUYER_EMAIL).strip()
            name = (name or DEFAULT_BUYER_NAME).strip()
            buyer_id = "amzn1.account." + hashlib.sha256(email.lower().encode()).hexdigest()[:28].upper()
            session.buyer = BuyerInfo(buyer_id, name, email, address_data.get("phoneNumber"))
            billing = dict(address_data, name=name)
            session.billing_address = billing
            if session.product_type == "PayOnly":
                session.shipping_address = None
            elif session.address_details:
                session.shipping_address = _address_from_details(session.address_details)
            else:
                session.shipping_address = address_data
            session.instrument = chosen
            session.buyer_confirmed = False
            session.status.updated = self.clock.now()
            if session.checkout_mode == "ProcessOrder":
                return self.buyer_confirm(session)
            return "review"

    def buyer_confirm(self, session: CheckoutSession, *, instrument: "str | Instrument | None" = None) -> str:
        """The buyer came back through amazonPayRedirectUrl: Amazon processes their choice.

        Returns "confirmed", "canceled" (the session is now Canceled) or "soft_declined"
        (the buyer must pick another instrument; the session stays Open).
        """
        with self.lock:
            self.tick()
            self._require_open(session)
            if not session.ready_for_redirect:
                missing = ", ".join(c["constraintId"] for c in session.constraints())
                raise AmazonError(422, "InvalidCheckoutSessionStatus",
                                  f"The Checkout Session is not ready for the buyer's confirmation: {missing}.")
            if instrument is not None:
                session.instrument = instrument if isinstance(instrument, Instrument) else find_instrument(instrument)
            chosen = session.instrument or find_instrument(None)
            now = self.clock.now()
            payment = session.payment
            authorizes = payment.payment_intent != PaymentIntent.CONFIRM.value
            if chosen.on_confirm == "buyer_cancel":
                session.status = Status(CheckoutSessionState.CANCELED.value, now, "BuyerCanceled",
                                        "The buyer canceled the checkout.")
                return "canceled"
            if chosen.on_confirm == "hard_decline" or (
                chosen.pending_outcome == "Declined" and authorizes and not payment.can_handle_pending_authorization
            ):
                session.status = Status(CheckoutSessionState.CANCELED.value, now, "Declined",
                                        "The buyer's payment instrument was declined.")
                return "canceled"
            if chosen.on_confirm == "soft_decline":
                session.buyer_confirmed = False
                return "soft_declined"
            session.buyer_confirmed = True
            session.status.updated = now
            return "confirmed"

    # -- Complete ---------------------------------------------------------------------

    def complete_checkout_session(self, session: CheckoutSession, charge_amount: Price,
                                  total_order_amount: "Price | None" = None,
                                  simulation_code: "str | None" = None) -> "tuple[CheckoutSession, int]":
        """Returns the session and the HTTP status (200, or 202 for a pending authorization)."""
        with self.lock:
            if session.state == CheckoutSessionState.CANCELED.value:
                raise self._canceled_error(session)
            self._require_open(session)
            if not session.buyer_confirmed:
                raise AmazonError(422, "InvalidCheckoutSessionStatus",
                                  "The buyer has not returned from amazonPayRedirectUrl yet: redirect the buyer "
                                  "there before completing the Checkout Session.")
            payment = session.payment
            expected = payment.charge_amount
            assert expected is not None  # ready_for_redirect guaranteed it
            if charge_amount.currency_code != expected.currency_code:
                raise currency_mismatch("chargeAmount", expected.currency_code, charge_amount.currency_code)
            if charge_amount.amount != expected.amount:
                raise AmazonError(409, "AmountMismatch", f"chargeAmount {charge_amount} does not match "
                                                         f"paymentDetails.chargeAmount {expected}.")
            if payment.total_order_amount is not None or total_order_amount is not None:
                wanted = payment.total_order_amount
                if wanted is None or total_order_amount is None:
                    raise AmazonError(409, "AmountMismatch",
                                      "totalOrderAmount must be sent exactly when the Checkout Session has one.")
                if total_order_amount.currency_code != wanted.currency_code:
                    raise currency_mismatch("totalOrderAmount", wanted.currency_code, total_order_amount.currency_code)
                if total_order_amount.amount != wanted.amount:
                    raise AmazonError(409, "AmountMismatch",
                                      f"totalOrderAmount {total_order_amount} does not match {wanted}.")
            authorizes = payment.payment_intent != PaymentIntent.CONFIRM.value
            now = self.clock.now()
            if simulation_code in ("BuyerCanceled", "Declined", "AmazonCanceled"):
                descriptions = {"BuyerCanceled": "The buyer canceled the checkout.",
                                "Declined": "The payment was declined.",
                                "AmazonCanceled": "Amazon canceled the checkout."}
                session.status = Status(CheckoutSessionState.CANCELED.value, now, simulation_code,
                                        descriptions[simulation_code])
                raise self._canceled_error(session)
            pending_outcome = None
            if simulation_code == "AuthorizationInitiated":
                if not (authorizes and payment.can_handle_pending_authorization):
                    raise AmazonError(400, "InvalidSandboxSimulationSpecified",
                                      "AuthorizationInitiated needs paymentIntent Authorize or AuthorizeWithCapture "
                                      "and canHandlePendingAuthorization true.")
                pending_outcome = "Authorized"
            elif session.instrument and session.instrument.pending_outcome and authorizes \
                    and payment.can_handle_pending_authorization:
                pending_outcome = session.instrument.pending_outcome

            cp = self._create_charge_permission(session)
            session.charge_permission_id = cp.charge_permission_id
            status = 200
            if authorizes:
                capture = payment.payment_intent == PaymentIntent.AUTHORIZE_WITH_CAPTURE.value
                charge = self._new_charge(cp, expected, capture_now=capture,
                                          can_handle_pending=payment.can_handle_pending_authorization,
                                          soft_descriptor=payment.soft_descriptor)
                if pending_outcome is not None:
                    self._start_pending_authorization(charge, pending_outcome)
                    status = 202
                else:
                    self._authorize(charge)
                session.charge_id = charge.charge_id
                self._emit_charge(charge)
                self._after_charge_change(charge)
            session.status = Status(CheckoutSessionState.COMPLETED.value, now)
            return session, status

    @staticmethod
    def _canceled_error(session: CheckoutSession) -> AmazonError:
        return AmazonError(400, "CheckoutSessionCanceled",
                           f"The Checkout Session was canceled ({session.status.reason_code}): "
                           f"{session.status.reason_description or ''} Ask the buyer to check out again.".strip())

    def _create_charge_permission(self, session: CheckoutSession) -> ChargePermission:
        now = self.clock.now()
        payment = session.payment
        limit = payment.total_order_amount or payment.charge_amount
        assert limit is not None
        cp = ChargePermission(
            charge_permission_id=self._unique(self.charge_permissions, ids.new_charge_permission_id),
            owner=session.owner,
            store_id=session.store_id,
            checkout_session_id=session.checkout_session_id,
            created=now,
            expires=now + self.settings.charge_permission_lifetime,
            status=ChargePermissionStatus(ChargePermissionState.CHARGEABLE.value, now),
            charge_permission_type=session.charge_permission_type,
            amount_limit=limit,
            buyer=session.buyer,
            shipping_address=session.shipping_address,
            billing_address=session.billing_address,
            instrument=session.instrument,
            merchant_metadata=dict(session.merchant_metadata),
            platform_id=session.platform_id,
            recurring_metadata=session.recurring_metadata,
            presentment_currency=payment.presentment_currency,
            scopes=session.scopes,
        )
        self.charge_permissions[cp.charge_permission_id] = cp
        return cp

    # -- Charge Permission ------------------------------------------------------------

    def balance(self, cp: ChargePermission) -> Price:
        """amountLimit minus what is captured or still held by open authorizations."""
        remaining = cp.amount_limit.amount - self._committed(cp)
        return Price(max(Decimal(0), remaining), cp.amount_limit.currency_code)

    def _committed(self, cp: ChargePermission, exclude: "Charge | None" = None) -> Decimal:
        committed = Decimal(0)
        for charge in self.charges_of(cp):
            if charge is exclude:
                continue
            if charge.state == ChargeState.CAPTURED.value and charge.capture_amount is not None:
                committed += charge.capture_amount.amount
            elif charge.state in _OPEN_CHARGE_STATES:
                committed += (charge.capture_amount or charge.charge_amount).amount
        return committed

    def _captured(self, cp: ChargePermission) -> Decimal:
        return sum((c.capture_amount.amount for c in self.charges_of(cp)
                    if c.state == ChargeState.CAPTURED.value and c.capture_amount is not None), Decimal(0))

    def update_charge_permission(self, cp: ChargePermission, changes: dict) -> ChargePermission:
        with self.lock:
            if cp.state == ChargePermissionState.CLOSED.value:
                raise AmazonError(422, "ChargePermissionNotModifiable",
                                  "The Charge Permission is Closed and can no longer be modified.")
            if "merchantMetadata" in changes:
                cp.merchant_metadata.update(changes["merchantMetadata"])
            if "recurringMetadata" in changes:
                cp.recurring_metadata = changes["recurringMetadata"]
            if "platformId" in changes:
                cp.platform_id = changes["platformId"]
            cp.status.updated = self.clock.now()
            return cp

    def close_charge_permission(self, cp: ChargePermission, closure_reason: "str | None" = None,
                                cancel_pending_charges: bool = False,
                                simulation_code: "str | None" = None) -> ChargePermission:
        with self.lock:
            if cp.state == ChargePermissionState.CLOSED.value:
                raise AmazonError(422, "InvalidChargePermissionStatus", "The Charge Permission is already Closed.")
            code = "AmazonClosed" if simulation_code == "AmazonClosed" else "MerchantClosed"
            description = "Amazon closed the Charge Permission." if code == "AmazonClosed" else (
                closure_reason or "The merchant closed the Charge Permission.")
            if cancel_pending_charges:
                for charge in self.charges_of(cp):
                    if charge.state in _CANCELABLE_CHARGE_STATES:
                        self._set_charge_status(charge, ChargeState.CANCELED.value, "ChargePermissionCanceled",
                                                "The Charge Permission was closed and its open charges canceled.")
                        self._emit_charge(charge)
            self._close_charge_permission(cp, code, description)
            return cp

    def _close_charge_permission(self, cp: ChargePermission, code: str, description: str,
                                 at: "datetime | None" = None) -> None:
        cp.status = ChargePermissionStatus(ChargePermissionState.CLOSED.value, at or self.clock.now(),
                                           [(code, description)])
        self._emit("CHARGE_PERMISSION", cp.charge_permission_id, cp.charge_permission_id, cp.owner, cp.state)

    def _make_non_chargeable(self, cp: ChargePermission, code: str, description: str) -> None:
        if cp.state != ChargePermissionState.CHARGEABLE.value:
            return
        cp.status = ChargePermissionStatus(ChargePermissionState.NON_CHARGEABLE.value, self.clock.now(),
                                           [(code, description)])
        self._emit("CHARGE_PERMISSION", cp.charge_permission_id, cp.charge_permission_id, cp.owner, cp.state)

    # -- Charge -----------------------------------------------------------------------

    def _new_charge(self, cp: ChargePermission, amount: Price, *, capture_now: bool, can_handle_pending: bool,
                    soft_descriptor: "str | None" = None, merchant_metadata: "dict | None" = None,
                    provider_metadata: "dict | None" = None) -> Charge:
        now = self.clock.now()
        charge = Charge(
            charge_id=self._unique(self.charges, lambda: ids.new_charge_id(cp.charge_permission_id)),
            charge_permission_id=cp.charge_permission_id,
            owner=cp.owner,
            created=now,
            expires=now + self._authorization_lifetime(cp.owner),
            status=Status(ChargeState.AUTHORIZATION_INITIATED.value, now),
            charge_amount=amount,
            capture_now=capture_now,
            can_handle_pending_authorization=can_handle_pending,
            soft_descriptor=soft_descriptor,
            merchant_metadata=merchant_metadata,
            provider_metadata=provider_metadata,
        )
        self.charges[charge.charge_id] = charge
        cp.charge_ids.append(charge.charge_id)
        return charge

    def _authorization_lifetime(self, owner: Owner) -> timedelta:
        if owner.environment is Environment.SANDBOX:
            return self.settings.authorization_lifetime_sandbox
        return self.settings.authorization_lifetime_live

    def _set_charge_status(self, charge: Charge, state: str, reason_code: "str | None" = None,
                           description: "str | None" = None, at: "datetime | None" = None) -> None:
        charge.status = Status(state, at or self.clock.now(), reason_code, description)
        charge.pending = None

    def _authorize(self, charge: Charge) -> None:
        """The authorization succeeded: Authorized, or Captured straight away (captureNow)."""
        now = self.clock.now()
        if charge.capture_now:
            charge.capture_amount = charge.charge_amount
            charge.refunded_amount = zero(charge.currency)
            self._set_charge_status(charge, ChargeState.CAPTURED.value, at=now)
        else:
            charge.expires = now + self._authorization_lifetime(charge.owner)
            self._set_charge_status(charge, ChargeState.AUTHORIZED.value, at=now)

    def _decline(self, charge: Charge, reason_code: str) -> None:
        """Declined, and told by IPN; a hard decline also makes the permission NonChargeable."""
        self._set_charge_status(charge, ChargeState.DECLINED.value, reason_code, DECLINE_DESCRIPTIONS.get(reason_code))
        self._emit_charge(charge)
        if reason_code == "HardDeclined":
            cp = self.charge_permissions[charge.charge_permission_id]
            self._make_non_chargeable(cp, "PaymentMethodInvalid",
                                      "The buyer's payment method was declined; ask the buyer to update it.")

    def _start_pending_authorization(self, charge: Charge, outcome: str, reason_code: "str | None" = None) -> None:
        due = self.clock.now() + timedelta(seconds=self.settings.pending_authorization_seconds)
        if outcome == "Declined":
            charge.pending = Pending(due, ChargeState.DECLINED.value, reason_code or "HardDeclined")
        else:
            charge.pending = Pending(due, ChargeState.AUTHORIZED.value)

    def _resolve_charge(self, charge: Charge) -> None:
        pending = charge.pending
        assert pending is not None
        charge.pending = None
        if pending.state == ChargeState.DECLINED.value:
            self._decline(charge, pending.reason_code or "HardDeclined")
        else:
            if pending.state == ChargeState.CAPTURED.value:
                self._set_charge_status(charge, ChargeState.CAPTURED.value, at=pending.due)
            else:
                self._authorize(charge)
                charge.status.updated = pending.due
            self._emit_charge(charge)
        self._after_charge_change(charge)

    def _emit_charge(self, charge: Charge) -> None:
        self._emit("CHARGE", charge.charge_id, charge.charge_permission_id, charge.owner, charge.state)

    def _after_charge_change(self, charge: Charge) -> None:
        """A OneTime permission closes once its full amount is captured and nothing is open."""
        cp = self.charge_permissions.get(charge.charge_permission_id)
        if cp is None or cp.charge_permission_type != "OneTime" or cp.state == ChargePermissionState.CLOSED.value:
            return
        still_open = any(c.state in _OPEN_CHARGE_STATES for c in self.charges_of(cp))
        if not still_open and self._captured(cp) >= cp.amount_limit.amount:
            self._close_charge_permission(cp, "MerchantClosed",
                                          "The Charge Permission was closed after the full amount was captured.")

    def create_charge(self, cp: ChargePermission, amount: Price, *, capture_now: bool = False,
                      can_handle_pending_authorization: bool = False, soft_descriptor: "str | None" = None,
                      merchant_metadata: "dict | None" = None, provider_metadata: "dict | None" = None,
                      simulation_code: "str | None" = None) -> Charge:
        with self.lock:
            if cp.state != ChargePermissionState.CHARGEABLE.value:
                raise AmazonError(422, "InvalidChargePermissionStatus",
                                  f"The Charge Permission is {cp.state}; charges need a Chargeable permission.")
            if amount.currency_code != cp.amount_limit.currency_code:
                raise currency_mismatch("chargeAmount", cp.amount_limit.currency_code, amount.currency_code)
            if len(cp.charge_ids) >= self.settings.max_charges_per_charge_permission:
                raise AmazonError(422, "TransactionCountExceeded",
                                  f"A Charge Permission allows at most "
                                  f"{self.settings.max_charges_per_charge_permission} charges.")
            if not within_allowance(self._committed(cp) + amount.amount, cp.amount_limit):
                raise AmazonError(400, "TransactionAmountExceeded",
                                  f"chargeAmount {amount} exceeds the remaining balance {self.balance(cp)} of the "
                                  "Charge Permission (plus the over-authorization allowance).")
            if simulation_code == "CaptureInitiated" and not capture_now:
                raise AmazonError(400, "InvalidSandboxSimulationSpecified", "CaptureInitiated needs captureNow true.")
            charge = self._new_charge(cp, amount, capture_now=capture_now,
                                      can_handle_pending=can_handle_pending_authorization,
                                      soft_descriptor=soft_descriptor, merchant_metadata=merchant_metadata,
                                      provider_metadata=provider_metadata)
            instrument = cp.instrument
            decline = simulation_code if simulation_code in DECLINE_DESCRIPTIONS else None
            pending_outcome = None
            if decline is None and instrument is not None and instrument.pending_outcome:
                if can_handle_pending_authorization:
                    pending_outcome = instrument.pending_outcome
                elif instrument.pending_outcome == "Declined":
                    decline = "HardDeclined"
            if decline is not None:
                if can_handle_pending_authorization:
                    # Amazon answers 201 AuthorizationInitiated and declines asynchronously.
                    self._start_pending_authorization(charge, "Declined", decline)
                else:
                    self._decline(charge, decline)
                    raise AmazonError(422, decline, DECLINE_DESCRIPTIONS[decline])
            elif simulation_code == "CaptureInitiated":
                charge.capture_amount = amount
                charge.refunded_amount = zero(amount.currency_code)
                charge.status = Status(ChargeState.CAPTURE_INITIATED.value, self.clock.now())
                charge.pending = Pending(self.clock.now() + timedelta(seconds=self.settings.capture_seconds),
                                         ChargeState.CAPTURED.value)
            elif pending_outcome is not None:
                self._start_pending_authorization(charge, pending_outcome)
            else:
                self._authorize(charge)
            self._emit_charge(charge)
            self._after_charge_change(charge)
            return charge

    def capture_charge(self, charge: Charge, amount: Price, soft_descriptor: "str | None" = None) -> Charge:
        with self.lock:
            if charge.state != ChargeState.AUTHORIZED.value:
                raise AmazonError(422, "InvalidChargeStatus",
                                  f"The Charge is {charge.state}; only Authorized charges can be captured.")
            if amount.currency_code != charge.currency:
                raise currency_mismatch("captureAmount", charge.currency, amount.currency_code)
            if not within_allowance(amount.amount, charge.charge_amount):
                raise AmazonError(400, "TransactionAmountExceeded",
                                  f"captureAmount {amount} exceeds the authorized {charge.charge_amount} plus the "
                                  f"allowed {allowance(charge.charge_amount)}.")
            cp = self.charge_permissions[charge.charge_permission_id]
            if not within_allowance(self._committed(cp, exclude=charge) + amount.amount, cp.amount_limit):
                raise AmazonError(400, "TransactionAmountExceeded",
                                  "The capture would exceed the Charge Permission's amount limit.")
            charge.capture_amount = amount
            charge.refunded_amount = zero(amount.currency_code)
            if soft_descriptor:
                charge.soft_descriptor = soft_descriptor
            # One capture per Charge, as at Amazon: an uncaptured remainder is released;
            # capture more with a new Charge on the Charge Permission.
            self._set_charge_status(charge, ChargeState.CAPTURED.value)
            self._emit_charge(charge)
            self._after_charge_change(charge)
            return charge

    def cancel_charge(self, charge: Charge, reason: "str | None" = None) -> Charge:
        with self.lock:
            if charge.state not in _CANCELABLE_CHARGE_STATES:
                raise AmazonError(422, "InvalidChargeStatus",
                                  f"The Charge is {charge.state}; only AuthorizationInitiated or Authorized charges "
                                  "can be canceled.")
            self._set_charge_status(charge, ChargeState.CANCELED.value, "MerchantCanceled",
                                    reason or "The merchant canceled the charge.")
            self._emit_charge(charge)
            self._after_charge_change(charge)
            return charge

    # -- Refund -----------------------------------------------------------------------

    def create_refund(self, charge: Charge, amount: Price, soft_descriptor: "str | None" = None,
                      simulation_code: "str | None" = None) -> Refund:
        with self.lock:
            if charge.state != ChargeState.CAPTURED.value or charge.capture_amount is None:
                raise AmazonError(422, "InvalidChargeStatus",
                                  f"The Charge is {charge.state}; only Captured charges can be refunded.")
            if amount.currency_code != charge.currency:
                raise currency_mismatch("refundAmount", charge.currency, amount.currency_code)
            existing = self.refunds_of(charge)
            if len(existing) >= self.settings.max_refunds_per_charge:
                raise AmazonError(422, "TransactionCountExceeded",
                                  f"A Charge allows at most {self.settings.max_refunds_per_charge} refunds.")
            refunded = total((r.refund_amount for r in existing if r.counts_against_charge), charge.currency)
            if not within_allowance(refunded.amount + amount.amount, charge.capture_amount):
                raise AmazonError(400, "TransactionAmountExceeded",
                                  f"Refunds would total {refunded.amount + amount.amount} {charge.currency}, more "
                                  f"than the captured {charge.capture_amount} plus the allowance.")
            cp = self.charge_permissions[charge.charge_permission_id]
            now = self.clock.now()
            declines = simulation_code == "RefundDeclined" or bool(cp.instrument and cp.instrument.refunds_declined)
            refund = Refund(
                refund_id=self._unique(self.refunds, lambda: ids.new_refund_id(charge.charge_permission_id)),
                charge_id=charge.charge_id,
                charge_permission_id=charge.charge_permission_id,
                owner=charge.owner,
                created=now,
                status=Status(RefundState.REFUND_INITIATED.value, now),
                refund_amount=amount,
                soft_descriptor=soft_descriptor,
                pending=Pending(
                    now + timedelta(seconds=self.settings.refund_seconds),
                    RefundState.DECLINED.value if declines else RefundState.REFUNDED.value,
                    "AmazonRejected" if declines else None,
                    "Amazon declined the refund." if declines else None,
                ),
            )
            self.refunds[refund.refund_id] = refund
            self._emit("REFUND", refund.refund_id, refund.charge_permission_id, refund.owner, refund.state)
            return refund

    def _resolve_refund(self, refund: Refund) -> None:
        pending = refund.pending
        assert pending is not None
        refund.pending = None
        refund.status = Status(pending.state, pending.due, pending.reason_code, pending.reason_description)
        if pending.state == RefundState.REFUNDED.value:
            charge = self.charges[refund.charge_id]
            already = charge.refunded_amount.amount if charge.refunded_amount else Decimal(0)
            charge.refunded_amount = Price(already + refund.refund_amount.amount, charge.currency)
        self._emit("REFUND", refund.refund_id, refund.charge_permission_id, refund.owner, refund.state)

    # -- Delivery trackers --------------------------------------------------------------

    def add_delivery_tracker(self, owner: Owner, *, tracking_number: str, carrier_code: str,
                             charge_permission_id: "str | None" = None,
                             amazon_order_reference_id: "str | None" = None) -> DeliveryTracker:
        """Record a tracker. "Tracking codes can only be used once": the same code on another
        order is refused; re-sending the identical tracker for the same order is a no-op
        (so a retried call is harmless)."""
        with self.lock:
            reference = charge_permission_id or amazon_order_reference_id
            if reference not in self.charge_permissions or self.charge_permissions[reference].owner != owner:
                field_name = "chargePermissionId" if charge_permission_id else "amazonOrderReferenceId"
                raise invalid(field_name, f"{field_name} {reference} is not a valid order of this merchant.")
            for tracker in self.delivery_trackers:
                if tracker.owner != owner or tracker.tracking_number != tracking_number:
                    continue
                same_order = (tracker.charge_permission_id or tracker.amazon_order_reference_id) == reference
                if same_order and tracker.carrier_code == carrier_code:
                    return tracker
                raise invalid("trackingNumber", f"Tracking number {tracking_number} was already used: tracking codes "
                                                "can only be used once.")
            tracker = DeliveryTracker(owner, self.clock.now(), tracking_number, carrier_code,
                                      charge_permission_id, amazon_order_reference_id)
            self.delivery_trackers.append(tracker)
            return tracker

    # -- views --------------------------------------------------------------------------

    def iter_objects(self) -> "Iterable[Any]":
        yield from self.checkout_sessions.values()
        yield from self.charge_permissions.values()
        yield from self.charges.values()
        yield from self.refunds.values()


def _address_from_details(details: dict) -> dict:
    keys = ("name", "addressLine1", "addressLine2", "addressLine3", "city", "county", "district",
            "stateOrRegion", "postalCode", "countryCode", "phoneNumber")
    return {key: details.get(key) for key in keys}
