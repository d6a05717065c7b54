"""Fixtures shared by every test tier that runs with the package's own Python.

* a merchant RSA key pair generated once per session (PSS signatures are randomized, so
  tests verify with the public key instead of comparing bytes);
* ``make_config`` / ``amazonpay_config``: an :class:`AmazonPayConfig` for that key;
* ``frozen_clock``: a clock fixed at :data:`FIXED_NOW` (``20240105T131415Z``);
* ``api_samples``: realistic Amazon Pay v2 response bodies (fresh deep copies per test),
  written from the API notes and the developer-docs samples. Buyer data in them is
  deliberately distinctive so logging/repr tests can look for leaks.

tests/saleor has its own rootdir (tests/saleor/pytest.ini) and does not load this file.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

#: The fixed instant used by clock-dependent tests.
FIXED_NOW = datetime(2024, 1, 5, 13, 14, 15, tzinfo=timezone.utc)
FIXED_AMZ_DATE = "20240105T131415Z"

#: A legacy (24 character) public key id, as in the PHP SDK's unit tests.
LEGACY_PUBLIC_KEY_ID = "ABC123DEF456XYZ789IJK000"
MERCHANT_ID = "A1B2C3D4E5F6G7"
STORE_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef"

# --- realistic response bodies ------------------------------------------------------

BUYER_NAME = "Zelda Quxington"
BUYER_EMAIL = "zelda.quxington@example.org"
BUYER_PHONE = "+1-206-555-0147"
BUYER_STREET = "1742 Evergreen Terrace"

_ADDRESS = {
    "name": BUYER_NAME,
    "addressLine1": BUYER_STREET,
    "addressLine2": "Apt 3",
    "addressLine3": None,
    "city": "Seattle",
    "county": None,
    "district": None,
    "stateOrRegion": "WA",
    "postalCode": "98121",
    "countryCode": "US",
    "phoneNumber": BUYER_PHONE,
}

SAMPLES: dict[str, dict[str, Any]] = {
    # Get Checkout Session after the buyer signed in (docs sample shape).
    "checkout_session_open": {
        "checkoutSessionId": "bd504926-f659-4ad7-a1a9-9a747aaf5275",
        "webCheckoutDetails": {
            "checkoutReviewReturnUrl": "https://shop.example/checkout/review",
            "checkoutResultReturnUrl": "https://shop.example/checkout/result",
            "amazonPayRedirectUrl": None,
            "checkoutCancelUrl": None,
        },
        "productType": "PayAndShip",
        "paymentDetails": {
            "paymentIntent": "Authorize",
            "canHandlePendingAuthorization": False,
            "chargeAmount": {"amount": "14.00", "currencyCode": "USD"},
            "totalOrderAmount": None,
            "softDescriptor": None,
            "presentmentCurrency": "USD",
            "allowOvercharge": None,
            "extendExpiration": None,
        },
        "chargePermissionType": "OneTime",
        "recurringMetadata": None,
        "merchantMetadata": {
            "merchantReferenceId": "ORDER-2024-0001",
            "merchantStoreName": "Store Name",
            "noteToBuyer": "Thank you for your order!",
            "customInformation": None,
        },
        "supplementaryData": None,
        "buyer": {
            "buyerId": "amzn1.account.AH5QDOO2ABCDEFGHIJKLMNOP",
            "name": BUYER_NAME,
            "email": BUYER_EMAIL,
            "phoneNumber": BUYER_PHONE,
            "primeMembershipTypes": None,
        },
        "billingAddress": None,
        "paymentPreferences": [
            {"billingAddress": copy.deepcopy(_ADDRESS), "paymentDescriptor": "Visa ****1111 (Amazon Pay)"}
        ],
        "statusDetails": {
            "state": "Open",
            "reasonCode": None,
            "reasonDescription": None,
            "lastUpdatedTimestamp": "20191015T204327Z",
        },
        "shippingAddress": copy.deepcopy(_ADDRESS),
        "platformId": None,
        "chargePermissionId": None,
        "chargeId": None,
        "constraints": [
            {"constraintId": "ChargeAmountNotSet", "description": "chargeAmount is not set."},
            {"constraintId": "CheckoutResultReturnUrlNotSet", "description": "checkoutResultReturnUrl is not set."},
        ],
        "creationTimestamp": "20191015T204313Z",
        "expirationTimestamp": "20191016T204313Z",
        "storeId": STORE_ID,
        "deliverySpecifications": None,
        "providerMetadata": None,
        "checkoutButtonText": None,
        "releaseEnvironment": "Sandbox",
    },
    # Complete Checkout Session response, as printed on the developer docs page
    # (shared/reference/amazon-pay-verify-and-complete-checkout.txt), JSON comment removed.
    "checkout_session_completed": {
        "checkoutSessionId": "bd504926-f659-4ad7-a1a9-9a747aaf5275",
        "webCheckoutDetails": None,
        "chargePermissionType": "OneTime",
        "recurringMetadata": None,
        "productType": None,
        "paymentDetails": None,
        "merchantMetadata": None,
        "supplementaryData": None,
        "buyer": None,
        "billingAddress": None,
        "paymentPreferences": [None],
        "statusDetails": {
            "state": "Completed",
            "reasonCode": None,
            "reasonDescription": None,
            "lastUpdatedTimestamp": "20191015T204327Z",
        },
        "shippingAddress": None,
        "platformId": None,
        "chargePermissionId": "S01-5105180-3221187",
        "chargeId": "S01-5105180-3221187-C056351",
        "constraints": [None],
        "creationTimestamp": "20191015T204313Z",
        "expirationTimestamp": None,
        "storeId": None,
        "deliverySpecifications": None,
        "providerMetadata": None,
        "checkoutButtonText": None,
        "releaseEnvironment": None,
    },
    "charge_authorized": {
        "chargeId": "S01-5105180-3221187-C056351",
        "chargePermissionId": "S01-5105180-3221187",
        "chargeAmount": {"amount": "14.00", "currencyCode": "USD"},
        "captureAmount": None,
        "refundedAmount": None,
        "convertedAmount": None,
        "conversionRate": None,
        "softDescriptor": None,
        "merchantMetadata": None,
        "providerMetadata": {"providerReferenceId": None},
        "statusDetails": {
            "state": "Authorized",
            "reasonCode": None,
            "reasonDescription": None,
            "lastUpdatedTimestamp": "20190714T155300Z",
        },
        "creationTimestamp": "20190714T155300Z",
        "expirationTimestamp": "20190812T155300Z",
        "releaseEnvironment": "Sandbox",
    },
    "charge_captured": {
        "chargeId": "S01-5105180-3221187-C056351",
        "chargePermissionId": "S01-5105180-3221187",
        "chargeAmount": {"amount": "14.00", "currencyCode": "USD"},
        "captureAmount": {"amount": "14.00", "currencyCode": "USD"},
        "refundedAmount": {"amount": "0.00", "currencyCode": "USD"},
        "convertedAmount": {"amount": "14.00", "currencyCode": "USD"},
        "conversionRate": 1.0,
        "softDescriptor": "Descriptor",
        "merchantMetadata": None,
        "providerMetadata": {"providerReferenceId": None},
        "statusDetails": {
            "state": "Captured",
            "reasonCode": None,
            "reasonDescription": None,
            "lastUpdatedTimestamp": "20190714T155310Z",
        },
        "creationTimestamp": "20190714T155300Z",
        "expirationTimestamp": "20190812T155300Z",
        "releaseEnvironment": "Sandbox",
    },
    "charge_canceled": {
        "chargeId": "S01-5105180-3221187-C056351",
        "chargePermissionId": "S01-5105180-3221187",
        "chargeAmount": {"amount": "14.00", "currencyCode": "USD"},
        "statusDetails": {
            "state": "Canceled",
            "reasonCode": "MerchantCanceled",
            "reasonDescription": "REASON DESCRIPTION",
            "lastUpdatedTimestamp": "20190714T155400Z",
        },
        "creationTimestamp": "20190714T155300Z",
        "releaseEnvironment": "Sandbox",
    },
    "charge_permission_chargeable": {
        "chargePermissionId": "S01-5105180-3221187",
        "chargePermissionReferenceId": None,
        "chargePermissionType": "OneTime",
        "recurringMetadata": None,
        "buyer": {
            "buyerId": "amzn1.account.AH5QDOO2ABCDEFGHIJKLMNOP",
            "name": BUYER_NAME,
            "email": BUYER_EMAIL,
            "phoneNumber": BUYER_PHONE,
        },
        "shippingAddress": copy.deepcopy(_ADDRESS),
        "billingAddress": copy.deepcopy(_ADDRESS),
        "paymentPreferences": [{"paymentDescriptor": "Visa ****1111 (Amazon Pay)"}],
        "statusDetails": {
            "state": "Chargeable",
            "reasons": None,
            "lastUpdatedTimestamp": "20190714T155300Z",
        },
        "creationTimestamp": "20190714T155300Z",
        "expirationTimestamp": "20200110T155300Z",
        "merchantMetadata": {
            "merchantReferenceId": "32-41-323141-32",
            "merchantStoreName": "AmazonTestStoreFront",
            "noteToBuyer": "Some Note to buyer",
            "customInformation": "",
        },
        "platformId": None,
        "limits": {
            "amountLimit": {"amount": "14.00", "currencyCode": "USD"},
            "amountBalance": {"amount": "14.00", "currencyCode": "USD"},
        },
        "presentmentCurrency": "USD",
        "releaseEnvironment": "Sandbox",
    },
    "charge_permission_closed": {
        "chargePermissionId": "S01-5105180-3221187",
        "chargePermissionType": "OneTime",
        "statusDetails": {
            "state": "Closed",
            "reasons": [
                {"reasonCode": "MerchantClosed", "reasonDescription": "No more charges required"},
                {"reasonCode": "AmazonClosed", "reasonDescription": "Closed by Amazon"},
            ],
            "lastUpdatedTimestamp": "20190715T101010Z",
        },
        "creationTimestamp": "20190714T155300Z",
        "releaseEnvironment": "Sandbox",
    },
    "refund_initiated": {
        "refundId": "S01-5105180-3221187-R022311",
        "chargeId": "S01-5105180-3221187-C056351",
        "refundAmount": {"amount": "14.00", "currencyCode": "USD"},
        "softDescriptor": "Descriptor",
        "creationTimestamp": "20190714T155300Z",
        "statusDetails": {
            "state": "RefundInitiated",
            "reasonCode": None,
            "reasonDescription": None,
            "lastUpdatedTimestamp": "20190714T155300Z",
        },
        "releaseEnvironment": "Sandbox",
    },
    # Delivery Trackers echo the request body (docs, delivery-tracker.html).
    "delivery_tracker": {
        "chargePermissionId": "S01-5105180-3221187",
        "deliveryDetails": [{"trackingNumber": "1Z999AA10123456784", "carrierCode": "UPS"}],
    },
}


@pytest.fixture
def api_samples() -> dict[str, dict[str, Any]]:
    """Fresh deep copies of :data:`SAMPLES`, so a test can mutate them freely."""
    return copy.deepcopy(SAMPLES)


# --- keys ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def private_key_pem(rsa_private_key: rsa.RSAPrivateKey) -> str:
    return rsa_private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


@pytest.fixture(scope="session")
def public_key(rsa_private_key: rsa.RSAPrivateKey) -> rsa.RSAPublicKey:
    return rsa_private_key.public_key()


@pytest.fixture(scope="session")
def public_key_pem(public_key: rsa.RSAPublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


@pytest.fixture(scope="session")
def pem_body_fragment(private_key_pem: str) -> str:
    """A distinctive 40-character run of the private key's base64 body."""
    body_lines = [line for line in private_key_pem.splitlines() if line and not line.startswith("-----")]
    return body_lines[3][:40]


# --- config and clock ---------------------------------------------------------------


@pytest.fixture
def make_config(private_key_pem: str) -> Callable[..., Any]:
    from saleor_amazonpay.core import AmazonPayConfig

    def factory(**overrides: Any) -> AmazonPayConfig:
        values: dict[str, Any] = {
            "merchant_id": MERCHANT_ID,
            "store_id": STORE_ID,
            "public_key_id": LEGACY_PUBLIC_KEY_ID,
            "private_key": private_key_pem,
            "region": "na",
            "sandbox": True,
        }
        values.update(overrides)
        return AmazonPayConfig(**values)

    return factory


@pytest.fixture
def amazonpay_config(make_config: Callable[..., Any]) -> Any:
    return make_config()


@pytest.fixture
def fixed_now() -> datetime:
    return FIXED_NOW


@pytest.fixture
def frozen_clock() -> Callable[[], datetime]:
    return lambda: FIXED_NOW


@pytest.fixture
def buyer_pii() -> tuple[str, ...]:
    """The personal data inside :data:`SAMPLES`: must never reach logs or reprs."""
    return (BUYER_NAME, BUYER_EMAIL, BUYER_PHONE, BUYER_STREET)
