"""Typed, immutable views of Amazon Pay objects.

Each model keeps the raw JSON it came from (``raw``) so nothing Amazon sends is lost;
the typed fields are the ones this package acts on. camelCase <-> snake_case happens
here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping

from .constants import (
    ZERO_DECIMAL_CURRENCIES,
    ChargePermissionState,
    ChargeState,
    CheckoutSessionState,
    RefundState,
)

__all__ = [
    "Address",
    "Buyer",
    "Charge",
    "ChargePermission",
    "CheckoutSession",
    "DeliveryTracker",
    "Price",
    "Refund",
    "StatusDetails",
    "parse_timestamp",
]


def parse_timestamp(value: "str | None") -> "datetime | None":
    if not value:
        return None
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%S.%fZ"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def currency_exponent(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


@dataclass(frozen=True)
class Price:
    """A money amount. Always ``Decimal``; formatted with the currency's decimals."""

    amount: Decimal
    currency_code: str

    def __post_init__(self) -> None:
        try:
            amount = Decimal(str(self.amount))
        except (InvalidOperation, ValueError):
            raise ValueError(f"invalid amount {self.amount!r}") from None
        if not amount.is_finite():
            raise ValueError(f"invalid amount {self.amount!r}")
        currency = str(self.currency_code or "").upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ValueError(f"invalid currency code {self.currency_code!r}")
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "currency_code", currency)

    @classmethod
    def of(cls, amount: "Decimal | str | int", currency_code: str) -> "Price":
        return cls(Decimal(str(amount)), currency_code)

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency_code)

    def quantized(self) -> Decimal:
        return self.amount.quantize(Decimal(1).scaleb(-self.exponent), rounding=ROUND_HALF_UP)

    def is_exact(self) -> bool:
        """False when the amount has more decimals than the currency allows."""
        return self.quantized() == self.amount

    def formatted(self) -> str:
        return f"{self.quantized():f}"

    def to_api(self) -> dict:
        if not self.is_exact():
            # Rounding money silently is how totals drift; refuse instead.
            raise ValueError(f"{self.amount} has too many decimals for {self.currency_code}")
        return {"amount": self.formatted(), "currencyCode": self.currency_code}

    @classmethod
    def from_api(cls, data: "Mapping[str, Any] | None") -> "Price | None":
        if not isinstance(data, Mapping) or data.get("amount") in (None, ""):
            return None
        return cls(Decimal(str(data["amount"])), data.get("currencyCode") or "")

    def __str__(self) -> str:
        return f"{self.formatted()} {self.currency_code}"


@dataclass(frozen=True)
class StatusDetails:
    state: str
    reason_code: "str | None" = None
    reason_description: "str | None" = None
    last_updated: "datetime | None" = None
    #: ChargePermission carries a list of reasons instead of one code.
    reasons: tuple = ()

    @classmethod
    def from_api(cls, data: "Mapping[str, Any] | None") -> "StatusDetails":
        data = data or {}
        reasons = tuple(
            (r.get("reasonCode"), r.get("reasonDescription")) for r in (data.get("reasons") or []) if isinstance(r, Mapping)
        )
        return cls(
            state=data.get("state") or "",
            reason_code=data.get("reasonCode") or (reasons[0][0] if reasons else None),
            reason_description=data.get("reasonDescription") or (reasons[0][1] if reasons else None),
            last_updated=parse_timestamp(data.get("lastUpdatedTimestamp")),
            reasons=reasons,
        )


@dataclass(frozen=True)
class Address:
    name: "str | None" = None
    address_line1: "str | None" = None
    address_line2: "str | None" = None
    address_line3: "str | None" = None
    city: "str | None" = None
    county: "str | None" = None
    district: "str | None" = None
    state_or_region: "str | None" = None
    postal_code: "str | None" = None
    country_code: "str | None" = None
    phone_number: "str | None" = None

    _API = {
        "name": "name", "addressLine1": "address_line1", "addressLine2": "address_line2",
        "addressLine3": "address_line3", "city": "city", "county": "county", "district": "district",
        "stateOrRegion": "state_or_region", "postalCode": "postal_code", "countryCode": "country_code",
        "phoneNumber": "phone_number",
    }

    @classmethod
    def from_api(cls, data: "Mapping[str, Any] | None") -> "Address | None":
        if not data:
            return None
        return cls(**{attr: data.get(key) for key, attr in cls._API.items()})

    def to_api(self) -> dict:
        return {key: getattr(self, attr) for key, attr in self._API.items() if getattr(self, attr) is not None}

    def __repr__(self) -> str:  # personal data stays out of logs
        return f"Address(country_code={self.country_code!r}, ...)"


@dataclass(frozen=True)
class Buyer:
    buyer_id: "str | None" = None
    name: "str | None" = None
    email: "str | None" = None
    phone_number: "str | None" = None

    @classmethod
    def from_api(cls, data: "Mapping[str, Any] | None") -> "Buyer | None":
        if not data:
            return None
        return cls(data.get("buyerId"), data.get("name"), data.get("email"), data.get("phoneNumber"))

    def __repr__(self) -> str:
        return f"Buyer(buyer_id={self.buyer_id!r}, ...)"


class _Model:
    raw: Mapping[str, Any]

    def __repr__(self) -> str:
        # Only ids, states and amounts: never buyer data.
        keys = [k for k in self.__dataclass_fields__ if k.endswith("_id") or k in ("state", "amount")]
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in keys)
        return f"{type(self).__name__}({inner})"


@dataclass(frozen=True, repr=False)
class CheckoutSession(_Model):
    checkout_session_id: str
    status: StatusDetails
    charge_permission_id: "str | None" = None
    charge_id: "str | None" = None
    store_id: "str | None" = None
    payment_intent: "str | None" = None
    can_handle_pending_authorization: bool = False
    charge_amount: "Price | None" = None
    total_order_amount: "Price | None" = None
    amazon_pay_redirect_url: "str | None" = None
    checkout_review_return_url: "str | None" = None
    checkout_result_return_url: "str | None" = None
    merchant_reference_id: "str | None" = None
    buyer: "Buyer | None" = None
    shipping_address: "Address | None" = None
    billing_address: "Address | None" = None
    payment_descriptor: "str | None" = None
    constraints: tuple = ()
    creation_timestamp: "datetime | None" = None
    expiration_timestamp: "datetime | None" = None
    release_environment: "str | None" = None
    #: Set by Complete Checkout Session: Amazon answered 202, the authorization is pending.
    authorization_pending: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def state(self) -> CheckoutSessionState:
        return CheckoutSessionState(self.status.state)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "CheckoutSession":
        web = data.get("webCheckoutDetails") or {}
        payment = data.get("paymentDetails") or {}
        merchant = data.get("merchantMetadata") or {}
        preferences = [p for p in (data.get("paymentPreferences") or []) if isinstance(p, Mapping)]
        return cls(
            checkout_session_id=data.get("checkoutSessionId") or "",
            status=StatusDetails.from_api(data.get("statusDetails")),
            charge_permission_id=data.get("chargePermissionId"),
            charge_id=data.get("chargeId"),
            store_id=data.get("storeId"),
            payment_intent=payment.get("paymentIntent"),
            can_handle_pending_authorization=bool(payment.get("canHandlePendingAuthorization")),
            charge_amount=Price.from_api(payment.get("chargeAmount")),
            total_order_amount=Price.from_api(payment.get("totalOrderAmount")),
            amazon_pay_redirect_url=web.get("amazonPayRedirectUrl"),
            checkout_review_return_url=web.get("checkoutReviewReturnUrl"),
            checkout_result_return_url=web.get("checkoutResultReturnUrl"),
            merchant_reference_id=merchant.get("merchantReferenceId"),
            buyer=Buyer.from_api(data.get("buyer")),
            shipping_address=Address.from_api(data.get("shippingAddress")),
            billing_address=Address.from_api(data.get("billingAddress")),
            payment_descriptor=preferences[0].get("paymentDescriptor") if preferences else None,
            constraints=tuple(c.get("constraintId") for c in (data.get("constraints") or []) if isinstance(c, Mapping)),
            creation_timestamp=parse_timestamp(data.get("creationTimestamp")),
            expiration_timestamp=parse_timestamp(data.get("expirationTimestamp")),
            release_environment=data.get("releaseEnvironment"),
            raw=dict(data),
        )


@dataclass(frozen=True, repr=False)
class Charge(_Model):
    charge_id: str
    charge_permission_id: "str | None"
    status: StatusDetails
    charge_amount: "Price | None" = None
    captured_amount: "Price | None" = None
    refunded_amount: "Price | None" = None
    converted_amount: "Price | None" = None
    soft_descriptor: "str | None" = None
    creation_timestamp: "datetime | None" = None
    expiration_timestamp: "datetime | None" = None
    release_environment: "str | None" = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def state(self) -> ChargeState:
        return ChargeState(self.status.state)

    @property
    def amount(self) -> "Price | None":
        return self.charge_amount

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Charge":
        return cls(
            charge_id=data.get("chargeId") or "",
            charge_permission_id=data.get("chargePermissionId"),
            status=StatusDetails.from_api(data.get("statusDetails")),
            charge_amount=Price.from_api(data.get("chargeAmount")),
            captured_amount=Price.from_api(data.get("captureAmount")),
            refunded_amount=Price.from_api(data.get("refundedAmount")),
            converted_amount=Price.from_api(data.get("convertedAmount")),
            soft_descriptor=data.get("softDescriptor"),
            creation_timestamp=parse_timestamp(data.get("creationTimestamp")),
            expiration_timestamp=parse_timestamp(data.get("expirationTimestamp")),
            release_environment=data.get("releaseEnvironment"),
            raw=dict(data),
        )


@dataclass(frozen=True, repr=False)
class ChargePermission(_Model):
    charge_permission_id: str
    status: StatusDetails
    charge_permission_type: "str | None" = None
    buyer: "Buyer | None" = None
    shipping_address: "Address | None" = None
    billing_address: "Address | None" = None
    amount_limit: "Price | None" = None
    amount_balance: "Price | None" = None
    payment_descriptor: "str | None" = None
    merchant_reference_id: "str | None" = None
    creation_timestamp: "datetime | None" = None
    expiration_timestamp: "datetime | None" = None
    release_environment: "str | None" = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def state(self) -> ChargePermissionState:
        return ChargePermissionState(self.status.state)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "ChargePermission":
        limits = data.get("limits") or {}
        preferences = [p for p in (data.get("paymentPreferences") or []) if isinstance(p, Mapping)]
        return cls(
            charge_permission_id=data.get("chargePermissionId") or "",
            status=StatusDetails.from_api(data.get("statusDetails")),
            charge_permission_type=data.get("chargePermissionType"),
            buyer=Buyer.from_api(data.get("buyer")),
            shipping_address=Address.from_api(data.get("shippingAddress")),
            billing_address=Address.from_api(data.get("billingAddress")),
            amount_limit=Price.from_api(limits.get("amountLimit")),
            amount_balance=Price.from_api(limits.get("amountBalance")),
            payment_descriptor=preferences[0].get("paymentDescriptor") if preferences else None,
            merchant_reference_id=(data.get("merchantMetadata") or {}).get("merchantReferenceId"),
            creation_timestamp=parse_timestamp(data.get("creationTimestamp")),
            expiration_timestamp=parse_timestamp(data.get("expirationTimestamp")),
            release_environment=data.get("releaseEnvironment"),
            raw=dict(data),
        )


@dataclass(frozen=True, repr=False)
class Refund(_Model):
    refund_id: str
    charge_id: "str | None"
    status: StatusDetails
    refund_amount: "Price | None" = None
    soft_descriptor: "str | None" = None
    creation_timestamp: "datetime | None" = None
    release_environment: "str | None" = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def state(self) -> RefundState:
        return RefundState(self.status.state)

    @property
    def amount(self) -> "Price | None":
        return self.refund_amount

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "Refund":
        return cls(
            refund_id=data.get("refundId") or "",
            charge_id=data.get("chargeId"),
            status=StatusDetails.from_api(data.get("statusDetails")),
            refund_amount=Price.from_api(data.get("refundAmount")),
            soft_descriptor=data.get("softDescriptor"),
            creation_timestamp=parse_timestamp(data.get("creationTimestamp")),
            release_environment=data.get("releaseEnvironment"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class DeliveryTracker:
    charge_permission_id: str
    tracking_number: str
    carrier_code: str
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_api(self) -> dict:
        return {
            "chargePermissionId": self.charge_permission_id,
            "deliveryDetails": [{"trackingNumber": self.tracking_number, "carrierCode": self.carrier_code}],
        }

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "DeliveryTracker":
        details = next((d for d in (data.get("deliveryDetails") or []) if isinstance(d, Mapping)), {})
        return cls(
            charge_permission_id=data.get("chargePermissionId") or "",
            tracking_number=details.get("trackingNumber") or "",
            carrier_code=details.get("carrierCode") or "",
            raw=dict(data),
        )
