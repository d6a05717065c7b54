"""Request body validation: shape and format only (400s), before any state is touched.

Business rules that need stored state (currencies of a session, balances, states) live
in store.py. Unknown top-level fields are refused with ``UnrecognizedField`` so a typo
such as ``chargeamount`` fails here instead of being silently ignored in production.
"""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import urlsplit

from ..core.constants import PaymentIntent
from .errors import RequestValidationError, invalid, missing
from .money import parse_price

_URL_MAX = 1024
CHARGE_PERMISSION_TYPES = ("OneTime", "Recurring", "PaymentMethodOnFile")
PRODUCT_TYPES = ("PayAndShip", "PayOnly", "SignIn")
SCOPES = ("name", "email", "phoneNumber", "billingAddress", "postalCode", "shippingAddress", "primeStatus")
_CARRIER_RE = re.compile(r"^[A-Z0-9_]{2,50}$")
_ID_RE = re.compile(r"^[SP]\d{2}-\d{7}-\d{7}$")


def body_object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise RequestValidationError(400, "InvalidRequestFormat", "The request body must be a JSON object.")
    return body


def reject_unknown(data: Mapping[str, Any], allowed: "tuple[str, ...] | set[str]", where: str = "") -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        prefix = f"{where}." if where else ""
        raise RequestValidationError(400, "UnrecognizedField",
                                     f"Unrecognized field(s): {', '.join(prefix + u for u in unknown)}.")


def sub_object(data: Mapping[str, Any], key: str, where: str = "") -> "dict | None":
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"{where}{key}", f"{where}{key} must be an object.")
    return value


def string(data: Mapping[str, Any], key: str, *, where: str = "", max_length: int = 255,
           required: bool = False) -> "str | None":
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise missing(f"{where}{key}")
        return None if value is None else ""
    if not isinstance(value, str):
        raise invalid(f"{where}{key}", f"{where}{key} must be a string.")
    if len(value) > max_length:
        raise invalid(f"{where}{key}", f"{where}{key} is longer than {max_length} characters.")
    return value


def boolean(data: Mapping[str, Any], key: str, *, where: str = "") -> "bool | None":
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid(f"{where}{key}", f"{where}{key} must be true or false.")
    return value


def url(data: Mapping[str, Any], key: str, *, where: str = "", required: bool = False) -> "str | None":
    value = string(data, key, where=where, max_length=_URL_MAX, required=required)
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid(f"{where}{key}", f"{where}{key} must be an absolute http(s) URL.")
    return value


# -- Checkout Session ---------------------------------------------------------------------

_WEB_FIELDS = ("checkoutReviewReturnUrl", "checkoutResultReturnUrl", "checkoutCancelUrl", "checkoutMode")
_PAYMENT_FIELDS = {
    "paymentIntent": "payment_intent",
    "canHandlePendingAuthorization": "can_handle_pending_authorization",
    "chargeAmount": "charge_amount",
    "totalOrderAmount": "total_order_amount",
    "softDescriptor": "soft_descriptor",
    "presentmentCurrency": "presentment_currency",
    "allowOvercharge": "allow_overcharge",
    "extendExpiration": "extend_expiration",
}
_METADATA_LIMITS = {"merchantReferenceId": 256, "merchantStoreName": 50, "noteToBuyer": 255, "customInformation": 4096}
_SESSION_CREATE_FIELDS = (
    "webCheckoutDetails", "storeId", "chargePermissionType", "recurringMetadata", "paymentDetails",
    "merchantMetadata", "platformId", "providerMetadata", "deliverySpecifications", "addressDetails", "scopes",
    "paymentMethodOnFileMetadata", "productType",
)
_SESSION_UPDATE_FIELDS = (
    "webCheckoutDetails", "paymentDetails", "merchantMetadata", "recurringMetadata", "platformId",
    "providerMetadata", "addressDetails", "deliverySpecifications", "chargePermissionType",
)


def web_checkout_details(value: "dict | None") -> dict:
    if value is None:
        return {}
    reject_unknown(value, _WEB_FIELDS, "webCheckoutDetails")
    where = "webCheckoutDetails."
    cleaned: dict[str, Any] = {}
    for key in ("checkoutReviewReturnUrl", "checkoutResultReturnUrl", "checkoutCancelUrl"):
        if key in value:
            cleaned[key] = url(value, key, where=where)
    if "checkoutMode" in value:
        mode = string(value, "checkoutMode", where=where)
        if mode not in (None, "ProcessOrder"):
            raise invalid("webCheckoutDetails.checkoutMode", "checkoutMode must be ProcessOrder.")
        cleaned["checkoutMode"] = mode
    return cleaned


def payment_details(value: "dict | None") -> dict:
    """Only the fields sent, as PaymentDetails attributes (Update merges them)."""
    if value is None:
        return {}
    reject_unknown(value, tuple(_PAYMENT_FIELDS), "paymentDetails")
    where = "paymentDetails."
    cleaned: dict[str, Any] = {}
    if "paymentIntent" in value:
        intent = value["paymentIntent"]
        if intent not in [i.value for i in PaymentIntent]:
            raise invalid("paymentDetails.paymentIntent",
                          "paymentIntent must be Authorize, AuthorizeWithCapture or Confirm.")
        cleaned["payment_intent"] = intent
    for key in ("canHandlePendingAuthorization", "allowOvercharge", "extendExpiration"):
        if key in value:
            flag = boolean(value, key, where=where)
            cleaned[_PAYMENT_FIELDS[key]] = bool(flag) if key == "canHandlePendingAuthorization" else flag
    for key in ("chargeAmount", "totalOrderAmount"):
        if key in value:
            cleaned[_PAYMENT_FIELDS[key]] = None if value[key] is None else parse_price(value[key], where + key)
    if "softDescriptor" in value:
        cleaned["soft_descriptor"] = string(value, "softDescriptor", where=where, max_length=16)
    if "presentmentCurrency" in value:
        currency = string(value, "presentmentCurrency", where=where, max_length=3)
        if currency is not None and not re.match(r"^[A-Z]{3}$", currency):
            raise invalid("paymentDetails.presentmentCurrency")
        cleaned["presentment_currency"] = currency
    return cleaned


def merchant_metadata(value: "dict | None") -> dict:
    if value is None:
        return {}
    reject_unknown(value, tuple(_METADATA_LIMITS), "merchantMetadata")
    return {key: string(value, key, where="merchantMetadata.", max_length=limit)
            for key, limit in _METADATA_LIMITS.items() if key in value}


def _common_session_fields(body: dict, cleaned: dict) -> None:
    if "merchantMetadata" in body:
        cleaned["merchantMetadata"] = merchant_metadata(sub_object(body, "merchantMetadata"))
    if "chargePermissionType" in body:
        kind = body["chargePermissionType"]
        if kind not in CHARGE_PERMISSION_TYPES:
            raise invalid("chargePermissionType",
                          f"chargePermissionType must be one of {', '.join(CHARGE_PERMISSION_TYPES)}.")
        cleaned["chargePermissionType"] = kind
    for key in ("recurringMetadata", "providerMetadata", "deliverySpecifications", "addressDetails"):
        if key in body:
            cleaned[key] = sub_object(body, key)
    if "platformId" in body:
        cleaned["platformId"] = string(body, "platformId", max_length=64)


def create_checkout_session(body: Any) -> dict:
    """Validate a Create Checkout Session body (also the signed button payload)."""
    body = body_object(body)
    reject_unknown(body, _SESSION_CREATE_FIELDS)
    web = sub_object(body, "webCheckoutDetails")
    if web is None:
        raise missing("webCheckoutDetails")
    cleaned: dict[str, Any] = {"webCheckoutDetails": web_checkout_details(web)}
    cleaned["storeId"] = string(body, "storeId", max_length=128, required=True)
    process_order = cleaned["webCheckoutDetails"].get("checkoutMode") == "ProcessOrder"
    if process_order:
        if not cleaned["webCheckoutDetails"].get("checkoutResultReturnUrl"):
            raise missing("webCheckoutDetails.checkoutResultReturnUrl")
    elif not cleaned["webCheckoutDetails"].get("checkoutReviewReturnUrl"):
        raise missing("webCheckoutDetails.checkoutReviewReturnUrl")
    cleaned["paymentDetails"] = payment_details(sub_object(body, "paymentDetails"))
    if process_order:
        for key, attr in (("paymentIntent", "payment_intent"), ("chargeAmount", "charge_amount")):
            if cleaned["paymentDetails"].get(attr) is None:
                raise missing(f"paymentDetails.{key}")
    _common_session_fields(body, cleaned)
    if "scopes" in body:
        scopes = body["scopes"]
        if not isinstance(scopes, list) or any(s not in SCOPES for s in scopes):
            raise invalid("scopes", f"scopes must be a list of {', '.join(SCOPES)}.")
        cleaned["scopes"] = list(scopes)
    if "productType" in body:
        if body["productType"] not in PRODUCT_TYPES:
            raise invalid("productType")
        cleaned["productType"] = body["productType"]
    return cleaned


def update_checkout_session(body: Any) -> dict:
    body = body_object(body)
    reject_unknown(body, _SESSION_UPDATE_FIELDS)
    cleaned: dict[str, Any] = {}
    if "webCheckoutDetails" in body:
        web = web_checkout_details(sub_object(body, "webCheckoutDetails"))
        if "checkoutMode" in web:
            raise invalid("webCheckoutDetails.checkoutMode", "checkoutMode cannot be changed by Update.")
        cleaned["webCheckoutDetails"] = web
    if "paymentDetails" in body:
        cleaned["paymentDetails"] = payment_details(sub_object(body, "paymentDetails"))
    _common_session_fields(body, cleaned)
    return cleaned


def complete_checkout_session(body: Any) -> dict:
    body = body_object(body)
    reject_unknown(body, ("chargeAmount", "totalOrderAmount"))
    cleaned = {"chargeAmount": parse_price(body.get("chargeAmount"), "chargeAmount"), "totalOrderAmount": None}
    if body.get("totalOrderAmount") is not None:
        cleaned["totalOrderAmount"] = parse_price(body["totalOrderAmount"], "totalOrderAmount")
    return cleaned


# -- Charge Permission --------------------------------------------------------------------

def update_charge_permission(body: Any) -> dict:
    body = body_object(body)
    reject_unknown(body, ("merchantMetadata", "recurringMetadata", "platformId"))
    cleaned: dict[str, Any] = {}
    if "merchantMetadata" in body:
        cleaned["merchantMetadata"] = merchant_metadata(sub_object(body, "merchantMetadata"))
    if "recurringMetadata" in body:
        cleaned["recurringMetadata"] = sub_object(body, "recurringMetadata")
    if "platformId" in body:
        cleaned["platformId"] = string(body, "platformId", max_length=64)
    return cleaned


def close_charge_permission(body: Any) -> dict:
    body = body_object(body if body is not None else {})
    reject_unknown(body, ("closureReason", "cancelPendingCharges"))
    return {
        "closureReason": string(body, "closureReason", max_length=255),
        "cancelPendingCharges": bool(boolean(body, "cancelPendingCharges")),
    }


# -- Charge ---------------------------------------------------------------------------------

def create_charge(body: Any) -> dict:
    body = body_object(body)
    reject_unknown(body, ("chargePermissionId", "chargeAmount", "captureNow", "softDescriptor",
                          "canHandlePendingAuthorization", "merchantMetadata", "providerMetadata", "platformId"))
    cleaned = {
        "chargePermissionId": string(body, "chargePermissionId", max_length=64, required=True),
        "chargeAmount": parse_price(body.get("chargeAmount"), "chargeAmount"),
        "captureNow": bool(boolean(body, "captureNow")),
        "canHandlePendingAuthorization": bool(boolean(body, "canHandlePendingAuthorization")),
        "softDescriptor": string(body, "softDescriptor", max_length=16),
        "merchantMetadata": merchant_metadata(sub_object(body, "merchantMetadata")) or None,
        "providerMetadata": sub_object(body, "providerMetadata"),
    }
    if cleaned["softDescriptor"] and not cleaned["captureNow"]:
        raise invalid("softDescriptor", "softDescriptor can only be used when captureNow is true.")
    return cleaned


def capture_charge(body: Any) -> dict:
    body = body_object(body)
    reject_unknown(body, ("captureAmount", "softDescriptor"))
    return {
        "captureAmount": parse_price(body.get("captureAmount"), "captureAmount"),
        "softDescriptor": string(body, "softDescriptor", max_length=16),
    }


def cancel_charge(body: Any) -> dict:
    body = body_object(body if body is not None else {})
    reject_unknown(body, ("cancellationReason",))
    return {"cancellationReason": string(body, "cancellationReason", max_length=255)}


# -- Refund ---------------------------------------------------------------------------------

def create_refund(body: Any) -> dict:
    body = body_object(body)
    reject_unknown(body, ("chargeId", "refundAmount", "softDescriptor"))
    return {
        "chargeId": string(body, "chargeId", max_length=64, required=True),
        "refundAmount": parse_price(body.get("refundAmount"), "refundAmount"),
        "softDescriptor": string(body, "softDescriptor", max_length=16),
    }


# -- Delivery trackers ----------------------------------------------------------------------

def delivery_tracker(body: Any, known_carriers: "frozenset[str] | None" = None) -> dict:
    body = body_object(body)
    reject_unknown(body, ("chargePermissionId", "amazonOrderReferenceId", "deliveryDetails"))
    cp_id = string(body, "chargePermissionId", max_length=64)
    order_id = string(body, "amazonOrderReferenceId", max_length=64)
    if bool(cp_id) == bool(order_id):
        raise invalid("chargePermissionId", "Send exactly one of chargePermissionId or amazonOrderReferenceId.")
    reference = cp_id or order_id
    if not _ID_RE.match(reference or ""):
        name = "chargePermissionId" if cp_id else "amazonOrderReferenceId"
        raise invalid(name, f"{name} {reference!r} is not a valid id.")
    details = body.get("deliveryDetails")
    if details is None:
        raise missing("deliveryDetails")
    if not isinstance(details, list):
        raise RequestValidationError(400, "InvalidInputFormat", "deliveryDetails must be an array.")
    if len(details) != 1:
        raise invalid("deliveryDetails", "deliveryDetails must contain exactly one element.")
    detail = details[0]
    if not isinstance(detail, dict):
        raise RequestValidationError(400, "InvalidInputFormat", "deliveryDetails[0] must be an object.")
    reject_unknown(detail, ("trackingNumber", "carrierCode"), "deliveryDetails[0]")
    tracking = string(detail, "trackingNumber", where="deliveryDetails[0].", max_length=100, required=True)
    if not tracking or not tracking.strip() or not tracking.isprintable():
        raise invalid("trackingNumber", "trackingNumber must be printable and not blank.")
    carrier = string(detail, "carrierCode", where="deliveryDetails[0].", max_length=50, required=True)
    if not carrier or not _CARRIER_RE.match(carrier):
        raise invalid("carrierCode", "carrierCode must be an Amazon carrier code such as UPS, FEDEX or DHL_DE.")
    if known_carriers is not None and carrier not in known_carriers:
        raise invalid("carrierCode", f"carrierCode {carrier} is not in Amazon's carrier list.")
    return {
        "chargePermissionId": cp_id,
        "amazonOrderReferenceId": order_id,
        "trackingNumber": tracking,
        "carrierCode": carrier,
    }
