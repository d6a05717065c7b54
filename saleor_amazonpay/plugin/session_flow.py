"""Amazon Checkout Session steps shared by both Saleor flows.

``gateway.py`` (legacy ``checkoutPaymentCreate`` + ``checkoutComplete``) and
``transactions.py`` (Transactions API: ``transactionInitialize`` / ``transactionProcess``)
drive the same Amazon protocol: check the session, put Saleor's amount on it, then
Complete it exactly once. This module holds those steps and the money-safety rules that
go with them; it imports no Saleor, so each flow only translates the outcome into its own
records (``GatewayResponse`` kinds or ``TransactionEvent`` types).

Complete Checkout Session is never blindly retried (see docs/money-safety.md): after an
error or a lost answer the session is read first. "Completed" means converge on Amazon's
real state (never cancel a paid order); "Open" after a throttle/5xx/lost request means
Complete never happened, so it is tried once more; anything else fails.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..core import (
    AmazonPayError,
    ApiError,
    Charge,
    ChargeState,
    CheckoutSession,
    CheckoutSessionState,
    InvalidStateError,
    PaymentIntent,
    Price,
    RateLimitError,
    ServerError,
    TransportError,
)
from .settings import ChannelSettings

logger = logging.getLogger("saleor_amazonpay.gateway")

SESSION_LIFETIME = timedelta(hours=24)
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9\-]{8,128}$")

#: Outcome states of a completed session, independent of how a flow records them.
CONFIRMED = "confirmed"    # Confirm intent: a chargeable permission, no money held
AUTHORIZED = "authorized"  # money held on a Charge
CAPTURED = "captured"      # money taken
PENDING = "pending"        # Amazon decides asynchronously (up to 24 h)


class PaymentRefused(Exception):
    """A precondition failed before (or instead of) an Amazon call."""

    def __init__(self, merchant_reason: str):
        super().__init__(merchant_reason)
        self.merchant_reason = merchant_reason


class Declined(PaymentRefused):
    """The session completed but its charge ended declined/canceled."""


class SessionStillOpen(PaymentRefused):
    """Amazon refused Complete and the session is still Open: the buyer has not confirmed
    on Amazon yet (or must confirm again). Nothing was charged."""

    def __init__(self, session: CheckoutSession, cause: AmazonPayError):
        super().__init__(f"checkout session is still Open; Amazon refused Complete: {cause}")
        self.session = session
        self.cause = cause


#: Errors after which a Complete may or may not have happened at Amazon.
UNCERTAIN_ERRORS = (TransportError, ServerError, RateLimitError)


def idempotency_key(*parts: Any) -> str:
    """Deterministic 32-character key: the same Saleor operation always gets the same key."""
    material = ":".join(str(p) for p in parts)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def valid_session_id(value: "str | None") -> bool:
    return bool(value) and bool(SESSION_ID_RE.match(value or ""))


def check_session(settings: ChannelSettings, session: CheckoutSession, now: datetime) -> None:
    """The session is this store's, still Open and not expired; else :class:`PaymentRefused`."""
    if session.store_id and session.store_id != settings.store_id:
        raise PaymentRefused(f"checkout session {session.checkout_session_id} belongs to another store")
    if session.state is CheckoutSessionState.CANCELED:
        raise PaymentRefused(f"checkout session is canceled ({session.status.reason_code})")
    if session.state is not CheckoutSessionState.OPEN:
        raise PaymentRefused(f"checkout session is {session.state.value}, not Open")
    if session.creation_timestamp and now - session.creation_timestamp > SESSION_LIFETIME:
        raise PaymentRefused("checkout session expired (older than 24 hours)")


def buyer_snapshot(session: CheckoutSession) -> dict:
    """What Amazon keeps only 30 days; each flow stores it in private metadata."""
    buyer = session.buyer
    return {
        "buyer": {"name": buyer.name, "email": buyer.email, "buyerId": buyer.buyer_id, "phone": buyer.phone_number}
        if buyer else None,
        "shippingAddress": session.raw.get("shippingAddress"),
        "billingAddress": session.raw.get("billingAddress"),
        "paymentDescriptor": session.payment_descriptor,
    }


def is_process_order(session: CheckoutSession) -> bool:
    """Additional payment button: the buyer already approved amount and intent on Amazon."""
    web = session.raw.get("webCheckoutDetails") or {}
    return web.get("checkoutMode") == "ProcessOrder" and session.charge_amount is not None


def update_payload(settings: ChannelSettings, amount: Price, merchant_reference_id: str,
                   intent: "str | None" = None) -> dict:
    """Body of Update Checkout Session: Saleor's amount, the intent and the return URL."""
    intent = intent or settings.payment_intent
    payment_details: dict[str, Any] = {
        "paymentIntent": intent,
        "canHandlePendingAuthorization": settings.can_handle_pending_authorization
        and intent != PaymentIntent.CONFIRM.value,
        "chargeAmount": amount.to_api(),
    }
    if settings.soft_descriptor and intent != PaymentIntent.CONFIRM.value:
        payment_details["softDescriptor"] = settings.soft_descriptor
    if settings.region == "eu" and amount.currency_code != settings.effective_ledger_currency:
        payment_details["presentmentCurrency"] = amount.currency_code
    merchant_metadata: dict[str, Any] = {"merchantReferenceId": str(merchant_reference_id)[:256]}
    if settings.merchant_store_name:
        merchant_metadata["merchantStoreName"] = settings.merchant_store_name[:50]
    return {
        "webCheckoutDetails": {"checkoutResultReturnUrl": settings.checkout_result_return_url},
        "paymentDetails": payment_details,
        "merchantMetadata": merchant_metadata,
    }


@dataclass(frozen=True)
class Completion:
    """A Completed checkout session and what it did with the money."""

    state: str                      # CONFIRMED, AUTHORIZED, CAPTURED or PENDING
    session: CheckoutSession
    intent: str
    converged: bool                 # True when Complete's own answer was not seen

    @property
    def charge_permission_id(self) -> "str | None":
        return self.session.charge_permission_id

    @property
    def charge_id(self) -> "str | None":
        return None if self.state == CONFIRMED else self.session.charge_id

    @property
    def reference(self) -> str:
        """Amazon's id for the money: the charge, or the permission when none is held."""
        return self.charge_id or self.charge_permission_id or self.session.checkout_session_id


def complete_session(client, session_id: str, amount: Price, intent: str, *,
                     reconcile_first: bool = False) -> Completion:
    """Complete the session exactly once and say what happened.

    ``reconcile_first``: the caller already knows a Complete was sent (e.g. it recorded the
    charge permission): read the session instead of sending another Complete.

    Raises :class:`AmazonPayError`, :class:`PaymentRefused` or :class:`Declined`.
    """
    if reconcile_first:
        session, converged = reconcile_complete(client, session_id, amount, None)
    else:
        try:
            session = client.complete_checkout_session(session_id, amount)
            converged = False
        except (InvalidStateError, *UNCERTAIN_ERRORS) as first_error:
            session, converged = reconcile_complete(client, session_id, amount, first_error)
    if session.state is not CheckoutSessionState.COMPLETED:
        raise PaymentRefused(f"checkout session is {session.status.state} ({session.status.reason_code})")
    return Completion(outcome_state(client, session, intent, converged), session, intent, converged)


def reconcile_complete(client, session_id: str, amount: Price,
                       error: "AmazonPayError | None") -> "tuple[CheckoutSession, bool]":
    """Complete failed or its answer was lost: find out what really happened at Amazon."""
    logger.info("Amazon Pay Complete for session %s %s; reading the session before deciding", session_id,
                f"failed ({error.reason_code or type(error).__name__})" if error else "was already sent")
    session = client.get_checkout_session(session_id)
    if session.state is CheckoutSessionState.COMPLETED:
        return session, True
    if session.state is CheckoutSessionState.OPEN and not isinstance(error, InvalidStateError):
        # Amazon never completed it (throttled, 5xx, lost before processing, or this is
        # the first Complete after all): one more try.
        return client.complete_checkout_session(session_id, amount), False
    if session.state is CheckoutSessionState.OPEN and isinstance(error, InvalidStateError):
        raise SessionStillOpen(session, error)
    if isinstance(error, ApiError):
        raise error
    raise PaymentRefused(f"checkout session is {session.status.state} ({session.status.reason_code})")


def outcome_state(client, session: CheckoutSession, intent: str, converged: bool) -> str:
    """CONFIRMED / AUTHORIZED / CAPTURED / PENDING for a completed session."""
    if intent == PaymentIntent.CONFIRM.value or not session.charge_id:
        return CONFIRMED
    if session.authorization_pending:
        return PENDING
    if not converged:
        return CAPTURED if intent == PaymentIntent.AUTHORIZE_WITH_CAPTURE.value else AUTHORIZED
    # We did not see Complete's own answer: the charge tells the state.
    return charge_state(client.get_charge(session.charge_id))


def charge_state(charge: Charge) -> str:
    state = charge.state
    if state is ChargeState.CAPTURED:
        return CAPTURED
    if state is ChargeState.AUTHORIZED:
        return AUTHORIZED
    if state in (ChargeState.AUTHORIZATION_INITIATED, ChargeState.CAPTURE_INITIATED, ChargeState.PENDING):
        return PENDING
    raise Declined(f"charge {charge.charge_id} is {state.value} ({charge.status.reason_code})")


def captured_anyway(client, charge_id: str, amount: Price, error: AmazonPayError) -> Charge:
    """After a Capture Charge without an answer: the charge when Amazon did capture exactly
    ``amount`` on it (the answer was lost), else re-raise ``error``."""
    try:
        current = client.get_charge(charge_id)
    except AmazonPayError:
        raise error from None
    if current.state is ChargeState.CAPTURED and current.captured_amount == amount:
        logger.info("Amazon Pay capture of charge %s: the answer was lost but the charge is captured", charge_id)
        return current
    raise error
