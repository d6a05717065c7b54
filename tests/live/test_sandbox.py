"""Opt-in checks against the real Amazon Pay sandbox.

Skipped unless these are set (a sandbox merchant's credentials):
AMAZONPAY_SANDBOX_MERCHANT_ID, AMAZONPAY_SANDBOX_STORE_ID, AMAZONPAY_SANDBOX_PUBLIC_KEY_ID,
AMAZONPAY_SANDBOX_PRIVATE_KEY_PATH (or _PRIVATE_KEY), AMAZONPAY_SANDBOX_REGION (default na).
"""

from __future__ import annotations

import os

import pytest

from saleor_amazonpay.core import AmazonPayClient, AmazonPayConfig, CheckoutSessionState, NotFoundError

REQUIRED = ("MERCHANT_ID", "STORE_ID", "PUBLIC_KEY_ID")
PREFIX = "AMAZONPAY_SANDBOX_"

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        any(not os.environ.get(PREFIX + name) for name in REQUIRED)
        or not (os.environ.get(PREFIX + "PRIVATE_KEY_PATH") or os.environ.get(PREFIX + "PRIVATE_KEY")),
        reason="live sandbox tests need AMAZONPAY_SANDBOX_MERCHANT_ID, _STORE_ID, _PUBLIC_KEY_ID and "
               "_PRIVATE_KEY_PATH (or _PRIVATE_KEY)",
    ),
]


@pytest.fixture(scope="module")
def client():
    config = AmazonPayConfig.from_env(prefix=PREFIX)
    return AmazonPayClient(config)


def test_signed_requests_are_accepted_by_amazon(client):
    # A well-signed request for an unknown id gets 404 ResourceNotFound, not 401/403.
    with pytest.raises(NotFoundError) as error:
        client.get_checkout_session("00000000-0000-4000-8000-000000000000")
    assert error.value.request_id


def test_create_and_read_a_checkout_session(client):
    session = client.create_checkout_session({
        "storeId": client.config.store_id,
        "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://localhost/review"},
    })
    assert session.state is CheckoutSessionState.OPEN
    assert client.get_checkout_session(session.checkout_session_id).checkout_session_id == session.checkout_session_id
