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

import logging
import re
from datetime import datetime, timezone
from decimal import Decimal

from saleor.payment import TransactionKind
from saleor.payment.interface import GatewayResponse, PaymentData

from ..core import (
    BUYER_MESSAGE,
    AmazonPayError,
    Charge,
    ChargeState,
    CheckoutSessionState,
    InvalidStateError,
    NotFoundError,
    PaymentIntent,
    Price,
    ServerError,
    TransportError,
)
from . import saleor_data, session_flow
from .clients import client_for
from .consts import (
    META_CHARGE_ID,
    META_CHARGE_PERMISSION_ID,
    META_CHECKOUT_SESSION_ID,
    SESSION_ID_PARAM,
)
from .session_flow import PaymentRefused, idempotency_key  # re-exported: plugin.py uses gateway.PaymentRefused
from .settings import ChannelSettings

_HOOK_KINDS = {
    "process_payment": TransactionKind.ACTION_TO_CONFIRM,
    "confirm_payment": TransactionKind.AUTH,
    "capture_payment": TransactionKind.CAPTURE,
    "refund_payment": TransactionKind.REFUND,
    "void_payment": TransactionKind.VOID,
}

logger = logging.getLogger("saleor_amazonpay.gateway")

SESSION_LIFETIME = session_flow.SESSION_LIFETIME
_SESSION_ID_RE = session_flow.SESSION_ID_RE

#: How each session outcome is recorded on a legacy payment. Confirm holds no money: Saleor
#: can only capture a legacy payment that has an AUTH transaction, so the charge permission
#: is recorded as one (token = chargePermissionId); capture then charges the permission.
_KIND_FOR_OUTCOME = {
    session_flow.CONFIRMED: TransactionKind.AUTH,
    session_flow.AUTHORIZED: TransactionKind.AUTH,
    session_flow.CAPTURED: TransactionKind.CAPTURE,
    session_flow.PENDING: TransactionKind.PENDING,
}


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


def _payment_data(info: PaymentData) -> dict:
    """``checkoutComplete(paymentData:)`` is any JSON the buyer's browser sent: only an object counts."""
    return info.data if isinstance(info.data, dict) else {}


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
    session_id = (info.token or _payment_data(info).get(SESSION_ID_PARAM) or "")
    session_id = session_id.strip() if isinstance(session_id, str) else ""
    try:
        if not _SESSION_ID_RE.match(session_id):
            raise PaymentRefused("no valid Amazon checkout session id: pass it as checkoutPaymentCreate(token:)")
        amount = _checked_amount(info, settings)
        client = client_for(settings)
        session = client.get_checkout_session(session_id)
        session_flow.check_session(settings, session, datetime.now(timezone.utc))
        if session_flow.is_process_order(session):
            # Additional payment button: the buyer already approved this amount on Amazon.
            if session.charge_amount != amount:
                raise PaymentRefused(
                    f"the buyer approved {session.charge_amount} but the checkout now totals {amount}"
                )
            payment = saleor_data.load_payment(info.payment_id)
            saleor_data.save_payment_meta(payment, public={META_CHECKOUT_SESSION_ID: session_id},
                                          private={**session_flow.buyer_snapshot(session),
                                                   "chargeAmount": amount.formatted(),
                                                   "paymentIntent": session.payment_intent or settings.payment_intent})
            return _complete(settings, info, session_id, amount, session.payment_intent or settings.payment_intent)
        updated = client.update_checkout_session(session_id, session_flow.update_payload(
            settings, amount, str(info.checkout_token or info.graphql_payment_id)))
    except (AmazonPayError, PaymentRefused) as error:
        return _failed(info, kind, error)
    if not updated.amazon_pay_redirect_url:
        return _failed(info, kind, PaymentRefused(
            f"Amazon did not return a redirect URL; missing: {', '.join(c for c in updated.constraints if c) or 'unknown'}"))
    payment = saleor_data.load_payment(info.payment_id)
    saleor_data.save_payment_meta(
        payment,
        public={META_CHECKOUT_SESSION_ID: session_id},
        private={**session_flow.buyer_snapshot(session), "chargeAmount": amount.formatted(),
                 "paymentIntent": settings.payment_intent},
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


def confirm_payment(settings: ChannelSettings, info: PaymentData) -> GatewayResponse:
    """Second ``checkoutComplete`` after the buyer's return: Complete Checkout Session."""
    settled = _already_settled(info)
    if settled is not None:
        return settled
    session_id = info.token or ""
    returned = _payment_data(info).get(SESSION_ID_PARAM)
    if returned is not None and returned != session_id:
        return _failed(info, TransactionKind.AUTH, PaymentRefused(
            "paymentData.amazonCheckoutSessionId does not match the session of this payment"))
    try:
        _checked_amount(info, settings)
    except PaymentRefused as refused:
        # The cart changed while the buyer was on Amazon (Saleor accepts a payment that
        # exceeds the new total): never complete the old amount. Unless Amazon already
        # completed it (an earlier call whose answer was lost): then record what happened.
        try:
            completed = client_for(settings).get_checkout_session(session_id).state is CheckoutSessionState.COMPLETED
        except AmazonPayError as error:
            return _failed(info, TransactionKind.AUTH, error)
        if not completed:
            return _failed(info, TransactionKind.AUTH, refused)
    payment = saleor_data.load_payment(info.payment_id)
    intent = saleor_data.private_state(payment).get("paymentIntent") or settings.payment_intent
    return _complete(settings, info, session_id, _price(info), intent, payment=payment)


def _complete(settings: ChannelSettings, info: PaymentData, session_id: str, amount: Price, intent: str,
              payment=None) -> GatewayResponse:
    client = client_for(settings)
    try:
        completion = session_flow.complete_session(client, session_id, amount, intent)
    except (AmazonPayError, PaymentRefused) as error:
        return _failed(info, TransactionKind.AUTH, error)
    session, converged = completion.session, completion.converged
    kind, transaction_id = _KIND_FOR_OUTCOME[completion.state], completion.reference

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
            except (TransportError, ServerError) as unknown:
                # The client's retries ran out without an answer, but Amazon may have
                # captured (lost answers, 5xx after processing): read before failing.
                charge = session_flow.captured_anyway(client, charge_id, amount, unknown)
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
