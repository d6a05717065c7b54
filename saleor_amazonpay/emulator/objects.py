"""The stored Amazon Pay objects and their JSON shapes.

Objects are mutable records owned by the :class:`~.store.Store` (which applies every
transition under its lock); ``to_api`` renders the full response shape Amazon sends,
nulls included, so clients meet the same fields they will meet in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.constants import (
    ChargePermissionState,
    ChargeState,
    CheckoutSessionState,
    Environment,
    RefundState,
)
from ..core.models import Price
from .clock import compact
from .fixtures import Instrument
from .money import price_json, zero


def release_environment(env: Environment) -> str:
    return "Sandbox" if env is Environment.SANDBOX else "Live"


@dataclass
class Status:
    state: str
    updated: datetime
    reason_code: "str | None" = None
    reason_description: "str | None" = None

    def to_api(self) -> dict:
        return {
            "state": self.state,
            "reasonCode": self.reason_code,
            "reasonDescription": self.reason_description,
            "lastUpdatedTimestamp": compact(self.updated),
        }


@dataclass
class Pending:
    """A transition Amazon completes asynchronously, applied once the clock reaches ``due``."""

    due: datetime
    state: str
    reason_code: "str | None" = None
    reason_description: "str | None" = None


@dataclass
class Owner:
    """Objects are visible only to the merchant (and environment) that created them."""

    merchant_id: str
    environment: Environment


@dataclass
class BuyerInfo:
    buyer_id: str
    name: str
    email: str
    phone_number: "str | None" = None

    def to_api(self, scopes: "list[str] | None" = None) -> dict:
        def allowed(scope: str) -> bool:
            return scopes is None or scope in scopes

        return {
            "buyerId": self.buyer_id,
            "name": self.name if allowed("name") else None,
            "email": self.email if allowed("email") else None,
            "phoneNumber": self.phone_number if allowed("phoneNumber") else None,
            "primeMembershipTypes": None,
        }


@dataclass
class PaymentDetails:
    payment_intent: "str | None" = None
    can_handle_pending_authorization: bool = False
    charge_amount: "Price | None" = None
    total_order_amount: "Price | None" = None
    soft_descriptor: "str | None" = None
    presentment_currency: "str | None" = None
    allow_overcharge: "bool | None" = None
    extend_expiration: "bool | None" = None

    def to_api(self) -> dict:
        return {
            "paymentIntent": self.payment_intent,
            "canHandlePendingAuthorization": self.can_handle_pending_authorization,
            "chargeAmount": price_json(self.charge_amount),
            "totalOrderAmount": price_json(self.total_order_amount),
            "softDescriptor": self.soft_descriptor,
            "presentmentCurrency": self.presentment_currency,
            "allowOvercharge": self.allow_overcharge,
            "extendExpiration": self.extend_expiration,
        }


def _merchant_metadata(data: dict) -> dict:
    return {
        "merchantReferenceId": data.get("merchantReferenceId"),
        "merchantStoreName": data.get("merchantStoreName"),
        "noteToBuyer": data.get("noteToBuyer"),
        "customInformation": data.get("customInformation"),
    }


@dataclass
class CheckoutSession:
    checkout_session_id: str
    owner: Owner
    store_id: str
    created: datetime
    expires: datetime
    status: Status
    checkout_review_return_url: "str | None" = None
    checkout_result_return_url: "str | None" = None
    checkout_cancel_url: "str | None" = None
    checkout_mode: "str | None" = None
    product_type: str = "PayAndShip"
    charge_permission_type: str = "OneTime"
    recurring_metadata: "dict | None" = None
    payment: PaymentDetails = field(default_factory=PaymentDetails)
    merchant_metadata: dict = field(default_factory=dict)
    platform_id: "str | None" = None
    provider_metadata: "dict | None" = None
    delivery_specifications: "dict | None" = None
    address_details: "dict | None" = None
    scopes: "list[str] | None" = None
    #: Set when the buyer signs in and approves on the hosted page.
    buyer: "BuyerInfo | None" = None
    shipping_address: "dict | None" = None
    billing_address: "dict | None" = None
    instrument: "Instrument | None" = None
    #: True once the buyer came back through amazonPayRedirectUrl (Complete needs it).
    buyer_confirmed: bool = False
    charge_permission_id: "str | None" = None
    charge_id: "str | None" = None
    #: "api" (Create Checkout Session) or "button" (signed button payload).
    source: str = "api"

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def is_open(self) -> bool:
        return self.status.state == CheckoutSessionState.OPEN.value

    def constraints(self) -> "list[dict]":
        """Why amazonPayRedirectUrl is not available yet (Amazon's ``constraints``)."""
        if not self.is_open:
            return []
        missing = []
        if self.buyer is None:
            missing.append(("BuyerNotAssociated", "The buyer has not signed in and approved the checkout yet."))
        if not self.checkout_result_return_url:
            missing.append(("CheckoutResultReturnUrlNotSet", "checkoutResultReturnUrl is not set."))
        if self.payment.charge_amount is None:
            missing.append(("ChargeAmountNotSet", "paymentDetails.chargeAmount is not set."))
        if not self.payment.payment_intent:
            missing.append(("PaymentIntentNotSet", "paymentDetails.paymentIntent is not set."))
        return [{"constraintId": cid, "description": text} for cid, text in missing]

    @property
    def ready_for_redirect(self) -> bool:
        return self.is_open and not self.constraints()

    def to_api(self, base_url: str) -> dict:
        redirect = f"{base_url}/_emulator/buyer/confirm/{self.checkout_session_id}" if self.ready_for_redirect else None
        # Amazon stops returning buyer data from a Completed session: it moves to the
        # Charge Permission (php README: "must be obtained from getChargePermission()").
        redact = self.state == CheckoutSessionState.COMPLETED.value
        descriptor = self.instrument.payment_descriptor if self.instrument else None
        return {
            "checkoutSessionId": self.checkout_session_id,
            "webCheckoutDetails": {
                "checkoutReviewReturnUrl": self.checkout_review_return_url,
                "checkoutResultReturnUrl": self.checkout_result_return_url,
                "checkoutCancelUrl": self.checkout_cancel_url,
                "amazonPayRedirectUrl": redirect,
                "checkoutMode": self.checkout_mode,
            },
            "productType": self.product_type,
            "paymentDetails": self.payment.to_api(),
            "chargePermissionType": self.charge_permission_type,
            "recurringMetadata": self.recurring_metadata,
            "merchantMetadata": _merchant_metadata(self.merchant_metadata),
            "supplementaryData": None,
            "buyer": None if redact or self.buyer is None else self.buyer.to_api(self.scopes),
            "billingAddress": None if redact or self._hide("billingAddress") else self.billing_address,
            "paymentPreferences": [None if redact or descriptor is None else {
                "billingAddress": None if self._hide("billingAddress") else self.billing_address,
                "paymentDescriptor": descriptor,
            }],
            "statusDetails": self.status.to_api(),
            "shippingAddress": None if redact else self.shipping_address,
            "platformId": self.platform_id,
            "chargePermissionId": self.charge_permission_id,
            "chargeId": self.charge_id,
            "constraints": self.constraints(),
            "creationTimestamp": compact(self.created),
            "expirationTimestamp": compact(self.expires),
            "storeId": self.store_id,
            "deliverySpecifications": self.delivery_specifications,
            "providerMetadata": self.provider_metadata,
            "checkoutButtonText": None,
            "releaseEnvironment": release_environment(self.owner.environment),
        }

    def _hide(self, scope: str) -> bool:
        return self.scopes is not None and scope not in self.scopes


@dataclass
class ChargePermissionStatus:
    state: str
    updated: datetime
    reasons: "list[tuple[str, str]]" = field(default_factory=list)

    def to_api(self) -> dict:
        return {
            "state": self.state,
            "reasons": [{"reasonCode": c, "reasonDescription": d} for c, d in self.reasons] or None,
            "lastUpdatedTimestamp": compact(self.updated),
        }


@dataclass
class ChargePermission:
    charge_permission_id: str
    owner: Owner
    store_id: str
    checkout_session_id: "str | None"
    created: datetime
    expires: datetime
    status: ChargePermissionStatus
    charge_permission_type: str
    amount_limit: Price
    buyer: "BuyerInfo | None" = None
    shipping_address: "dict | None" = None
    billing_address: "dict | None" = None
    instrument: "Instrument | None" = None
    merchant_metadata: dict = field(default_factory=dict)
    platform_id: "str | None" = None
    recurring_metadata: "dict | None" = None
    presentment_currency: "str | None" = None
    scopes: "list[str] | None" = None
    charge_ids: "list[str]" = field(default_factory=list)

    @property
    def state(self) -> str:
        return self.status.state

    def to_api(self, balance: Price) -> dict:
        descriptor = self.instrument.payment_descriptor if self.instrument else None
        return {
            "chargePermissionId": self.charge_permission_id,
            "chargePermissionReferenceId": None,
            "chargePermissionType": self.charge_permission_type,
            "recurringMetadata": self.recurring_metadata,
            "buyer": self.buyer.to_api(self.scopes) if self.buyer else None,
            "releaseEnvironment": release_environment(self.owner.environment),
            "shippingAddress": self.shipping_address,
            "billingAddress": self.billing_address,
            "paymentPreferences": [{"paymentDescriptor": descriptor} if descriptor else None],
            "statusDetails": self.status.to_api(),
            "creationTimestamp": compact(self.created),
            "expirationTimestamp": compact(self.expires),
            "merchantMetadata": _merchant_metadata(self.merchant_metadata),
            "platformId": self.platform_id,
            "limits": {"amountLimit": price_json(self.amount_limit), "amountBalance": price_json(balance)},
            "presentmentCurrency": self.presentment_currency or self.amount_limit.currency_code,
            "storeId": self.store_id,
        }


@dataclass
class Charge:
    charge_id: str
    charge_permission_id: str
    owner: Owner
    created: datetime
    expires: datetime
    status: Status
    charge_amount: Price
    capture_now: bool = False
    can_handle_pending_authorization: bool = False
    capture_amount: "Price | None" = None
    refunded_amount: "Price | None" = None
    soft_descriptor: "str | None" = None
    merchant_metadata: "dict | None" = None
    provider_metadata: "dict | None" = None
    pending: "Pending | None" = None

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def currency(self) -> str:
        return self.charge_amount.currency_code

    def to_api(self) -> dict:
        captured = self.state == ChargeState.CAPTURED.value
        return {
            "chargeId": self.charge_id,
            "chargePermissionId": self.charge_permission_id,
            "chargeAmount": price_json(self.charge_amount),
            "captureAmount": price_json(self.capture_amount),
            "refundedAmount": price_json(self.refunded_amount or zero(self.currency)) if captured else None,
            "convertedAmount": price_json(self.capture_amount) if captured else None,
            "conversionRate": "1.0" if captured else None,
            "softDescriptor": self.soft_descriptor,
            "merchantMetadata": _merchant_metadata(self.merchant_metadata) if self.merchant_metadata else None,
            "providerMetadata": self.provider_metadata,
            "statusDetails": self.status.to_api(),
            "creationTimestamp": compact(self.created),
            "expirationTimestamp": compact(self.expires),
            "releaseEnvironment": release_environment(self.owner.environment),
            "channelType": None,
        }


@dataclass
class Refund:
    refund_id: str
    charge_id: str
    charge_permission_id: str
    owner: Owner
    created: datetime
    status: Status
    refund_amount: Price
    soft_descriptor: "str | None" = None
    pending: "Pending | None" = None

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def counts_against_charge(self) -> bool:
        return self.state in (RefundState.REFUND_INITIATED.value, RefundState.REFUNDED.value)

    def to_api(self) -> dict:
        return {
            "refundId": self.refund_id,
            "chargeId": self.charge_id,
            "creationTimestamp": compact(self.created),
            "refundAmount": price_json(self.refund_amount),
            "statusDetails": self.status.to_api(),
            "softDescriptor": self.soft_descriptor,
            "releaseEnvironment": release_environment(self.owner.environment),
        }


@dataclass
class DeliveryTracker:
    owner: Owner
    created: datetime
    tracking_number: str
    carrier_code: str
    charge_permission_id: "str | None" = None
    amazon_order_reference_id: "str | None" = None

    def to_api(self) -> dict:
        data: dict[str, Any] = {}
        if self.amazon_order_reference_id:
            data["amazonOrderReferenceId"] = self.amazon_order_reference_id
        if self.charge_permission_id:
            data["chargePermissionId"] = self.charge_permission_id
        data["deliveryDetails"] = [{"trackingNumber": self.tracking_number, "carrierCode": self.carrier_code}]
        return data


@dataclass(frozen=True)
class Event:
    """A state change a merchant is told about by IPN."""

    object_type: str  # CHARGE | REFUND | CHARGE_PERMISSION
    object_id: str
    charge_permission_id: str
    owner: Owner
    state: str


__all__ = [
    "BuyerInfo", "Charge", "ChargePermission", "ChargePermissionState", "ChargePermissionStatus", "CheckoutSession",
    "DeliveryTracker", "Event", "Owner", "PaymentDetails", "Pending", "Refund", "Status", "release_environment",
]
