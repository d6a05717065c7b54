"""Money rules: parsing amounts exactly, and Amazon's over-capture/over-refund allowance.

Amounts are ``core.models.Price`` (Decimal), never floats. Requests may carry the amount
as a string (every SDK but .NET) or a JSON number (.NET); both are accepted, parsed
without passing through float.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from ..core.constants import MAX_CHARGE_AMOUNT
from ..core.models import Price, currency_exponent
from .errors import invalid, missing

_AMOUNT_TEXT = re.compile(r"^\d+(?:\.\d+)?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

#: "Up to 15% or 75 USD/GBP/EUR or 8,400 JPY, whichever is less" (notes §8).
ALLOWANCE_RATE = Decimal("0.15")
ALLOWANCE_CAP = {"JPY": Decimal("8400")}
DEFAULT_ALLOWANCE_CAP = Decimal("75")


def parse_price(value: Any, field: str) -> Price:
    """A ``{"amount", "currencyCode"}`` object, validated as Amazon does (400s)."""
    if value is None:
        raise missing(field)
    if not isinstance(value, Mapping):
        raise invalid(field, f"{field} must be an object with amount and currencyCode.")
    unknown = set(value) - {"amount", "currencyCode"}
    if unknown:
        raise invalid(field, f"{field} has unknown fields: {', '.join(sorted(unknown))}.")
    currency = value.get("currencyCode")
    if currency in (None, ""):
        raise missing(f"{field}.currencyCode")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise invalid(f"{field}.currencyCode")
    raw = value.get("amount")
    if raw in (None, ""):
        raise missing(f"{field}.amount")
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise invalid(f"{field}.amount")
    if isinstance(raw, str):
        if not _AMOUNT_TEXT.match(raw):
            raise invalid(f"{field}.amount", f"{field}.amount {raw!r} is not a decimal number.")
    try:
        amount = Decimal(str(raw))
    except InvalidOperation:
        raise invalid(f"{field}.amount") from None
    if not amount.is_finite() or amount <= 0:
        raise invalid(f"{field}.amount", f"{field}.amount must be greater than zero.")
    exponent = currency_exponent(currency)
    decimals = max(0, -amount.as_tuple().exponent)  # type: ignore[operator]
    if decimals > exponent:
        raise invalid(f"{field}.amount",
                      f"{field}.amount {raw} has more than {exponent} decimal places, the maximum for {currency}.")
    ceiling = MAX_CHARGE_AMOUNT.get(currency)
    if ceiling is not None and amount > Decimal(ceiling):
        raise invalid(f"{field}.amount", f"{field}.amount exceeds the maximum of {ceiling} {currency}.")
    return Price(amount, currency)


def price_json(price: "Price | None") -> "dict | None":
    return None if price is None else {"amount": price.formatted(), "currencyCode": price.currency_code}


def zero(currency: str) -> Price:
    return Price(Decimal(0), currency)


def total(prices: Iterable[Price], currency: str) -> Price:
    return Price(sum((p.amount for p in prices), Decimal(0)), currency)


def allowance(base: Price) -> Decimal:
    """How far a capture/refund may exceed ``base``."""
    cap = ALLOWANCE_CAP.get(base.currency_code, DEFAULT_ALLOWANCE_CAP)
    return min(base.amount * ALLOWANCE_RATE, cap)


def within_allowance(amount: Decimal, base: Price) -> bool:
    return amount <= base.amount + allowance(base)
