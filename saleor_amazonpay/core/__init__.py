"""Saleor-free Amazon Pay API v2 client.

Imports only the standard library, ``requests`` and ``cryptography`` (checked by
tests/unit/test_layering.py), so it can be used and tested without Saleor.
"""

from .client import AmazonPayClient, ApiResponse, CallRecord, new_idempotency_key
from .config import AmazonPayConfig, Timeouts
from .constants import (
    ChargePermissionState,
    ChargeState,
    CheckoutSessionState,
    Environment,
    PaymentIntent,
    RefundState,
    SignatureAlgorithm,
)
from .errors import (
    BUYER_MESSAGE,
    AmazonPayError,
    AmountMismatchError,
    ApiError,
    AuthenticationError,
    ConfigError,
    ConnectError,
    DeclinedError,
    IdempotencyError,
    InvalidRequestError,
    InvalidStateError,
    IpnVerificationError,
    NotFoundError,
    RateLimitError,
    ResponseTimeout,
    ServerError,
    SigningError,
    TransportError,
)
from .ipn import (
    InMemoryReplayCache,
    IpnNotification,
    IpnNotificationType,
    IpnObjectType,
    ReplayCache,
    SnsEnvelope,
    SnsVerifier,
    parse_envelope,
    parse_notification,
)
from .models import (
    Address,
    Buyer,
    Charge,
    ChargePermission,
    CheckoutSession,
    DeliveryTracker,
    Price,
    Refund,
    StatusDetails,
)
from .retry import NO_RETRIES, RetryPolicy
from .signing import ButtonSignature, RequestSigner
from .transport import PreparedRequest, RawResponse, RequestsTransport, Transport, WSGITransport

__all__ = [
    "Address", "AmazonPayClient", "AmazonPayConfig", "AmazonPayError", "AmountMismatchError", "ApiError",
    "ApiResponse", "AuthenticationError", "BUYER_MESSAGE", "Buyer", "ButtonSignature", "CallRecord", "Charge",
    "ChargePermission", "ChargePermissionState", "ChargeState", "CheckoutSession", "CheckoutSessionState",
    "ConfigError", "ConnectError", "DeclinedError", "DeliveryTracker", "Environment", "IdempotencyError",
    "InvalidRequestError", "InvalidStateError", "IpnVerificationError", "NO_RETRIES", "NotFoundError",
    "PaymentIntent", "PreparedRequest", "Price", "RateLimitError", "RawResponse", "Refund", "RefundState",
    "RequestSigner", "RequestsTransport", "ResponseTimeout", "RetryPolicy", "ServerError", "SignatureAlgorithm",
    "SigningError", "StatusDetails", "Timeouts", "Transport", "TransportError", "WSGITransport",
    "new_idempotency_key",
    "InMemoryReplayCache", "IpnNotification", "IpnNotificationType", "IpnObjectType", "ReplayCache",
    "SnsEnvelope", "SnsVerifier", "parse_envelope", "parse_notification",
]
