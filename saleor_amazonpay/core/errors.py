"""One error hierarchy for everything the client can raise.

::

    AmazonPayError                      message, reason_code, http_status, request_id, body
    ├── ConfigError (ValueError)        bad/missing configuration; never retried
    ├── SigningError                    key unreadable, algorithm unknown
    ├── TransportError                  network failure / timeout (no Amazon answer)
    │   ├── ConnectError                the request never reached Amazon: safe to retry
    │   └── ResponseTimeout             sent, no answer: the outcome is UNKNOWN
    ├── ApiError                        Amazon answered non-2xx with {"reasonCode","message"}
    │   ├── InvalidRequestError   400   InvalidParameterValue, MissingParameterValue, ...
    │   │   └── AmountMismatchError     AmountMismatch (409), CurrencyMismatch
    │   ├── IdempotencyError      400   DuplicateIdempotencyKey
    │   ├── AuthenticationError   401/403 InvalidRequestSignature, UnauthorizedAccess, ...
    │   ├── NotFoundError         404   ResourceNotFound
    │   ├── InvalidStateError     422   InvalidCheckoutSessionStatus, InvalidChargeStatus, ...
    │   ├── DeclinedError         4xx   HardDeclined, SoftDeclined, AmazonRejected, TransactionAmountExceeded ...
    │   ├── RateLimitError        429   TooManyRequests (retryable)
    │   └── ServerError           5xx/408/425 (retryable)
    └── IpnVerificationError            a notification failed SNS verification

Errors are chosen by Amazon's ``reasonCode`` first and by HTTP status second. Every error
carries ``buyer_message``: text that is safe to show a shopper (never Amazon's message,
which can mention merchant configuration).
"""

from __future__ import annotations

from typing import Any, Mapping

BUYER_MESSAGE = "Your payment was not successful. Please try another payment method."

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class AmazonPayError(Exception):
    """Root of every error this package raises about Amazon Pay."""

    default_reason_code: "str | None" = None
    should_retry = False

    def __init__(
        self,
        message: str = "",
        *,
        reason_code: "str | None" = None,
        http_status: "int | None" = None,
        request_id: "str | None" = None,
        body: "Mapping[str, Any] | None" = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason_code = reason_code or self.default_reason_code
        self.http_status = http_status
        self.request_id = request_id
        self.body = dict(body) if body else {}

    @property
    def buyer_message(self) -> str:
        return BUYER_MESSAGE

    def __str__(self) -> str:
        parts = []
        if self.reason_code:
            parts.append(f"[{self.reason_code}]")
        if self.message:
            parts.append(self.message)
        context = []
        if self.http_status:
            context.append(f"HTTP {self.http_status}")
        if self.request_id:
            context.append(f"request id {self.request_id}")
        if context:
            parts.append(f"({', '.join(context)})")
        return " ".join(parts) or self.__class__.__name__

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(reason_code={self.reason_code!r}, "
            f"http_status={self.http_status!r}, request_id={self.request_id!r}, message={self.message!r})"
        )


class ConfigError(AmazonPayError, ValueError):
    """Configuration that can never work (raised at construction, never retried)."""

    def __init__(self, message: str, *, field: "str | None" = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


class SigningError(AmazonPayError):
    pass


class TransportError(AmazonPayError):
    """No HTTP answer from Amazon."""

    should_retry = True
    #: True when the request may have reached Amazon and changed state there.
    outcome_unknown = True


class ConnectError(TransportError):
    """The connection failed before the request was sent: nothing happened at Amazon."""

    outcome_unknown = False


class ResponseTimeout(TransportError):
    """The request was sent but no (complete) answer arrived: the outcome is unknown."""


class ApiError(AmazonPayError):
    """Amazon answered with an error status."""


class InvalidRequestError(ApiError):
    pass


class AmountMismatchError(InvalidRequestError):
    pass


class IdempotencyError(ApiError):
    default_reason_code = "DuplicateIdempotencyKey"


class AuthenticationError(ApiError):
    pass


class NotFoundError(ApiError):
    default_reason_code = "ResourceNotFound"


class InvalidStateError(ApiError):
    pass


class DeclinedError(ApiError):
    pass


class RateLimitError(ApiError):
    default_reason_code = "TooManyRequests"
    should_retry = True


class ServerError(ApiError):
    should_retry = True


class IpnVerificationError(AmazonPayError):
    pass


_BY_REASON: dict[str, type[ApiError]] = {
    "DuplicateIdempotencyKey": IdempotencyError,
    "AmountMismatch": AmountMismatchError,
    "CurrencyMismatch": AmountMismatchError,
    "InvalidRequestSignature": AuthenticationError,
    "InvalidAuthentication": AuthenticationError,
    "UnauthorizedAccess": AuthenticationError,
    "InvalidAccountStatus": AuthenticationError,
    "InvalidAuthorizationToken": AuthenticationError,
    "ResourceNotFound": NotFoundError,
    "InvalidCheckoutSessionStatus": InvalidStateError,
    "InvalidChargePermissionStatus": InvalidStateError,
    "InvalidChargeStatus": InvalidStateError,
    "ChargePermissionNotModifiable": InvalidStateError,
    "CheckoutSessionCanceled": InvalidStateError,
    "TransactionCountExceeded": InvalidStateError,
    "HardDeclined": DeclinedError,
    "SoftDeclined": DeclinedError,
    "AmazonRejected": DeclinedError,
    "PaymentMethodNotAllowed": DeclinedError,
    "MFANotCompleted": DeclinedError,
    "TransactionTimedOut": DeclinedError,
    "TransactionAmountExceeded": DeclinedError,
    "PeriodicAmountExceeded": DeclinedError,
    "TooManyRequests": RateLimitError,
    "InternalServerError": ServerError,
    "ServiceUnavailable": ServerError,
    "ProcessingFailure": ServerError,
    "RequestTimeout": ServerError,
}


def _class_for_status(status: int) -> type[ApiError]:
    if status == 429:
        return RateLimitError
    if status in (408, 425) or status >= 500:
        return ServerError
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status == 409:
        return AmountMismatchError
    if status == 422:
        return InvalidStateError
    return InvalidRequestError


def error_from_response(status: int, body: "Mapping[str, Any] | None", request_id: "str | None") -> ApiError:
    """Build the right :class:`ApiError` for an Amazon error answer."""
    body = body if isinstance(body, Mapping) else {}
    reason = body.get("reasonCode") if isinstance(body.get("reasonCode"), str) else None
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    cls = _BY_REASON.get(reason or "") or _class_for_status(status)
    error = cls(message or f"Amazon Pay answered HTTP {status}", reason_code=reason,
                http_status=status, request_id=request_id, body=body)
    if status in RETRYABLE_STATUSES:
        error.should_retry = True
    return error
