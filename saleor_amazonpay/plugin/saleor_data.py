"""Reads and writes of Saleor's own records (payments, checkouts, orders).

Kept apart from the payment flow so ``gateway.py`` reads as the Amazon Pay protocol and
this module as Saleor bookkeeping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .consts import PRIVATE_META_KEY


def load_payment(payment_id: int):
    from saleor.payment.models import Payment

    return Payment.objects.get(pk=payment_id)


def private_state(payment) -> dict:
    return private_json(payment, PRIVATE_META_KEY)


def private_json(instance, key: str) -> dict:
    """A JSON object stored under ``key`` in a model's private metadata ({} when absent or invalid)."""
    raw = (instance.private_metadata or {}).get(key)
    if not raw:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def save_payment_meta(payment, *, public: "dict[str, str] | None" = None, private: "dict | None" = None) -> None:
    """Merge into the payment's metadata (public ids) and private metadata (buyer data).

    Runs inside Saleor's locked payment transaction, so read-modify-write is safe.
    """
    fields = []
    if public:
        payment.store_value_in_metadata({k: v for k, v in public.items() if v})
        fields.append("metadata")
    if private is not None:
        state = private_state(payment)
        state.update(private)
        payment.store_value_in_private_metadata({PRIVATE_META_KEY: json.dumps(state, sort_keys=True, default=str)})
        fields.append("private_metadata")
    if fields:
        payment.save(update_fields=fields)


def server_checkout_total(checkout_token: "str | None") -> "tuple[Decimal, str] | None":
    """What Saleor itself says the buyer owes: the checkout total minus gift cards.

    ``checkoutComplete`` recalculates and stores the checkout's prices right before it
    processes the payment, so the stored total is current here. Never use a figure the
    storefront sent (``checkoutPaymentCreate(amount:)``) as the amount to charge.
    """
    if not checkout_token or checkout_token == "None":
        return None
    import datetime

    from django.db.models import OuterRef, Subquery, Sum

    from saleor.checkout.models import Checkout
    from saleor.giftcard.models import GiftCard

    # One query: the total and the balance of the active gift cards
    # (``Checkout.get_total_gift_cards_balance`` as a subquery).
    gift_cards = (GiftCard.objects.active(date=datetime.datetime.now(tz=datetime.UTC).date())
                  .filter(checkouts=OuterRef("pk")).order_by().values("checkouts")
                  .annotate(balance=Sum("current_balance_amount")).values("balance"))
    row = (Checkout.objects.filter(token=checkout_token).annotate(gift_cards_balance=Subquery(gift_cards))
           .values_list("total_gross_amount", "currency", "gift_cards_balance").first())
    if row is None:
        return None
    total_gross, currency, balance = row
    return max(total_gross - (balance or Decimal(0)), Decimal(0)), currency


def fresh_checkout_total(checkout) -> "tuple[Decimal, str]":
    """Full recalculation (used outside checkoutComplete, e.g. for a per-checkout button)."""
    from saleor.checkout.calculations import calculate_checkout_total_with_gift_cards
    from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines
    from saleor.plugins.manager import get_plugins_manager

    manager = get_plugins_manager(allow_replica=False)
    lines, _ = fetch_checkout_lines(checkout)
    info = fetch_checkout_info(checkout, lines, manager)
    total = calculate_checkout_total_with_gift_cards(manager, info, lines)
    return max(total.gross.amount, Decimal(0)), total.currency


def checkout_from_id(checkout_id: str):
    """A checkout by GraphQL global id or token; None when absent."""
    import uuid

    from saleor.checkout.models import Checkout

    token = checkout_id
    try:
        uuid.UUID(str(checkout_id))
    except ValueError:
        try:
            from graphql_relay import from_global_id

            kind, token = from_global_id(checkout_id)
            if kind != "Checkout":
                return None
            uuid.UUID(token)
        except Exception:
            return None
    return Checkout.objects.filter(token=token).select_related("shipping_address", "billing_address").first()


def address_to_saleor(address) -> "dict[str, Any] | None":
    """Amazon address -> the shape of Saleor's ``AddressInput`` (what a storefront sends)."""
    if address is None:
        return None
    first, _, last = (address.name or "").strip().rpartition(" ")
    if not first:
        first, last = last, ""
    street2 = " ".join(p for p in (address.address_line2, address.address_line3) if p)
    return {
        "firstName": first,
        "lastName": last,
        "streetAddress1": address.address_line1 or "",
        "streetAddress2": street2,
        "city": address.city or "",
        "cityArea": address.district or "",
        "postalCode": address.postal_code or "",
        "country": address.country_code or "",
        "countryArea": address.state_or_region or address.county or "",
        "phone": address.phone_number or "",
    }


def address_from_saleor(address) -> "dict[str, str] | None":
    """Saleor Address model -> Amazon ``addressDetails`` for the additional payment button."""
    if address is None:
        return None
    details = {
        "name": f"{address.first_name} {address.last_name}".strip(),
        "addressLine1": address.street_address_1,
        "addressLine2": address.street_address_2,
        "city": address.city,
        "districtOrCounty": address.city_area,
        "stateOrRegion": address.country_area,
        "postalCode": address.postal_code,
        "countryCode": str(address.country.code if hasattr(address.country, "code") else address.country),
        "phoneNumber": str(address.phone or ""),
    }
    return {k: v for k, v in details.items() if v}


# -- Transactions API (TransactionItem) -------------------------------------------------------


def amount_due(source_object, *, exclude_transaction_id: "int | None" = None,
               recalculate: bool = False) -> "tuple[Decimal, str]":
    """What is still owed on a checkout or order, by Saleor's own figures.

    The checkout total minus gift cards (:func:`server_checkout_total`, or a full
    recalculation with ``recalculate=True``), or the order total, minus what the *other*
    transactions of the checkout/order already cover (authorized or charged, plus pending),
    counted the way Saleor's ``transactionInitialize`` counts them. With no other transaction
    this is exactly the checkout total.
    """
    from saleor.checkout.models import Checkout

    if isinstance(source_object, Checkout):
        if recalculate:
            total, currency = fresh_checkout_total(source_object)
        else:
            total, currency = server_checkout_total(str(source_object.token)) or (
                source_object.total_gross_amount, source_object.currency)
    else:
        total, currency = source_object.total_gross_amount, source_object.currency
    covered = Decimal(0)
    for item in source_object.payment_transactions.all():
        if exclude_transaction_id is not None and item.pk == exclude_transaction_id:
            continue
        covered += max(item.authorized_value, item.charged_value)
        covered += item.authorize_pending_value + item.charge_pending_value
    return max(Decimal(total) - covered, Decimal(0)), currency


@dataclass(frozen=True)
class AmazonIds:
    """Amazon's ids of one Amazon Pay payment of an order."""

    charge_permission_id: str
    charge_id: "str | None"          # None for the Confirm intent until a charge is made
    checkout_session_id: "str | None"
    source: str                      # "payment" (legacy Payment API) or "transaction" (Transactions API)
    object: Any                      # that Payment or TransactionItem


def amazon_ids_for_order(order) -> "AmazonIds | None":
    """chargePermissionId / chargeId of an order paid with Amazon Pay through either flow.

    * Legacy flow (``checkoutComplete``): the active ``Payment`` with gateway
      ``saleor.payments.amazonpay``; ids in ``Payment.metadata``.
    * Transactions API: the ``TransactionItem`` with ``app_identifier``
      ``saleor.payments.amazonpay``; ids in ``TransactionItem.metadata``.

    Both use the same metadata keys (``checkoutSessionId``, ``chargePermissionId``,
    ``chargeId``). Only payments that reached Amazon's Complete step (they have a
    chargePermissionId) count; the newest wins. Returns None when the order has none.
    """
    from .consts import META_CHARGE_ID, META_CHARGE_PERMISSION_ID, META_CHECKOUT_SESSION_ID, PLUGIN_ID

    candidates = []
    for payment in order.payments.filter(gateway=PLUGIN_ID, is_active=True):
        candidates.append((payment.created_at, "payment", payment))
    for item in order.payment_transactions.filter(app_identifier=PLUGIN_ID):
        candidates.append((item.created_at, "transaction", item))
    for _, source, obj in sorted(candidates, key=lambda c: c[0], reverse=True):
        meta = obj.metadata or {}
        if not meta.get(META_CHARGE_PERMISSION_ID):
            continue
        return AmazonIds(charge_permission_id=meta[META_CHARGE_PERMISSION_ID],
                         charge_id=meta.get(META_CHARGE_ID) or None,
                         checkout_session_id=meta.get(META_CHECKOUT_SESSION_ID) or None,
                         source=source, object=obj)
    return None
