"""Amazon Pay behind Saleor's Transactions API.

``paymentGatewayInitialize`` -> :func:`gateway_config` (signed button for this checkout),
``transactionInitialize`` -> :func:`initialize` (Update Checkout Session, redirect),
``transactionProcess`` -> :func:`process` (Complete Checkout Session, exactly once),
``transactionRequestAction`` / granted refunds -> :func:`request_charge`,
:func:`request_refund`, :func:`request_cancel`.

Session hooks return the JSON a payment app's sync webhook would return (``pspReference``,
``result``, ``amount``, ``data``, ``actions``, ``message``); Saleor turns it into
``TransactionEvent`` rows. Action hooks record their result with Saleor's own
``create_transaction_event_from_request_and_webhook_response``, so amounts, order
statuses and granted refunds are recalculated exactly as for an app.

Amazon's ids live in ``TransactionItem.metadata`` under the same keys as the legacy flow
(``checkoutSessionId``, ``chargePermissionId``, ``chargeId``); what Amazon deletes after
30 days (buyer, addresses) and the plugin's bookkeeping (captures, refunds) live in
``TransactionItem.private_metadata["amazonpay"]``.

Money-safety rules are the legacy flow's (``session_flow``, docs/money-safety.md): the
amount is Saleor's; every money-moving write carries an idempotency key derived from the
Saleor transaction (``TransactionItem.token``) and what it already recorded; Complete is
sent once, and after an uncertain failure the session is read before anything else.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from ..core import (
    BUYER_MESSAGE,
    AmazonPayError,
    ChargeState,
    InvalidStateError,
    PaymentIntent,
    Price,
)
from . import button, saleor_data, session_flow
from .clients import client_for
from .consts import (
    META_CHARGE_ID,
    META_CHARGE_PERMISSION_ID,
    META_CHECKOUT_SESSION_ID,
    PLUGIN_ID,
    PLUGIN_NAME,
    SESSION_ID_PARAM,
)
from .session_flow import PaymentRefused
from .settings import ChannelSettings

logger = logging.getLogger("saleor_amazonpay.transactions")

AUTHORIZATION = "AUTHORIZATION"
CHARGE = "CHARGE"

#: Causes of the failure event Saleor's built-in WebhookPlugin records for a transaction
#: whose app has no webhook (ours never has one): it runs before this package's plugin,
#: so the plugin removes that stray event and records the real outcome.
WEBHOOK_PLUGIN_CAUSES = (
    "Cannot find a webhook that can process the action.",
    "Transaction request skipped. Missing relation to PaymentApp.",
    "Cannot process the action as the given transaction is not attached to any app.",
)

FAILURE_KEY = "__amazonpay_failure__"

RETRY_MESSAGE = "Amazon Pay could not confirm the payment yet. Call transactionProcess again."
AWAITING_BUYER_MESSAGE = "The buyer must confirm the payment on Amazon (amazonPayRedirectUrl)."


# -- configuration ---------------------------------------------------------------------------


def channel_settings(channel) -> "ChannelSettings | None":
    """The channel's Amazon Pay configuration, only when it is active there."""
    from saleor.plugins.models import PluginConfiguration

    if channel is None:
        return None
    row = (PluginConfiguration.objects.filter(identifier=PLUGIN_ID, channel_id=channel.pk, active=True)
           .only("configuration").first())
    return ChannelSettings.from_items(row.configuration) if row is not None else None


def amazon_intent(settings: ChannelSettings, action_type: str) -> str:
    """Saleor's requested action decides what Amazon does with the money.

    CHARGE -> AuthorizeWithCapture. AUTHORIZATION -> Authorize, or Confirm when the channel's
    Amazon Pay intent is Confirm (only the payment method is saved; charge it later).
    """
    if str(action_type).lower() == "charge":
        return PaymentIntent.AUTHORIZE_WITH_CAPTURE.value
    if settings.payment_intent == PaymentIntent.CONFIRM.value:
        return PaymentIntent.CONFIRM.value
    return PaymentIntent.AUTHORIZE.value


def _prefix(intent: str) -> str:
    return CHARGE if intent == PaymentIntent.AUTHORIZE_WITH_CAPTURE.value else AUTHORIZATION


def prefix_for_action(action_type: str) -> str:
    return CHARGE if str(action_type).lower() == "charge" else AUTHORIZATION


# -- TransactionItem metadata ------------------------------------------------------------------


def _save_meta(item, *, public: "dict | None" = None, private: "dict | None" = None) -> None:
    """Merge into the TransactionItem's metadata under a row lock; refresh ``item``."""
    from django.db import transaction as db_transaction

    from saleor.core.db.connection import allow_writer
    from saleor.payment.models import TransactionItem

    with allow_writer(), db_transaction.atomic():
        locked = TransactionItem.objects.select_for_update(of=("self",)).get(pk=item.pk)
        saleor_data.save_payment_meta(locked, public=public, private=private)
        if locked.name != PLUGIN_NAME:
            locked.name = PLUGIN_NAME
            locked.save(update_fields=["name"])
    item.metadata, item.private_metadata, item.name = locked.metadata, locked.private_metadata, locked.name


def _state(item) -> dict:
    return saleor_data.private_state(item)


def _session_id_from(data: Any) -> str:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = {}
    session_id = str((data or {}).get(SESSION_ID_PARAM) or "").strip() if isinstance(data, dict) else ""
    if not session_flow.valid_session_id(session_id):
        raise PaymentRefused(f"no valid Amazon checkout session id: pass paymentGateway.data.{SESSION_ID_PARAM}")
    return session_id


def _claimed_elsewhere(session_id: str, item) -> bool:
    """A session pays for one transaction: another one already completed (or holds) it."""
    from saleor.payment.models import TransactionItem

    others = (TransactionItem.objects.filter(app_identifier=PLUGIN_ID, metadata__checkoutSessionId=session_id)
              .exclude(pk=item.pk))
    for other in others:
        if (other.metadata or {}).get(META_CHARGE_PERMISSION_ID) or any(
                getattr(other, f) > 0 for f in ("authorized_value", "charged_value", "authorize_pending_value",
                                                "charge_pending_value")):
            return True
    return False


def _reference(source_object) -> str:
    from saleor.checkout.models import Checkout

    if isinstance(source_object, Checkout):
        return str(source_object.token)
    return str(getattr(source_object, "number", None) or source_object.pk)


def _checked_price(settings: ChannelSettings, source_object, amount: Decimal, currency: str, *,
                   exclude_transaction_id: "int | None" = None, recalculate: bool = False) -> Price:
    """Saleor's action amount, refused unless it is exactly what the checkout/order still owes."""
    if currency.upper() not in settings.currencies:
        raise PaymentRefused(f"currency {currency} is not enabled for Amazon Pay in this channel")
    due, due_currency = saleor_data.amount_due(source_object, exclude_transaction_id=exclude_transaction_id,
                                               recalculate=recalculate)
    if due_currency != currency or Decimal(str(amount)) != due:
        # The storefront may pass any `amount`; charging a figure Saleor did not compute is never right.
        raise PaymentRefused(f"amount {amount} {currency} differs from the amount due {due} {due_currency}")
    price = Price(Decimal(str(amount)), currency)
    if price.amount <= 0:
        raise PaymentRefused("nothing to pay")
    if not price.is_exact():
        raise PaymentRefused(f"amount {amount} has too many decimals for {currency}")
    return price


# -- results ---------------------------------------------------------------------------------


def _merchant_reason(error: "AmazonPayError | PaymentRefused | str") -> str:
    return str(error) if isinstance(error, AmazonPayError) else getattr(error, "merchant_reason", str(error))


def _session_failure(item, prefix: str, amount: Decimal, error, psp_reference: "str | None" = None) -> dict:
    """Buyer-safe failure; the merchant reason goes to the log and the item's private metadata."""
    reason = _merchant_reason(error)
    logger.warning("Amazon Pay transaction %s failed: %s", item.token, reason)
    try:
        _save_meta(item, private={"lastError": reason, "lastErrorAt": _now()})
    except Exception:  # noqa: BLE001 - bookkeeping must not hide the failure itself
        logger.exception("Amazon Pay: could not record the failure on transaction %s", item.token)
    response = {"result": f"{prefix}_FAILURE", "amount": str(amount), "message": BUYER_MESSAGE,
                "data": {"error": BUYER_MESSAGE}}
    if psp_reference:
        response["pspReference"] = psp_reference
    return response


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _payment_method(item) -> dict:
    descriptor = _state(item).get("paymentDescriptor")
    name = f"Amazon Pay ({descriptor})" if descriptor else "Amazon Pay"
    return {"type": "OTHER", "name": name[:256]}


# -- paymentGatewayInitialize ---------------------------------------------------------------------


def gateway_config(settings: ChannelSettings, source_object, amount: Decimal) -> dict:
    """Everything ``amazon.Pay.renderButton`` needs, signed for this checkout and amount.

    ``createCheckoutSessionConfig`` is the additional-payment-button variant
    (``checkoutMode: ProcessOrder``): amount, currency and the checkout's shipping address
    are in the signed payload, the buyer pays on Amazon in one trip. When the checkout has
    no shipping address yet and Amazon must ship (PayAndShip), it is the standard variant
    (sign in, come back to the review page). ``reviewCheckoutSessionConfig`` is always the
    standard variant.
    """
    from saleor.checkout.models import Checkout

    currency = source_object.currency
    price = _checked_price(settings, source_object, amount, currency)
    intent = amazon_intent(settings, source_object.channel.default_transaction_flow_strategy)
    signing = replace(settings, payment_intent=intent)
    shipping = getattr(source_object, "shipping_address", None)
    address = saleor_data.address_from_saleor(shipping)
    needs_address = settings.product_type == "PayAndShip" and (
        not isinstance(source_object, Checkout) or source_object.is_shipping_required())
    review = button.button_options(settings, button.standard_payload(settings))
    if address is None and needs_address:
        options, mode = dict(review), "Standard"
    else:
        payload = button.process_order_payload(signing, price, _reference(source_object), address)
        options, mode = button.button_options(signing, payload, price), "ProcessOrder"
    options.update({
        "checkoutMode": mode,
        "reviewCheckoutSessionConfig": review["createCheckoutSessionConfig"],
        "buttonScriptUrl": settings.button_script_url,
        "paymentIntent": intent,
        "region": settings.region,
        "amount": price.formatted(),
        "currency": price.currency_code,
    })
    return options


# -- transactionInitialize -------------------------------------------------------------------------


def initialize(settings: ChannelSettings, session_data) -> dict:
    """Put Saleor's amount on the buyer's session and hand back Amazon's redirect.

    With the additional payment button (ProcessOrder) the buyer already approved the payment
    on Amazon: the session is completed here and the result is final.
    """
    item = session_data.transaction
    source = session_data.source_object
    action = session_data.action
    amount = Decimal(str(action.amount))
    prefix = prefix_for_action(action.action_type)
    session_id = None
    try:
        session_id = _session_id_from(session_data.payment_gateway_data.data)
        if _claimed_elsewhere(session_id, item):
            raise PaymentRefused(f"checkout session {session_id} already paid another transaction")
        price = _checked_price(settings, source, amount, action.currency, exclude_transaction_id=item.pk)
        client = client_for(settings)
        session = client.get_checkout_session(session_id)
        session_flow.check_session(settings, session, datetime.now(timezone.utc))
        if session_flow.is_process_order(session):
            if session.charge_amount != price:
                raise PaymentRefused(f"the buyer approved {session.charge_amount} but the amount due is {price}")
            intent = session.payment_intent or amazon_intent(settings, action.action_type)
            _save_meta(item, public={META_CHECKOUT_SESSION_ID: session_id}, private={
                **session_flow.buyer_snapshot(session), "chargeAmount": price.formatted(),
                "paymentIntent": intent, "checkoutMode": "ProcessOrder"})
            return _complete(settings, item, session_id, price, intent)
        intent = amazon_intent(settings, action.action_type)
        prefix = _prefix(intent)
        updated = client.update_checkout_session(
            session_id, session_flow.update_payload(settings, price, _reference(source), intent))
        if not updated.amazon_pay_redirect_url:
            missing = ", ".join(c for c in updated.constraints if c) or "unknown"
            raise PaymentRefused(f"Amazon did not return a redirect URL; missing: {missing}")
    except (AmazonPayError, PaymentRefused) as error:
        return _session_failure(item, prefix, amount, error, session_id)
    _save_meta(item, public={META_CHECKOUT_SESSION_ID: session_id}, private={
        **session_flow.buyer_snapshot(session), "chargeAmount": price.formatted(), "paymentIntent": intent,
        "checkoutMode": "Standard"})
    return {
        "pspReference": session_id,
        "result": f"{prefix}_ACTION_REQUIRED",
        "amount": str(amount),
        "message": AWAITING_BUYER_MESSAGE,
        "data": {"amazonPayRedirectUrl": updated.amazon_pay_redirect_url, "checkoutSessionId": session_id},
    }


# -- transactionProcess ----------------------------------------------------------------------------


def process(settings: ChannelSettings, session_data) -> dict:
    """The buyer is back from Amazon: Complete Checkout Session, exactly once."""
    item = session_data.transaction
    action = session_data.action
    amount = Decimal(str(action.amount))
    meta = item.metadata or {}
    state = _state(item)
    session_id = meta.get(META_CHECKOUT_SESSION_ID)
    intent = state.get("paymentIntent") or amazon_intent(settings, action.action_type)
    prefix = _prefix(intent)
    data = session_data.payment_gateway_data.data
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = {}
    returned = data.get(SESSION_ID_PARAM) if isinstance(data, dict) else None
    try:
        if not session_id:
            raise PaymentRefused("transactionInitialize did not start an Amazon checkout for this transaction")
        if returned is not None and returned != session_id:
            raise PaymentRefused(f"data.{SESSION_ID_PARAM} does not match the session of this transaction")
        if _claimed_elsewhere(session_id, item):
            raise PaymentRefused(f"checkout session {session_id} already paid another transaction")
        price = Price(amount, action.currency)
        if not (meta.get(META_CHARGE_PERMISSION_ID) or state.get("completeAttempted")):
            # Before money moves: the cart may have changed while the buyer was on Amazon.
            _checked_price(settings, session_data.source_object, amount, action.currency,
                           exclude_transaction_id=item.pk, recalculate=True)
    except (AmazonPayError, PaymentRefused) as error:
        return _session_failure(item, prefix, amount, error, session_id)
    return _complete(settings, item, session_id, price, intent)


def _complete(settings: ChannelSettings, item, session_id: str, price: Price, intent: str) -> dict:
    prefix = _prefix(intent)
    state = _state(item)
    # Read before deciding whenever a Complete may already have been sent for this item.
    reconcile_first = bool((item.metadata or {}).get(META_CHARGE_PERMISSION_ID) or state.get("completeAttempted"))
    _save_meta(item, private={"completeAttempted": True})
    try:
        completion = session_flow.complete_session(client_for(settings), session_id, price, intent,
                                                   reconcile_first=reconcile_first)
    except session_flow.SessionStillOpen as still_open:
        # Nothing was charged; the buyer has (again) to confirm on Amazon.
        _save_meta(item, private={"completeAttempted": False})
        redirect = still_open.session.amazon_pay_redirect_url
        logger.info("Amazon Pay transaction %s: %s", item.token, still_open.merchant_reason)
        if not redirect:
            return _session_failure(item, prefix, price.amount, still_open, session_id)
        return {"pspReference": session_id, "result": f"{prefix}_ACTION_REQUIRED", "amount": str(price.amount),
                "message": AWAITING_BUYER_MESSAGE,
                "data": {"amazonPayRedirectUrl": redirect, "checkoutSessionId": session_id}}
    except session_flow.UNCERTAIN_ERRORS as error:
        # Complete may have happened: never report a final failure (it would strand a paid
        # session). The next transactionProcess reads the session first and converges.
        logger.warning("Amazon Pay transaction %s: outcome of Complete unknown (%s); waiting for a retry",
                       item.token, error)
        _save_meta(item, private={"lastError": str(error), "lastErrorAt": _now()})
        return {"pspReference": session_id, "result": f"{prefix}_ACTION_REQUIRED", "amount": str(price.amount),
                "message": RETRY_MESSAGE, "data": {"retry": True, "checkoutSessionId": session_id,
                                                   "error": BUYER_MESSAGE}}
    except (AmazonPayError, PaymentRefused) as error:
        return _session_failure(item, prefix, price.amount, error, session_id)

    public = {META_CHECKOUT_SESSION_ID: session_id, META_CHARGE_PERMISSION_ID: completion.charge_permission_id}
    if completion.charge_id:
        public[META_CHARGE_ID] = completion.charge_id
    private: dict[str, Any] = {
        "paymentIntent": intent,
        "moneyHeld": completion.state != session_flow.CONFIRMED,
        "chargeAmount": price.formatted(),
        "completedAt": _now(),
        "outcome": completion.state,
        "converged": completion.converged,
    }
    if completion.state == session_flow.CAPTURED:
        private["captures"] = [{"chargeId": completion.charge_id, "amount": price.formatted(), "state": "Captured"}]
    _save_meta(item, public=public, private=private)
    result, actions = {
        session_flow.CONFIRMED: (f"{AUTHORIZATION}_SUCCESS", ["CHARGE", "CANCEL"]),
        session_flow.AUTHORIZED: (f"{AUTHORIZATION}_SUCCESS", ["CHARGE", "CANCEL"]),
        session_flow.CAPTURED: (f"{CHARGE}_SUCCESS", ["REFUND"]),
        session_flow.PENDING: (f"{prefix}_REQUEST", []),
    }[completion.state]
    message = {
        session_flow.CONFIRMED: "Amazon Pay: payment method confirmed; no money held until charged.",
        session_flow.PENDING: "Amazon Pay: authorization pending; Amazon decides within 24 hours.",
    }.get(completion.state, "")
    return {"pspReference": completion.reference, "result": result, "amount": str(price.amount),
            "actions": actions, "message": message, "paymentMethodDetails": _payment_method(item),
            "data": {"checkoutSessionId": session_id, "chargePermissionId": completion.charge_permission_id,
                     "chargeId": completion.charge_id}}


# -- transactionRequestAction: charge, refund, cancel ------------------------------------------------


def _actions_after(item, *, authorized: Decimal, charged: Decimal) -> list[str]:
    actions = []
    if authorized > 0:
        actions += ["CHARGE", "CANCEL"]
    if charged > 0:
        actions.append("REFUND")
    return actions


def _record(action_data, response: dict) -> None:
    """Record the outcome with Saleor's helper: events, amounts, order and granted refunds."""
    from saleor.payment.utils import create_transaction_event_from_request_and_webhook_response

    create_transaction_event_from_request_and_webhook_response(
        action_data.event, action_data.transaction_app_owner, response)


def drop_webhook_plugin_failure(action_data) -> int:
    """Remove the failure event Saleor's WebhookPlugin wrote for this request (see
    :data:`WEBHOOK_PLUGIN_CAUSES`); returns how many were removed."""
    from saleor.payment.models import TransactionEvent
    from saleor.payment.utils import get_failed_transaction_event_type_for_request_event

    request = action_data.event
    failed_type = get_failed_transaction_event_type_for_request_event(request)
    if request is None or failed_type is None:
        return 0
    deleted, _ = TransactionEvent.objects.filter(
        transaction_id=request.transaction_id, type=failed_type, message__in=WEBHOOK_PLUGIN_CAUSES,
        include_in_calculations=False, created_at__gte=request.created_at, amount_value=request.amount_value,
        related_granted_refund_id=request.related_granted_refund_id,
    ).delete()
    return deleted


def _staff_failure(action_data, kind: str, error, amazon_id: "str | None") -> dict:
    """A failed action: recorded like Saleor records an app's unusable answer (see
    :func:`_record_failure`), never as a result that could cancel an earlier success."""
    reason = _merchant_reason(error)
    logger.warning("Amazon Pay %s for transaction %s failed: %s", kind.lower(), action_data.transaction.token,
                   reason)
    return {FAILURE_KEY: True, "message": f"Amazon Pay: {reason}"[:500], "amazonId": amazon_id}


def _record_failure(action_data, failure: dict) -> None:
    """The request's failure event, outside the amount calculations.

    A ``*_FAILURE`` *result* would carry a pspReference and, being newer, cancel an earlier
    success under the same id (e.g. a refused second capture would un-charge the first).
    Saleor's own path for a failed request (``create_failed_transaction_event``) keeps the
    event out of the calculations; Amazon's id is added to it for staff.
    """
    from saleor.payment.utils import (
        create_failed_transaction_event,
        recalculate_refundable_for_checkout,
        update_order_granted_status_if_needed,
    )

    recalculate_refundable_for_checkout(action_data.transaction, action_data.event)
    event = create_failed_transaction_event(action_data.event, cause=failure["message"])
    if failure.get("amazonId") and not event.psp_reference:
        event.psp_reference = failure["amazonId"]
        event.save(update_fields=["psp_reference"])
    update_order_granted_status_if_needed(action_data.event)


def request_charge(settings: ChannelSettings, action_data) -> dict:
    """Capture: the authorization first (Capture Charge), then new charges on the permission."""
    item = action_data.transaction
    amount = Decimal(str(action_data.action_value))
    meta, state = item.metadata or {}, _state(item)
    permission_id, first_charge = meta.get(META_CHARGE_PERMISSION_ID), meta.get(META_CHARGE_ID)
    captures = list(state.get("captures", []))
    client = client_for(settings)
    reference = None  # the Amazon charge this attempt is about, once there is one
    try:
        if not permission_id:
            raise PaymentRefused("this transaction has no Amazon charge permission")
        price = Price(amount, item.currency)
        if amount <= 0 or not price.is_exact():
            raise PaymentRefused(f"invalid charge amount {amount} {item.currency}")
        captured_ids = {c.get("chargeId") for c in captures}
        charge = None
        if first_charge and first_charge not in captured_ids and not state.get("authorizationClosed"):
            key = session_flow.idempotency_key(item.token, "capture", first_charge, item.charged_value,
                                               price.formatted())
            reference = first_charge
            try:
                charge = client.capture_charge(first_charge, price, idempotency_key=key,
                                               soft_descriptor=settings.soft_descriptor or None)
            except session_flow.UNCERTAIN_ERRORS as unknown:
                # No answer, but Amazon may have captured: read before failing.
                charge = session_flow.captured_anyway(client, first_charge, price, unknown)
            except InvalidStateError:
                current = client.get_charge(first_charge)
                if current.state in (ChargeState.CAPTURED, ChargeState.CAPTURE_INITIATED):
                    raise PaymentRefused(f"charge {first_charge} was already captured outside this transaction")
                if current.state in (ChargeState.AUTHORIZATION_INITIATED, ChargeState.PENDING):
                    raise PaymentRefused(f"the authorization {first_charge} is still pending at Amazon")
                # Expired (30 days) or canceled: charge the permission instead.
                charge = None
        if charge is None:
            reference = permission_id
            key = session_flow.idempotency_key(item.token, "charge", permission_id, item.charged_value,
                                               price.formatted())
            charge = client.create_charge(permission_id, price, capture_now=True, idempotency_key=key,
                                          soft_descriptor=settings.soft_descriptor or None,
                                          can_handle_pending_authorization=settings.can_handle_pending_authorization)
        reference = charge.charge_id
        if charge.state is ChargeState.DECLINED:
            raise PaymentRefused(f"Amazon declined the charge ({charge.status.reason_code})")
    except (AmazonPayError, PaymentRefused) as error:
        return _staff_failure(action_data, CHARGE, error, reference)
    captures.append({"chargeId": charge.charge_id, "amount": price.formatted(), "state": charge.state.value})
    _save_meta(item, public={META_CHARGE_ID: first_charge or charge.charge_id}, private={"captures": captures})
    if charge.state is not ChargeState.CAPTURED:
        # CaptureInitiated / AuthorizationInitiated: Saleor keeps the amount pending under the
        # charge id until a notification (or refresh_from_amazon) reports the outcome.
        return {"pspReference": charge.charge_id}
    return {"pspReference": charge.charge_id, "result": f"{CHARGE}_SUCCESS", "amount": str(amount),
            "actions": _actions_after(item, authorized=item.authorized_value - amount,
                                      charged=item.charged_value + amount),
            "message": f"Amazon Pay charge {charge.charge_id}"}


def _refundable(item, state: dict) -> "list[tuple[str, Decimal]]":
    """(chargeId, amount still refundable) per captured charge, oldest first."""
    captures = [c for c in state.get("captures", []) if c.get("state") == ChargeState.CAPTURED.value]
    if not captures and (item.metadata or {}).get(META_CHARGE_ID):
        # Captured outside this bookkeeping: Saleor's charged value (net of refunds) + refunds.
        captures = [{"chargeId": item.metadata[META_CHARGE_ID],
                     "amount": str(item.charged_value + item.refunded_value)}]
    refunded: dict[str, Decimal] = {}
    for refund in state.get("refunds", []):
        if refund.get("state") != "Declined":
            refunded[refund["chargeId"]] = refunded.get(refund["chargeId"], Decimal(0)) + Decimal(refund["amount"])
    result = []
    for capture in captures:
        left = Decimal(capture["amount"]) - refunded.pop(capture["chargeId"], Decimal(0))
        if left > 0:
            result.append((capture["chargeId"], left))
    return result


def request_refund(settings: ChannelSettings, action_data) -> dict:
    """Refund across the captured charges (Amazon refunds per charge), oldest first."""
    item = action_data.transaction
    amount = Decimal(str(action_data.action_value))
    state = _state(item)
    refunds = list(state.get("refunds", []))
    client = client_for(settings)
    done: list[dict] = []
    plan = _refundable(item, state)
    try:
        price = Price(amount, item.currency)
        if amount <= 0 or not price.is_exact():
            raise PaymentRefused(f"invalid refund amount {amount} {item.currency}")
        available = sum((left for _, left in plan), Decimal(0))
        if not plan or available < amount:
            raise PaymentRefused(f"only {available} {item.currency} captured by Amazon Pay can be refunded")
        left_to_refund = amount
        for charge_id, refundable in plan:
            if left_to_refund <= 0:
                break
            part = Price(min(refundable, left_to_refund), item.currency)
            already = sum((Decimal(r["amount"]) for r in refunds if r["chargeId"] == charge_id), Decimal(0))
            key = session_flow.idempotency_key(item.token, "refund", charge_id, already, part.formatted())
            refund = client.create_refund(charge_id, part, idempotency_key=key,
                                          soft_descriptor=settings.soft_descriptor or None)
            if refund.status.state == "Declined":
                raise PaymentRefused(f"Amazon declined the refund of charge {charge_id} ({refund.status.reason_code})")
            entry = {"refundId": refund.refund_id, "chargeId": charge_id, "amount": part.formatted(),
                     "state": refund.status.state}
            done.append(entry)
            refunds.append(entry)
            left_to_refund -= part.amount
    except (AmazonPayError, PaymentRefused) as error:
        if not done:
            return _staff_failure(action_data, "REFUND", error, plan[0][0] if plan else None)
        # Part of the money went back: record exactly that much, and say what failed.
        _save_meta(item, private={"refunds": refunds})
        refunded = sum((Decimal(r["amount"]) for r in done), Decimal(0))
        return {"pspReference": done[0]["refundId"], "result": "REFUND_SUCCESS", "amount": str(refunded),
                "message": f"Amazon Pay refunded {refunded} of {amount}: {_merchant_reason(error)}"[:500]}
    _save_meta(item, private={"refunds": refunds})
    ids = ", ".join(f"{r['refundId']} ({r['amount']} from {r['chargeId']})" for r in done)
    charged_after = item.charged_value - amount
    # Amazon settles refunds asynchronously (RefundInitiated -> Refunded); a later decline
    # arrives as a notification.
    return {"pspReference": done[0]["refundId"], "result": "REFUND_SUCCESS", "amount": str(amount),
            "actions": _actions_after(item, authorized=item.authorized_value, charged=charged_after),
            "message": f"Amazon Pay refund {ids}"[:500]}


def request_cancel(settings: ChannelSettings, action_data) -> dict:
    """Release what is still authorized: cancel the open charge, close the charge permission."""
    item = action_data.transaction
    meta, state = item.metadata or {}, _state(item)
    permission_id, charge_id = meta.get(META_CHARGE_PERMISSION_ID), meta.get(META_CHARGE_ID)
    captured_ids = {c.get("chargeId") for c in state.get("captures", [])}
    client = client_for(settings)
    try:
        if not permission_id:
            raise PaymentRefused("this transaction has no Amazon charge permission")
        if state.get("authorizationClosed"):
            raise PaymentRefused(f"charge permission {permission_id} is already closed: nothing left to cancel")
        if charge_id and charge_id not in captured_ids:
            try:
                client.cancel_charge(charge_id, "Canceled by the merchant")
            except InvalidStateError:
                current = client.get_charge(charge_id)
                if current.state not in (ChargeState.CANCELED, ChargeState.DECLINED, ChargeState.CAPTURED):
                    raise
        try:
            client.close_charge_permission(permission_id, "Canceled by the merchant", cancel_pending_charges=True)
        except InvalidStateError:
            if client.get_charge_permission(permission_id).status.state != "Closed":
                raise
    except (AmazonPayError, PaymentRefused) as error:
        return _staff_failure(action_data, "CANCEL", error, permission_id)
    _save_meta(item, private={"authorizationClosed": True, "canceledAt": _now()})
    return {"pspReference": permission_id, "result": "CANCEL_SUCCESS", "amount": str(action_data.action_value),
            "actions": _actions_after(item, authorized=Decimal(0), charged=item.charged_value),
            "message": f"Amazon Pay charge permission {permission_id} closed"}


def handle_action(kind: str, action_data) -> None:
    """Run one action for an Amazon Pay transaction and record its result. Never raises."""
    item = action_data.transaction
    try:
        drop_webhook_plugin_failure(action_data)
        settings = channel_settings(channel_of(item))
        if settings is None:
            response = _staff_failure(action_data, {"charge": CHARGE, "refund": "REFUND", "cancel": "CANCEL"}[kind],
                                      PaymentRefused("Amazon Pay is not active in this channel"), None)
        else:
            handler = {"charge": request_charge, "refund": request_refund, "cancel": request_cancel}[kind]
            response = handler(settings, action_data)
        if response.get(FAILURE_KEY):
            _record_failure(action_data, response)
            return
        _record(action_data, response)
        if kind in ("refund", "cancel"):
            _restore_refundable_flag(action_data, response)
        if kind == "cancel" and settings is not None:
            # A canceled pending authorization is settled now rather than by a notification.
            refresh_from_amazon(item)
    except Exception:  # noqa: BLE001 - an action hook must never break the dashboard request
        logger.exception("Amazon Pay %s crashed for transaction %s", kind, item.token)
        try:
            from saleor.payment.utils import create_failed_transaction_event

            create_failed_transaction_event(action_data.event, cause="Amazon Pay: unexpected error; see the server log")
        except Exception:  # noqa: BLE001
            logger.exception("Amazon Pay: could not record the failure of %s", kind)


def _restore_refundable_flag(action_data, response: dict) -> None:
    """Saleor's "last refund succeeded" flag, as Saleor would set it for this outcome.

    The WebhookPlugin's stray failure (removed by :func:`drop_webhook_plugin_failure`)
    already cleared it; Saleor itself recomputes it from our result only for checkouts.
    """
    from saleor.payment.utils import recalculate_refundable_for_checkout

    result = str(response.get("result") or "").lower()
    if not result:
        return
    item = action_data.transaction
    event = item.events.filter(type=result).order_by("-created_at", "-pk").first()
    if event is not None:
        recalculate_refundable_for_checkout(item, action_data.event, event)


def channel_of(item):
    if item.order_id:
        return item.order.channel
    if item.checkout_id:
        return item.checkout.channel
    return None


# -- after the fact: pending outcomes ---------------------------------------------------------------


def refresh_from_amazon(item) -> "str | None":
    """Record what Amazon decided for a pending charge of this transaction.

    For notification handlers (IPN) and reconciliation jobs: a pending authorization or
    capture (``AUTHORIZATION_REQUEST`` / ``CHARGE_REQUEST`` kept pending under a charge id)
    is settled by reading the charge: Authorized -> ``AUTHORIZATION_SUCCESS``, Captured ->
    ``CHARGE_SUCCESS``, Declined/Canceled -> ``*_FAILURE``. Returns the recorded event type,
    or None when nothing was pending or Amazon has not decided yet.
    """
    from saleor.core.db.connection import allow_writer
    from saleor.payment import TransactionEventType
    from saleor.payment.models import TransactionEvent
    from saleor.payment.transaction_item_calculations import recalculate_transaction_amounts
    from saleor.payment.utils import process_order_or_checkout_with_transaction
    from saleor.plugins.manager import get_plugins_manager

    if item.app_identifier != PLUGIN_ID:
        return None
    settings = channel_settings(channel_of(item))
    if settings is None:
        return None
    events = list(item.events.filter(include_in_calculations=True).order_by("created_at"))
    pending = None
    for event in events:
        if event.type not in (TransactionEventType.AUTHORIZATION_REQUEST, TransactionEventType.CHARGE_REQUEST):
            continue
        kind = AUTHORIZATION if event.type == TransactionEventType.AUTHORIZATION_REQUEST else CHARGE
        settled = any(e.psp_reference == event.psp_reference and e.type in (f"{kind.lower()}_success",
                                                                             f"{kind.lower()}_failure")
                      for e in events)
        if event.psp_reference and not settled:
            pending = (event, kind)
    if pending is None:
        return None
    event, kind = pending
    charge = client_for(settings).get_charge(event.psp_reference)
    if charge.state is ChargeState.AUTHORIZED:
        new_type = TransactionEventType.AUTHORIZATION_SUCCESS if kind == AUTHORIZATION else None
    elif charge.state is ChargeState.CAPTURED:
        new_type = TransactionEventType.CHARGE_SUCCESS
    elif charge.state in (ChargeState.DECLINED, ChargeState.CANCELED):
        new_type = (TransactionEventType.AUTHORIZATION_FAILURE if kind == AUTHORIZATION
                    else TransactionEventType.CHARGE_FAILURE)
    else:
        return None
    if new_type is None:
        return None
    with allow_writer():
        previous = (item.authorized_value, item.charged_value, item.refunded_value)
        TransactionEvent.objects.create(
            transaction=item, type=new_type, amount_value=event.amount_value, currency=item.currency,
            psp_reference=charge.charge_id, include_in_calculations=True, app=item.app,
            app_identifier=item.app_identifier,
            message=f"Amazon Pay: charge {charge.charge_id} is {charge.state.value}"
                    + (f" ({charge.status.reason_code})" if charge.status.reason_code else ""))
        recalculate_transaction_amounts(item, save=False)
        if new_type == TransactionEventType.AUTHORIZATION_SUCCESS:
            item.available_actions = ["charge", "cancel"]
        elif new_type == TransactionEventType.CHARGE_SUCCESS:
            item.available_actions = ["refund"]
        else:
            item.available_actions = []
        item.save(update_fields=["authorized_value", "charged_value", "refunded_value", "canceled_value",
                                 "authorize_pending_value", "charge_pending_value", "refund_pending_value",
                                 "cancel_pending_value", "available_actions", "modified_at"])
        if new_type == TransactionEventType.CHARGE_SUCCESS:
            captures = _state(item).get("captures", [])
            if not any(c.get("chargeId") == charge.charge_id for c in captures):
                captures.append({"chargeId": charge.charge_id, "amount": str(event.amount_value),
                                 "state": "Captured"})
            else:
                for c in captures:
                    if c.get("chargeId") == charge.charge_id:
                        c["state"] = "Captured"
            _save_meta(item, private={"captures": captures})
        process_order_or_checkout_with_transaction(
            item, get_plugins_manager(allow_replica=False), None, item.app,
            previous_authorized_value=previous[0], previous_charged_value=previous[1],
            previous_refunded_value=previous[2])
    return new_type
