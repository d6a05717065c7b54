"""Reads and writes of Saleor's own records (payments, checkouts, orders).

Kept apart from the payment flow so ``gateway.py`` reads as the Amazon Pay protocol and
this module as Saleor bookkeeping.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from .consts import PRIVATE_META_KEY


def load_payment(payment_id: int):
    from saleor.payment.models import Payment

    return Payment.objects.get(pk=payment_id)


def private_state(payment) -> dict:
    raw = (payment.private_metadata or {}).get(PRIVATE_META_KEY)
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
    from saleor.checkout.models import Checkout

    checkout = Checkout.objects.filter(token=checkout_token).only("token", "total_gross_amount", "currency").first()
    if checkout is None:
        return None
    total = checkout.total_gross_amount - checkout.get_total_gift_cards_balance().amount
    return max(total, Decimal(0)), checkout.currency


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
