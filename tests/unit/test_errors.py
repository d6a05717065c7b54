"""Error mapping: reasonCode first, HTTP status second (API notes §5 table)."""

from __future__ import annotations

import pytest

from saleor_amazonpay.core import (
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
from saleor_amazonpay.core.errors import error_from_response

pytestmark = pytest.mark.unit

# The text Amazon's docs tell merchants to show ("Verify & complete checkout", error response).
DOCS_BUYER_MESSAGE = "Your payment was not successful. Please try another payment method."

# (HTTP status, reasonCode, expected class, retryable) — the notes' §5 table, row by row.
SECTION_5_TABLE = [
    (400, "InvalidHeaderValue", InvalidRequestError, False),
    (400, "InvalidRequest", InvalidRequestError, False),
    (400, "InvalidParameterValue", InvalidRequestError, False),
    (400, "InvalidRequestFormat", InvalidRequestError, False),
    (400, "MissingHeader", InvalidRequestError, False),
    (400, "MissingHeaderValue", InvalidRequestError, False),
    (400, "MissingParameterValue", InvalidRequestError, False),
    (400, "UnrecognizedField", InvalidRequestError, False),
    (400, "InvalidSandboxSimulationSpecified", InvalidRequestError, False),
    (400, "DuplicateIdempotencyKey", IdempotencyError, False),
    (400, "InvalidParameterCombination", InvalidRequestError, False),
    (400, "CurrencyMismatch", AmountMismatchError, False),
    (400, "InvalidAPIVersion", InvalidRequestError, False),
    (400, "TransactionAmountExceeded", DeclinedError, False),
    (400, "PeriodicAmountExceeded", DeclinedError, False),
    (400, "CheckoutSessionCanceled", InvalidStateError, False),
    (401, "UnauthorizedAccess", AuthenticationError, False),
    (403, "InvalidAuthentication", AuthenticationError, False),
    (403, "InvalidAccountStatus", AuthenticationError, False),
    (403, "InvalidRequestSignature", AuthenticationError, False),
    (403, "InvalidAuthorizationToken", AuthenticationError, False),
    (404, "ResourceNotFound", NotFoundError, False),
    (405, "UnsupportedOperation", InvalidRequestError, False),
    (405, "RequestNotSupported", InvalidRequestError, False),
    (408, "RequestTimeout", ServerError, True),
    (409, "AmountMismatch", AmountMismatchError, False),
    (422, "InvalidCheckoutSessionStatus", InvalidStateError, False),
    (422, "InvalidChargePermissionStatus", InvalidStateError, False),
    (422, "InvalidChargeStatus", InvalidStateError, False),
    (422, "ChargePermissionNotModifiable", InvalidStateError, False),
    (422, "TransactionCountExceeded", InvalidStateError, False),
    (422, "AmazonRejected", DeclinedError, False),
    (422, "HardDeclined", DeclinedError, False),
    (422, "SoftDeclined", DeclinedError, False),
    (422, "PaymentMethodNotAllowed", DeclinedError, False),
    (422, "MFANotCompleted", DeclinedError, False),
    (422, "TransactionTimedOut", DeclinedError, False),
    (426, "TLSVersionNotSupported", InvalidRequestError, False),
    (429, "TooManyRequests", RateLimitError, True),
    (500, "InternalServerError", ServerError, True),
    (500, "ProcessingFailure", ServerError, True),
    (503, "ServiceUnavailable", ServerError, True),
]


@pytest.mark.parametrize(
    "status, reason, cls, retryable", SECTION_5_TABLE, ids=[f"{s}-{r}" for s, r, _, _ in SECTION_5_TABLE]
)
def test_mapping_table(status, reason, cls, retryable):
    body = {"reasonCode": reason, "message": f"The message for {reason}."}
    error = error_from_response(status, body, "a1b2c3d4-req")
    assert type(error) is cls
    assert isinstance(error, ApiError) and isinstance(error, AmazonPayError)
    assert error.reason_code == reason
    assert error.http_status == status
    assert error.request_id == "a1b2c3d4-req"
    assert error.message == f"The message for {reason}."
    assert error.body == body
    assert error.should_retry is retryable
    assert error.buyer_message == DOCS_BUYER_MESSAGE


@pytest.mark.parametrize(
    "status, reason, cls",
    [
        # The reason code decides even when the status would say otherwise.
        (400, "ResourceNotFound", NotFoundError),
        (422, "DuplicateIdempotencyKey", IdempotencyError),
        (400, "InvalidRequestSignature", AuthenticationError),
        (400, "AmountMismatch", AmountMismatchError),
        (400, "InvalidChargeStatus", InvalidStateError),
        (400, "HardDeclined", DeclinedError),
    ],
)
def test_reason_code_wins_over_status(status, reason, cls):
    assert type(error_from_response(status, {"reasonCode": reason}, None)) is cls


@pytest.mark.parametrize(
    "status, cls, retryable",
    [
        (400, InvalidRequestError, False),
        (401, AuthenticationError, False),
        (403, AuthenticationError, False),
        (404, NotFoundError, False),
        (405, InvalidRequestError, False),
        (408, ServerError, True),
        (409, AmountMismatchError, False),
        (422, InvalidStateError, False),
        (425, ServerError, True),
        (429, RateLimitError, True),
        (500, ServerError, True),
        (502, ServerError, True),
        (503, ServerError, True),
        (504, ServerError, True),
    ],
)
@pytest.mark.parametrize("body", [{}, {"reasonCode": "SomethingNewFromAmazon"}, None, {"reasonCode": 42}])
def test_unknown_reason_falls_back_to_status(status, cls, retryable, body):
    error = error_from_response(status, body, "rid")
    assert type(error) is cls
    assert error.should_retry is retryable
    assert error.http_status == status
    reason = body.get("reasonCode") if body else None
    if isinstance(reason, str):
        assert error.reason_code == reason
    assert error.message  # a useful default message even without a body


def test_default_reason_codes_when_body_has_none():
    assert error_from_response(404, {}, None).reason_code == "ResourceNotFound"
    assert error_from_response(429, {}, None).reason_code == "TooManyRequests"
    assert error_from_response(400, {}, None).reason_code is None


def test_message_defaults_to_status():
    error = error_from_response(500, {"message": 12}, None)
    assert error.message == "Amazon Pay answered HTTP 500"


def test_str_includes_reason_code_request_id_and_status():
    error = error_from_response(
        400,
        {"reasonCode": "InvalidParameterValue", "message": "The value provided for chargeAmount is invalid."},
        "2c8e6f7a-0bb4-4bf8-9b3d-6c7a2f0f4e11",
    )
    text = str(error)
    assert "InvalidParameterValue" in text
    assert "The value provided for chargeAmount is invalid." in text
    assert "2c8e6f7a-0bb4-4bf8-9b3d-6c7a2f0f4e11" in text
    assert "400" in text
    assert text.index("InvalidParameterValue") < text.index("2c8e6f7a")
    text_repr = repr(error)
    assert "InvalidParameterValue" in text_repr and "2c8e6f7a-0bb4-4bf8-9b3d-6c7a2f0f4e11" in text_repr
    assert text_repr.startswith("InvalidRequestError(")


def test_str_without_context():
    assert str(AmazonPayError()) == "AmazonPayError"
    assert str(ConnectError("could not connect")) == "could not connect"
    assert "HTTP 502" in str(ServerError("bad gateway", http_status=502))


def test_buyer_message_is_fixed_and_safe():
    assert BUYER_MESSAGE == DOCS_BUYER_MESSAGE
    leaky = error_from_response(
        403, {"reasonCode": "InvalidRequestSignature", "message": "Key ABC123 for merchant A1B2 is not valid"}, "r"
    )
    assert leaky.buyer_message == DOCS_BUYER_MESSAGE
    for error in (ConnectError("x"), ResponseTimeout("y"), ConfigError("z", field="region"), leaky):
        assert error.buyer_message == DOCS_BUYER_MESSAGE


def test_body_is_copied():
    body = {"reasonCode": "InvalidChargeStatus", "message": "m"}
    error = error_from_response(422, body, None)
    body["reasonCode"] = "changed"
    assert error.body["reasonCode"] == "InvalidChargeStatus"


def test_hierarchy():
    assert issubclass(ConfigError, AmazonPayError) and issubclass(ConfigError, ValueError)
    assert issubclass(ConnectError, TransportError) and issubclass(ResponseTimeout, TransportError)
    assert issubclass(AmountMismatchError, InvalidRequestError)
    for cls in (
        InvalidRequestError,
        IdempotencyError,
        AuthenticationError,
        NotFoundError,
        InvalidStateError,
        DeclinedError,
        RateLimitError,
        ServerError,
    ):
        assert issubclass(cls, ApiError)
    for cls in (SigningError, TransportError, ApiError, IpnVerificationError):
        assert issubclass(cls, AmazonPayError)
    assert not issubclass(TransportError, ApiError)


def test_transport_error_flags():
    assert ConnectError("x").should_retry is True
    assert ConnectError("x").outcome_unknown is False
    assert ResponseTimeout("x").should_retry is True
    assert ResponseTimeout("x").outcome_unknown is True
    assert TransportError("x").outcome_unknown is True
    assert ConfigError("x").should_retry is False
    assert SigningError("x").should_retry is False
    assert IpnVerificationError("x").should_retry is False


def test_config_error_field():
    error = ConfigError("bad region", field="region")
    assert error.field == "region"
    assert isinstance(error, ValueError)
