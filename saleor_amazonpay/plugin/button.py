"""Signed ``createCheckoutSessionConfig`` payloads for the Amazon Pay button."""

from __future__ import annotations

import json
from typing import Any

from ..core import Price
from .clients import signed_button_payload
from .settings import ChannelSettings

SCOPES_PAY_AND_SHIP = ["name", "email", "phoneNumber", "billingAddress"]
SCOPES_PAY_ONLY = ["name", "email", "billingAddress"]


def _scopes(settings: ChannelSettings) -> list[str]:
    return SCOPES_PAY_ONLY if settings.product_type == "PayOnly" else SCOPES_PAY_AND_SHIP


def _dumps(payload: dict) -> str:
    # The storefront must pass this exact string to renderButton: it is what was signed.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def standard_payload(settings: ChannelSettings) -> str:
    """Button on any page: Amazon returns the buyer to the review URL with a session id."""
    return _dumps({
        "webCheckoutDetails": {"checkoutReviewReturnUrl": settings.checkout_review_return_url},
        "storeId": settings.store_id,
        "scopes": _scopes(settings),
        "chargePermissionType": "OneTime",
    })


def process_order_payload(settings: ChannelSettings, amount: Price, checkout_token: str,
                          address_details: "dict | None") -> str:
    """Additional payment button: the amount and address are final, one trip to Amazon."""
    payment_details: dict[str, Any] = {
        "paymentIntent": settings.payment_intent,
        "canHandlePendingAuthorization": settings.can_handle_pending_authorization
        and settings.payment_intent != "Confirm",
        "chargeAmount": amount.to_api(),
    }
    if settings.region == "eu" and amount.currency_code != settings.effective_ledger_currency:
        payment_details["presentmentCurrency"] = amount.currency_code
    payload: dict[str, Any] = {
        "webCheckoutDetails": {
            "checkoutResultReturnUrl": settings.checkout_result_return_url,
            "checkoutMode": "ProcessOrder",
        },
        "storeId": settings.store_id,
        "scopes": _scopes(settings),
        "chargePermissionType": "OneTime",
        "paymentDetails": payment_details,
        "merchantMetadata": {"merchantReferenceId": checkout_token},
    }
    if settings.merchant_store_name:
        payload["merchantMetadata"]["merchantStoreName"] = settings.merchant_store_name
    if address_details and settings.product_type == "PayAndShip":
        payload["addressDetails"] = address_details
    return _dumps(payload)


def button_options(settings: ChannelSettings, payload_json: str, amount: "Price | None" = None) -> dict:
    """Everything ``amazon.Pay.renderButton`` needs, with a signed session config."""
    signature = signed_button_payload(settings, payload_json)
    options: dict[str, Any] = {
        "merchantId": settings.merchant_id,
        "publicKeyId": settings.public_key_id,
        "ledgerCurrency": settings.effective_ledger_currency,
        "productType": settings.product_type,
        "placement": settings.placement,
        "sandbox": settings.sandbox,
        "createCheckoutSessionConfig": signature.as_button_config(),
    }
    if settings.checkout_language:
        options["checkoutLanguage"] = settings.checkout_language
    if amount is not None:
        options["estimatedOrderAmount"] = amount.to_api()
    return options
