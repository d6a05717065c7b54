"""Pins the public surface of saleor_amazonpay.core (others build on it)."""

from __future__ import annotations

import pytest

import saleor_amazonpay.core as core

pytestmark = pytest.mark.unit

EXPECTED_ALL = [
    "Address",
    "AmazonPayClient",
    "AmazonPayConfig",
    "AmazonPayError",
    "AmountMismatchError",
    "ApiError",
    "ApiResponse",
    "AuthenticationError",
    "BUYER_MESSAGE",
    "Buyer",
    "ButtonSignature",
    "CallRecord",
    "Charge",
    "ChargePermission",
    "ChargePermissionState",
    "ChargeState",
    "CheckoutSession",
    "CheckoutSessionState",
    "ConfigError",
    "ConnectError",
    "DeclinedError",
    "DeliveryTracker",
    "Environment",
    "IdempotencyError",
    "InvalidRequestError",
    "InvalidStateError",
    "IpnVerificationError",
    "NO_RETRIES",
    "NotFoundError",
    "PaymentIntent",
    "PreparedRequest",
    "Price",
    "RateLimitError",
    "RawResponse",
    "Refund",
    "RefundState",
    "RequestSigner",
    "RequestsTransport",
    "ResponseTimeout",
    "RetryPolicy",
    "ServerError",
    "SignatureAlgorithm",
    "SigningError",
    "StatusDetails",
    "Timeouts",
    "Transport",
    "TransportError",
    "WSGITransport",
    "new_idempotency_key",
    "InMemoryReplayCache",
    "IpnNotification",
    "IpnNotificationType",
    "IpnObjectType",
    "ReplayCache",
    "SnsEnvelope",
    "SnsVerifier",
    "parse_envelope",
    "parse_notification",
]


def test_all_is_pinned():
    assert sorted(core.__all__) == sorted(EXPECTED_ALL)


def test_all_has_no_duplicates():
    assert len(core.__all__) == len(set(core.__all__))


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_every_export_resolves(name):
    assert getattr(core, name) is not None


def test_star_import_gives_exactly_all():
    namespace: dict = {}
    exec("from saleor_amazonpay.core import *", namespace)
    namespace.pop("__builtins__", None)
    assert sorted(namespace) == sorted(EXPECTED_ALL)


def test_exports_come_from_their_modules():
    from saleor_amazonpay.core import client, config, errors, models, retry, signing, transport

    assert core.AmazonPayClient is client.AmazonPayClient
    assert core.AmazonPayConfig is config.AmazonPayConfig
    assert core.ApiError is errors.ApiError
    assert core.Price is models.Price
    assert core.RetryPolicy is retry.RetryPolicy
    assert core.RequestSigner is signing.RequestSigner
    assert core.RequestsTransport is transport.RequestsTransport
