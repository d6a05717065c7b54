"""Test buyers' choices: payment instruments and addresses on the hosted buyer pages.

The instruments mirror Amazon's sandbox cards (notes §5 "Simulated cards"): what the
buyer picks decides what Complete Checkout Session and later charges do, so a browser
test can reach every outcome without simulation headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    code: str
    label: str
    #: What the buyer's return through amazonPayRedirectUrl does:
    #: "approve", "hard_decline", "soft_decline" (re-pick) or "buyer_cancel".
    on_confirm: str = "approve"
    #: With canHandlePendingAuthorization: the authorization stays AuthorizationInitiated and
    #: then resolves to this state ("Authorized" or "Declined").
    pending_outcome: "str | None" = None
    refunds_declined: bool = False
    brand: str = "Visa"

    @property
    def payment_descriptor(self) -> str:
        return f"{self.brand} ****{self.code}"


INSTRUMENTS: "dict[str, Instrument]" = {
    i.code: i
    for i in (
        Instrument("1111", "Visa ending 1111 (succeeds)"),
        Instrument("3434", "Visa ending 3434 (hard decline)", on_confirm="hard_decline"),
        Instrument("0002", "Visa ending 0002 (soft decline: pick another instrument)", on_confirm="soft_decline"),
        Instrument("0701", "Visa ending 0701 (authorization pending, authorized after 30 s)",
                   pending_outcome="Authorized"),
        Instrument("4354", "Visa ending 4354 (authorization pending, declined after 30 s)",
                   pending_outcome="Declined"),
        Instrument("3064", "Visa ending 3064 (buyer cancels)", on_confirm="buyer_cancel"),
        Instrument("0010", "Visa ending 0010 (payments succeed, refunds are declined)", refunds_declined=True),
    )
}
DEFAULT_INSTRUMENT = "1111"


def find_instrument(value: "str | None") -> Instrument:
    """Accept ``1111``, ``visa-1111`` or ``Visa ending 1111``: the last four digits decide."""
    if not value:
        return INSTRUMENTS[DEFAULT_INSTRUMENT]
    digits = re.findall(r"\d{4}", str(value))
    if digits and digits[-1] in INSTRUMENTS:
        return INSTRUMENTS[digits[-1]]
    raise KeyError(f"unknown test instrument {value!r}; use one of {', '.join(INSTRUMENTS)}")


ADDRESSES: "dict[str, dict]" = {
    "US": {
        "name": "Susie Smith", "addressLine1": "10 Ditka Ave", "addressLine2": "Suite 2500", "addressLine3": None,
        "city": "Chicago", "county": None, "district": None, "stateOrRegion": "IL", "postalCode": "60602",
        "countryCode": "US", "phoneNumber": "800-000-0000",
    },
    "DE": {
        "name": "Max Mustermann", "addressLine1": "Marienplatz 1", "addressLine2": None, "addressLine3": None,
        "city": "München", "county": None, "district": None, "stateOrRegion": "BY", "postalCode": "80331",
        "countryCode": "DE", "phoneNumber": "+49 89 1234567",
    },
    "UK": {
        "name": "Jane Doe", "addressLine1": "221B Baker Street", "addressLine2": None, "addressLine3": None,
        "city": "London", "county": None, "district": None, "stateOrRegion": None, "postalCode": "NW1 6XE",
        "countryCode": "GB", "phoneNumber": "+44 20 7946 0000",
    },
    "JP": {
        "name": "山田 太郎", "addressLine1": "丸の内1-1-1", "addressLine2": None, "addressLine3": None,
        "city": "千代田区", "county": None, "district": None, "stateOrRegion": "東京都", "postalCode": "100-0005",
        "countryCode": "JP", "phoneNumber": "03-0000-0000",
    },
}
DEFAULT_ADDRESS = {"na": "US", "eu": "DE", "jp": "JP"}


def find_address(key: "str | None", region: str = "na") -> "tuple[str, dict]":
    key = (key or DEFAULT_ADDRESS.get(region, "US")).upper()
    if key == "GB":
        key = "UK"
    if key not in ADDRESSES:
        raise KeyError(f"unknown test address {key!r}; use one of {', '.join(ADDRESSES)}")
    return key, dict(ADDRESSES[key])


DEFAULT_BUYER_NAME = "Test Buyer"
DEFAULT_BUYER_EMAIL = "buyer@example.com"
