"""Which Amazon Delivery Tracker ``carrierCode`` a shipment has (Saleor-free).

First match wins (see :func:`choose_carrier`):

1. an explicit code in the fulfillment's metadata (``amazonpay.carrierCode``),
2. the channel's mapping from shipping method name or id to a code,
3. detection from the tracking number's format, with check digits where the carrier has
   them and the destination country breaking ties between look-alike formats.

Pure Python (no Saleor imports). The codes are Amazon's (its published carrier list);
the table below is our own curated subset, the carriers whose formats we can detect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

CARRIER_CODE_RE = re.compile(r"^[A-Z0-9_]{2,50}$")

#: Carrier codes this module can produce, with the carrier's name (for notes and docs).
KNOWN_CARRIERS: dict[str, str] = {
    "UPS": "UPS",
    "USPS": "USPS",
    "FEDEX": "FedEx",
    "DHL": "DHL Express",
    "DHL_DE": "Deutsche Post DHL (Paket)",
    "DEUTSCH_POST": "Deutsche Post Mail",
    # Royal Mail is absent from the carrier list snapshot we checked; Amazon's docs use
    # ROYAL_MAIL in examples. Merchants can override with the mapping if Amazon objects.
    "ROYAL_MAIL": "Royal Mail",
    "PARCEL_FORCE": "Parcelforce",
    "JAPAN_POST": "Japan Post",
    "TAQBIN_JP": "Yamato Transport (TA-Q-BIN)",
    "SAGAWA": "Sagawa Express",
    "CANADA_POST": "Canada Post",
    "AUSTRALIA_POST": "Australia Post",
    "LA_POSTE_COLISSIMO": "La Poste / Colissimo",
    "POSTE_ITALIANE": "Poste Italiane",
    "SPAIN_CORREOS_ES": "Correos de España",
    "SWISS_POST": "Swiss Post",
    "AUSTRIAN_POST_REGISTERED": "Austrian Post",
}

#: UPU S10 international items (``RR123456785DE``): issuing country -> postal carrier.
S10_POSTS = {
    "US": "USPS", "GB": "ROYAL_MAIL", "DE": "DEUTSCH_POST", "JP": "JAPAN_POST", "CA": "CANADA_POST",
    "AU": "AUSTRALIA_POST", "FR": "LA_POSTE_COLISSIMO", "IT": "POSTE_ITALIANE", "ES": "SPAIN_CORREOS_ES",
    "CH": "SWISS_POST", "AT": "AUSTRIAN_POST_REGISTERED",
}


def normalize_tracking_number(value: str) -> str:
    return re.sub(r"[\s\-]", "", value or "").upper()


def s10_valid(number: str) -> bool:
    """UPU S10: 2 letters, 8 digits, check digit (weights 8 6 4 2 3 5 9 7), 2-letter country."""
    match = re.fullmatch(r"[A-Z]{2}(\d{8})(\d)[A-Z]{2}", number)
    if not match:
        return False
    total = sum(int(d) * w for d, w in zip(match[1], (8, 6, 4, 2, 3, 5, 9, 7)))
    check = 11 - total % 11
    check = {10: 0, 11: 5}.get(check, check)
    return check == int(match[2])


def ups_valid(number: str) -> bool:
    """1Z + 6 shipper chars + 2 service digits + 7 package digits + check digit."""
    if not re.fullmatch(r"1Z[0-9A-Z]{16}", number):
        return False
    body = number[2:-1]
    total = 0
    for index, char in enumerate(body):
        value = int(char) if char.isdigit() else (ord(char) - 63) % 10
        total += value * (2 if index % 2 else 1)
    return (10 - total % 10) % 10 == int(number[-1]) if number[-1].isdigit() else False


def fedex12_valid(number: str) -> bool:
    """FedEx Express 12 digits: weights 1,3,7 from the right over 11 digits, mod 11, mod 10."""
    if not re.fullmatch(r"\d{12}", number):
        return False
    weights = (1, 3, 7)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(number[:11])))
    return total % 11 % 10 == int(number[11])


def mod7_valid(number: str) -> bool:
    """Check digit = the other digits as a number mod 7 (DHL Express waybills, Yamato)."""
    return number.isdigit() and len(number) > 1 and int(number[:-1]) % 7 == int(number[-1])


def mod10_31_valid(digits: str) -> bool:
    """GS1-style mod 10: from the right, data digits weigh 3, 1, 3, ...; the last digit checks."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == int(digits[-1])


def usps_impb(number: str) -> bool:
    """USPS Intelligent Mail package barcode: 9[1-5] + 18-20 digits, check digit mod 10.

    The scanned form may start with the ``420`` + ZIP (or ZIP+4) routing prefix, which the
    check digit does not cover.
    """
    match = re.fullmatch(r"(?:420\d{5}(?:\d{4})?)?(9[1-5]\d{18,20})", number)
    return bool(match) and mod10_31_valid(match[1])


@dataclass(frozen=True)
class Rule:
    carrier_code: str
    matches: Callable[[str], bool]
    #: Destination countries where this rule applies; None = everywhere.
    countries: "frozenset[str] | None" = None


RULES: tuple[Rule, ...] = (
    Rule("UPS", ups_valid),
    Rule("USPS", usps_impb),
    Rule("FEDEX", lambda n: bool(re.fullmatch(r"96\d{20}|\d{15}", n)), frozenset({"US", "CA", "MX", "PR"})),
    Rule("FEDEX", fedex12_valid, frozenset({"US", "CA", "MX", "PR"})),
    Rule("DHL", lambda n: len(n) == 10 and mod7_valid(n)),
    Rule("DHL", lambda n: bool(re.fullmatch(r"JJD\d{10,20}", n))),
    Rule("DHL_DE", lambda n: bool(re.fullmatch(r"\d{12}|\d{20}|00340\d{15}", n)), frozenset({"DE", "AT"})),
    Rule("TAQBIN_JP", lambda n: len(n) == 12 and mod7_valid(n), frozenset({"JP"})),
    Rule("JAPAN_POST", lambda n: bool(re.fullmatch(r"\d{11}", n)), frozenset({"JP"})),
    Rule("PARCEL_FORCE", lambda n: bool(re.fullmatch(r"[A-Z]{2}\d{7}", n)), frozenset({"GB"})),
    Rule("ROYAL_MAIL", lambda n: bool(re.fullmatch(r"[A-Z]{2}\d{9}GB", n)) and s10_valid(n), frozenset({"GB"})),
)


def detect_carrier(tracking_number: str, country: "str | None" = None) -> "str | None":
    """The carrier code for a tracking number's format, or None when unknown or ambiguous."""
    number = normalize_tracking_number(tracking_number)
    if not number:
        return None
    country = (country or "").upper() or None
    if s10_valid(number):
        return S10_POSTS.get(number[-2:])
    found = []
    for rule in RULES:
        if rule.countries is not None and (country is None or country not in rule.countries):
            continue
        if rule.matches(number) and rule.carrier_code not in found:
            found.append(rule.carrier_code)
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class CarrierChoice:
    carrier_code: "str | None"
    source: str  # "metadata", "mapping", "detected" or "none"
    detail: str = ""


def choose_carrier(*, tracking_number: str, fulfillment_metadata: "Mapping[str, str] | None",
                   shipping_method_name: "str | None", shipping_method_id: "str | None",
                   mapping: Mapping[str, str], country: "str | None",
                   metadata_key: str = "amazonpay.carrierCode") -> CarrierChoice:
    explicit = ((fulfillment_metadata or {}).get(metadata_key) or "").strip().upper()
    if explicit:
        if not CARRIER_CODE_RE.match(explicit):
            return CarrierChoice(None, "none", f"fulfillment metadata {metadata_key}={explicit!r} is not a carrier code")
        return CarrierChoice(explicit, "metadata")
    for key in (shipping_method_id, shipping_method_name):
        if key and key.strip().lower() in mapping:
            return CarrierChoice(mapping[key.strip().lower()], "mapping", key)
    detected = detect_carrier(tracking_number, country)
    if detected:
        return CarrierChoice(detected, "detected")
    return CarrierChoice(None, "none", "the tracking number's format matches no carrier we can detect")
