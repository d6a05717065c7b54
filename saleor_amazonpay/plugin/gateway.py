"""The Amazon Pay payment flow behind Saleor's legacy payment hooks.

Translates ``PaymentData`` into Amazon Pay calls and Amazon's answers into
``GatewayResponse``. Every Amazon error is caught here, once, and becomes a failed
response: buyers see :data:`BUYER_MESSAGE`, logs get Amazon's reasonCode and request id.

Money-safety rules (see docs/money-safety.md):

* The amount charged is the one Saleor computed server-side for the checkout; a payment
  whose amount differs is refused before Amazon is called.
* Every write that moves money carries an idempotency key derived from the Saleor
  payment and the operation, so retries converge instead of charging twice.
* Complete Checkout Session is never blindly retried. After an error or a lost answer
  the plugin reads the session first: "already completed" means converge on Amazon's
  real state (never cancel a paid order), "still open" means Complete never happened.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from saleor.payment import TransactionKind
from saleor.payment.interface import GatewayResponse, PaymentData

from ..core import (
    BUYER_MESSAGE,
    AmazonPayError,
    ApiError,
    Charge,
    ChargeState,
    CheckoutSession,
    CheckoutSessionState,
    InvalidStateError,
    NotFoundError,
    PaymentIntent,
    Price,
    RateLimitError,
    ServerError,
    TransportError,
)
from . import saleor_data
from .clients import client_for
from .consts import (
    META_CHARGE_ID,
    META_CHARGE_PERMISSION_ID,
    META_CHECKOUT_SESSION_ID,
    SESSION_ID_PARAM,
)
from .settings import ChannelSettings

_HOOK_KINDS = {
    "process_payment": TransactionKind.ACTION_TO_CONFIRM,
    "confirm_payment": TransactionKind.AUTH,
    "capture_payment": TransactionKind.CAPTURE,
    "refund_payment": TransactionKind.REFUND,
    "void_payment": TransactionKind.VOID,
}

logger = logging.getLogger("saleor_amazonpay.gateway")

SESSION_LIFETIME = timedelta(hours=24)
_SESSION_ID_RE = re.compile(r"^[A-Za-z0-9\-]{8,128}$")


class PaymentRefused(Exception):
    """A precondition failed before (or instead of) an Amazon call."""

    def __init__(self, merchant_reason: str):
        super().__init__(merchant_reason)
        self.merchant_reason = merchant_reason


def idempotency_key(*parts: Any) -> str:
    """Deterministic 32-character key: the same Saleor operation always gets the same key."""
    material = ":".join(str(p) for p in parts)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def _response(info: PaymentData, *, kind: str, success: bool = True, amount: "Decimal | None" = None,
              transaction_id: str = "", psp_reference: "str | None" = None, error: "str | None" = None,
              action_required: bool = False, action_data: "dict | None" = None,
              raw: "dict | None" = None) -> GatewayResponse:
    return GatewayResponse(
        is_success=success,
        action_required=action_required,
        kind=kind,
        amount=info.amount if amount is None else amount,
        currency=info.currency,
        transaction_id=transaction_id or (info.token or ""),
        error=error,
        raw_response=raw or {},
        action_required_data=action_data,
        psp_reference=psp_reference,
    )


def _failed(info: PaymentData, kind: str, reason: "AmazonPayError | PaymentRefused | str",
            *, buyer_facing: bool = True) -> GatewayResponse:
    """Log the merchant-facing reason; return the buyer-safe (or staff-readable) message."""
    if isinstance(reason, AmazonPayError):
        merchant = str(reason)
        raw = {"reasonCode": reason.reason_code or "", "requestId": reason.request_id or ""}
    else:
        merchant = getattr(reason, "merchant_reason", str(reason))
        raw = {"reason": merchant}
    logger.warning("Amazon Pay %s failed for payment %s: %s", kind, info.payment_id, merchant)
    error = BUYER_MESSAGE if buyer_facing else f"Amazon Pay: {merchant}"
    return _response(info, kind=kind, success=False, error=error, raw=raw)


def _price(info: PaymentData, amount: "Decimal | None" = None) -> Price:
    return Price(Decimal(str(info.amount if amount is None else amount)), info.currency)


def guarded(operation, settings: ChannelSettings, info: PaymentData) -> GatewayResponse:
    """Run a hook so that it can only *return* a failure, never raise one.

    An exception escaping a payment hook leaves Saleor's checkout locked for minutes
    ("checkout completion in progress"); a failed response lets the buyer retry at once.
    """
    try:
        return operation(settings, info)
    except Exception:  # noqa: BLE001 - the one place that must catch everything
        logger.exception("Amazon Pay %s crashed for payment %s", operation.__name__, info.payment_id)
        kind = _HOOK_KINDS.get(operation.__name__, TransactionKind.AUTH)
        buyer_facing = operation.__name__ in ("process_payment", "confirm_payment")
        return _failed(info, kind, PaymentRefused("unexpected error; see the server log"), buyer_facing=buyer_facing)


_SETTLED_KINDS = (TransactionKind.AUTH, TransactionKind.CAPTURE, TransactionKind.PENDING, TransactionKind.CONFIRM)


def _already_settled(info: PaymentData) -> "GatewayResponse | None":
    """A payment Saleor already recorded as authorized/captured/pending must not be redone.

    Two racing ``checkoutComplete`` calls can both reach the gateway (Saleor checks the
    payment's state only through ``to_confirm``); the transactions Saleor passes in tell us
    the first one finished, without another query or Amazon call.
    """
    for txn in reversed(info.transactions or []):
        if txn.is_success and txn.kind in _SETTLED_KINDS:
            amount = txn.amount.get("amount") if isinstance(txn.amount, dict) else txn.amount
            response = _response(info, kind=txn.kind, amount=Decimal(str(amount)), transaction_id=txn.token,
                                 psp_reference=info.psp_reference or txn.token)
            response.transaction_already_processed = True
            return response
    return None


# -- checkout: process (update session) and confirm (complete session) ----------------------


def _check_session(settings: ChannelSettings, session: CheckoutSession, now: datetime) -> None:
    if session.store_id and session.store_id != settings.store_id:
        raise PaymentRefused(f"checkout session {session.checkout_session_id} belongs to another store")
    if session.state is CheckoutSessionState.CANCELED:
        raise PaymentRefused(f"checkout session is canceled ({session.status.reason_code})")
    if session.state is not CheckoutSessionState.OPEN:
        raise PaymentRefused(f"checkout session is {session.state.value}, not Open")
    if session.creation_timestamp and now - session.creation_timestamp > SESSION_LIFETIME:
        raise PaymentRefused("checkout session expired (older than 24 hours)")


def _buyer_snapshot(session: CheckoutSession) -> dict:
    """What Amazon keeps only 30 days: persisted in the payment's private metadata."""
    buyer = session.buyer
    return {
        "buyer": {"name": buyer.name, "email": buyer.email, "buyerId": buyer.buyer_id, "phone": buyer.phone_number}
        if buyer else None,
        "shippingAddress": session.raw.get("shippingAddress"),
        "billingAddress": session.raw.get("billingAddress"),
        "paymentDescriptor": session.payment_descriptor,
    }


def _checked_amount(info: PaymentData, settings: ChannelSettings) -> Price:
    if info.currency.upper() not in settings.currencies:
        raise PaymentRefused(f"currency {info.currency} is not enabled for Amazon Pay in this channel")
    server = saleor_data.server_checkout_total(info.checkout_token)
    if server is not None:
        total, currency = server
        if currency != info.currency or Decimal(str(info.amount)) != total:
            # The storefront chose the payment amount; Saleor only checks it covers the
            # total. Charging a different figure than Saleor computed is never right.
            raise PaymentRefused(
                f"payment amount {info.amount} {info.currency} differs from the checkout total {total} {currency}"
            )
    price = _price(info)
    if not price.is_exact():
        raise PaymentRefused(f"amount {info.amount} has too many decimals for {info.currency}")
    return price


def process_payment(settings: ChannelSettings, info: PaymentData) -> GatewayResponse:
    """First ``checkoutComplete``: put the server-side amount on the session, return the redirect."""
    kind = TransactionKind.ACTION_TO_CONFIRM
    settled = _already_settled(info)
    if settled is not None:
        return settled
    session_id = (info.token or (info.data or {}).get(SESSION_ID_PARAM) or "").strip()
    try:
        if not _SESSION_ID_RE.match(session_id):
            raise PaymentRefused("no valid Amazon checkout session id: pass it as checkoutPaymentCreate(token:)")
        amount = _checked_amount(info, settings)
        client = client_for(settings)
        session = client.get_checkout_session(session_id)
        _check_session(settings, session, datetime.now(timezone.utc))
        if _is_process_order(session):
            # Additional payment button: the buyer already approved this amount on Amazon.
            if session.charge_amount != amount:
                raise PaymentRefused(
                    f"the buyer approved {session.charge_amount} but the checkout now totals {amount}"
                )
            payment = saleor_data.load_payment(info.payment_id)
            saleor_data.save_payment_meta(payment, public={META_CHECKOUT_SESSION_ID: session_id},
                                          private={**_buyer_snapshot(session), "chargeAmount": amount.formatted(),
                                                   "paymentIntent": session.payment_intent or settings.payment_intent})
            return _complete(settings, info, session_id, amount, session.payment_intent or settings.payment_intent)
        updated = client.update_checkout_session(session_id, _update_payload(settings, info, amount))
    except (AmazonPayError, PaymentRefused) as error:
        return _failed(info, kind, error)
    if not updated.amazon_pay_redirect_url:
        return _failed(info, kind, PaymentRefused(
            f"Amazon did not return a redirect URL; missing: {', '.join(c for c in updated.constraints if c) or 'unknown'}"))
    payment = saleor_data.load_payment(info.payment_id)
    saleor_data.save_payment_meta(
        payment,
        public={META_CHECKOUT_SESSION_ID: session_id},
        private={**_buyer_snapshot(session), "chargeAmount": amount.formatted(), "paymentIntent": settings.payment_intent},
    )
    return _response(
        info,
        kind=kind,
        action_required=True,
        transaction_id=session_id,
        psp_reference=session_id,
        action_data={"amazonPayRedirectUrl": updated.amazon_pay_redirect_url, "checkoutSessionId": session_id},
        raw={"checkoutSessionId": session_id, "state": updated.status.state},
    )


def _is_process_order(session: CheckoutSession) -> bool:
    web = session.raw.get("webCheckoutDetails") or {}
    return web.get("checkoutMode") == "ProcessOrder" and session.charge_amount is not None


def _update_payload(settings: ChannelSettings, info: PaymentData, amount: Price) -> dict:
    payment_details: dict[str, Any] = {
        "paymentIntent": settings.payment_intent,
        "canHandlePendingAuthorization": settings.can_handle_pending_authorization
        and settings.intent is not PaymentIntent.CONFIRM,
        "chargeAmount": amount.to_api(),
    }
    if settings.soft_descriptor and settings.intent is not PaymentIntent.CONFIRM:
        payment_details["softDescriptor"] = settings.soft_descriptor
    if settings.region == "eu" and amount.currency_code != settings.effective_ledger_currency:
        payment_details["presentmentCurrency"] = amount.currency_code
    merchant_metadata: dict[str, Any] = {"merchantReferenceId": str(info.checkout_token or info.graphql_payment_id)[:256]}
    if settings.merchant_store_name:
        merchant_metadata["merchantStoreName"] = settings.merchant_store_name[:50]
    return {
        "webCheckoutDetails": {"checkoutResultReturnUrl": settings.checkout_result_return_url},
        "paymentDetails": payment_details,
        "merchantMetadata": merchant_metadata,
    }


def confirm_payment(settings: ChannelSettings, info: PaymentData) -> GatewayResponse:
    """Second ``checkoutComplete`` after the buyer's return: Complete Checkout Session."""
    settled = _already_settled(info)
    if settled is not None:
        return settled
    session_id = info.token or ""
    returned = (info.data or {}).get(SESSION_ID_PARAM)
    if returned is not None and returned != session_id:
        return _failed(info, TransactionKind.AUTH, PaymentRefused(
            "paymentData.amazonCheckoutSessionId does not match the session of this payment"))
    payment = saleor_data.load_payment(info.payment_id)
    intent = saleor_data.private_state(payment).get("paymentIntent") or settings.payment_intent
    return _complete(settings, info, session_id, _price(info), intent, payment=payment)


def _complete(settings: ChannelSettings, info: PaymentData, session_id: str, amount: Price, intent: str,
              payment=None) -> GatewayResponse:
    client = client_for(settings)
    fail_kind = TransactionKind.AUTH
    try:
        try:
            session = client.complete_checkout_session(session_id, amount)
            converged = False
        except (InvalidStateError, TransportError, ServerError, RateLimitError) as first_error:
            session, converged = _reconcile_complete(client, session_id, amount, first_error)
        if session.state is not CheckoutSessionState.COMPLETED:
            raise PaymentRefused(f"checkout session is {session.status.state} ({session.status.reason_code})")
        kind, transaction_id = _outcome(client, session, intent, converged)
    except (AmazonPayError, PaymentRefused) as error:
        return _failed(info, fail_kind, error)
    except _Declined as declined:
        return _failed(info, fail_kind, PaymentRefused(str(declined)))

    payment = payment or saleor_data.load_payment(info.payment_id)
    public = {META_CHECKOUT_SESSION_ID: session_id, META_CHARGE_PERMISSION_ID: session.charge_permission_id}
    if intent != PaymentIntent.CONFIRM.value:
        public[META_CHARGE_ID] = session.charge_id
    saleor_data.save_payment_meta(payment, public=public, private={
        "paymentIntent": intent,
        "moneyHeld": intent != PaymentIntent.CONFIRM.value,
        "chargeAmount": amount.formatted(),
        "completedAt": datetime.now(timezone.utc).isoformat(),
        "outcome": kind,
    })
    return _response(
        info,
        kind=kind,
        transaction_id=transaction_id,
        psp_reference=transaction_id,
        raw={"checkoutSessionId": session_id, "chargePermissionId": session.charge_permission_id or "",
             "chargeId": session.charge_id or "", "converged": converged},
    )


class _Declined(Exception):
    pass


def _reconcile_complete(client, session_id: str, amount: Price, error: AmazonPayError) -> "tuple[CheckoutSession, bool]":
    """Complete failed or its answer was lost: find out what really happened at Amazon."""
    logger.info("Amazon Pay Complete for session %s failed (%s); reading the session before deciding",
                session_id, error.reason_code or type(error).__name__)
    session = client.get_checkout_session(session_id)
    if session.state is CheckoutSessionState.COMPLETED:
        return session, True
    if session.state is CheckoutSessionState.OPEN and not isinstance(error, InvalidStateError):
        # Amazon never completed it (throttled, 5xx or lost before processing): one more try.
        return client.complete_checkout_session(session_id, amount), False
    if isinstance(error, ApiError):
        raise error
    raise PaymentRefused(f"checkout session is {session.status.state} ({session.status.reason_code})")


def _outcome(client, session: CheckoutSession, intent: str, converged: bool) -> "tuple[str, str]":
    """Saleor transaction kind and id for a completed session."""
    if intent == PaymentIntent.CONFIRM.value or not session.charge_id:
        # Confirm: a Chargeable charge permission, no money held. Saleor can only capture
        # a legacy payment that has an AUTH transaction, so the permission is recorded as
        # one (token = chargePermissionId); capture then charges the permission.
        return TransactionKind.AUTH, session.charge_permission_id or session.checkout_session_id
    if session.authorization_pending:
        return TransactionKind.PENDING, session.charge_id
    if not converged:
        kind = TransactionKind.CAPTURE if intent == PaymentIntent.AUTHORIZE_WITH_CAPTURE.value else TransactionKind.AUTH
        return kind, session.charge_id
    # We did not see Complete's own answer: the charge tells the state.
    charge = client.get_charge(session.charge_id)
    return _kind_for_charge(charge), charge.charge_id


def _kind_for_charge(charge: Charge) -> str:
    state = charge.state
    if state is ChargeState.CAPTURED:
        return TransactionKind.CAPTURE
    if state is ChargeState.AUTHORIZED:
        return TransactionKind.AUTH
    if state in (ChargeState.AUTHORIZATION_INITIATED, ChargeState.CAPTURE_INITIATED, ChargeState.PENDING):
        return TransactionKind.PENDING
    raise _Declined(f"charge {charge.charge_id} is {state.value} ({charge.status.reason_code})")


# -- after checkout: capture, refund, void ----------------------------------------------------


def _ids(info: PaymentData, payment) -> "tuple[str | None, str | None]":
    meta = payment.metadata or {}
    token = info.token or ""
    charge_id = token if re.search(r"-C\d+$", token) else meta.get(META_CHARGE_ID)
    return meta.get(META_CHARGE_PERMISSION_ID), charge_id


def capture_payment(settings: ChannelSettings, info: PaymentData) -> GatewayResponse:
    kind = TransactionKind.CAPTURE
    payment = saleor_data.load_payment(info.payment_id)
    state = saleor_data.private_state(payment)
    charge_permission_id, charge_id = _ids(info, payment)
    amount = _price(info)
    key = idempotency_key(payment.pk, "capture", payment.captured_amount, amount.formatted())
    client = client_for(settings)
    try:
        if not charge_permission_id:
            raise PaymentRefused("this payment has no Amazon charge permission")
        captured_ids = {c["chargeId"] for c in state.get("captures", [])}
        if charge_id and charge_id not in captured_ids:
            try:
                charge = client.capture_charge(charge_id, amount, idempotency_key=key,
                                               soft_descriptor=settings.soft_descriptor or None)
            except InvalidStateError:
                # The authorization can no longer be captured (expired after 30 days, or
                # already captured): charge the permission again instead.
                current = client.get_charge(charge_id)
                if current.state is ChargeState.CAPTURED:
                    raise PaymentRefused(f"charge {charge_id} is already captured")
                # A different request needs its own key: Amazon refuses a key reused
                # for another request (DuplicateIdempotencyKey).
                charge = _new_charge(client, settings, charge_permission_id, amount,
                                     idempotency_key(key, "new-charge"))
        else:
            charge = _new_charge(client, settings, charge_permission_id, amount, key)
        if charge.state is ChargeState.DECLINED:
            raise PaymentRefused(f"Amazon declined the capture ({charge.status.reason_code})")
    except (AmazonPayError, PaymentRefused) as error:
        return _failed(info, kind, error, buyer_facing=False)
    result_kind = TransactionKind.CAPTURE if charge.state is ChargeState.CAPTURED else TransactionKind.PENDING
    captures = state.get("captures", []) + [{"chargeId": charge.charge_id, "amount": amount.formatted(),
                                             "state": charge.state.value}]
    saleor_data.save_payment_meta(payment, public={META_CHARGE_ID: charge.charge_id}, private={"captures": captures})
    return _response(info, kind=result_kind, transaction_id=charge.charge_id, psp_reference=charge.charge_id,
                     raw={"chargeId": charge.charge_id, "state": charge.state.value})


def _new_charge(client, settings: ChannelSettings, charge_permission_id: str, amount: Price, key: str) -> Charge:
    return client.create_charge(charge_permission_id, amount, capture_now=True, idempotency_key=key,
                                soft_descriptor=settings.soft_descriptor or None,
                                can_handle_pending_authorization=settings.can_handle_pending_authorization)


def refund_payment(settings: ChannelSettings, info: PaymentData) -> GatewayResponse:
    kind = TransactionKind.REFUND
    payment = saleor_data.load_payment(info.payment_id)
    state = saleor_data.private_state(payment)
    _, charge_id = _ids(info, payment)
    amount = _price(info)
    key = idempotency_key(payment.pk, "refund", charge_id, payment.captured_amount, amount.formatted())
    try:
        if not charge_id:
            raise PaymentRefused("this payment has no captured Amazon charge to refund")
        refund = client_for(settings).create_refund(charge_id, amount, idempotency_key=key,
                                                    soft_descriptor=settings.soft_descriptor or None)
        if refund.status.state == "Declined":
            raise PaymentRefused(f"Amazon declined the refund ({refund.status.reason_code})")
    except (AmazonPayError, PaymentRefused) as error:
        return _failed(info, kind, error, buyer_facing=False)
    refunds = state.get("refunds", []) + [{"refundId": refund.refund_id, "chargeId": charge_id,
                                           "amount": amount.formatted(), "state": refund.status.state}]
    saleor_data.save_payment_meta(payment, private={"refunds": refunds})
    # Amazon refunds settle asynchronously (RefundInitiated); notifications report a decline.
    return _response(info, kind=kind, transaction_id=refund.refund_id, psp_reference=refund.refund_id,
                     raw={"refundId": refund.refund_id, "state": refund.status.state})


def void_payment(settings: ChannelSettings, info: PaymentData) -> GatewayResponse:
    kind = TransactionKind.VOID
    payment = saleor_data.load_payment(info.payment_id)
    charge_permission_id, charge_id = _ids(info, payment)
    client = client_for(settings)
    try:
        if payment.captured_amount > 0:
            # Saleor's orderVoid only checks is_active; voiding would strand captured money.
            raise PaymentRefused("this payment has captured money: refund it instead of voiding")
        if charge_id:
            try:
                client.cancel_charge(charge_id, "Order canceled by the merchant")
            except InvalidStateError:
                current = client.get_charge(charge_id)
                if current.state not in (ChargeState.CANCELED, ChargeState.DECLINED):
                    raise PaymentRefused(f"charge {charge_id} is {current.state.value} and cannot be voided")
        if charge_permission_id:
            try:
                client.close_charge_permission(charge_permission_id, "Order canceled by the merchant",
                                               cancel_pending_charges=True)
            except InvalidStateError:
                current = client.get_charge_permission(charge_permission_id)
                if current.status.state != "Closed":
                    raise
    except (AmazonPayError, PaymentRefused) as error:
        return _failed(info, kind, error, buyer_facing=False)
    saleor_data.save_payment_meta(payment, private={"voidedAt": datetime.now(timezone.utc).isoformat()})
    return _response(info, kind=kind, transaction_id=charge_id or charge_permission_id or "",
                     psp_reference=charge_id or charge_permission_id)


# -- storefront helpers (paymentInitialize) ---------------------------------------------------


def checkout_session_details(settings: ChannelSettings, session_id: str) -> dict:
    """Buyer details for the review page, verified to belong to this merchant's store."""
    if not _SESSION_ID_RE.match(session_id or ""):
        raise PaymentRefused("invalid amazonCheckoutSessionId")
    try:
        session = client_for(settings).get_checkout_session(session_id)
    except NotFoundError:
        raise PaymentRefused("unknown Amazon checkout session") from None
    if session.store_id and session.store_id != settings.store_id:
        raise PaymentRefused("unknown Amazon checkout session")
    buyer = session.buyer
    return {
        "checkoutSessionId": session.checkout_session_id,
        "state": session.status.state,
        "buyer": {"name": buyer.name, "email": buyer.email, "phone": buyer.phone_number} if buyer else None,
        "shippingAddress": saleor_data.address_to_saleor(session.shipping_address),
        "billingAddress": saleor_data.address_to_saleor(session.billing_address),
        "paymentDescriptor": session.payment_descriptor,
    }
