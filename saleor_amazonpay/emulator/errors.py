"""Errors the emulator answers with, in Amazon's ``{"reasonCode", "message"}`` shape.

Handlers raise :class:`AmazonError`; the app turns it into the HTTP answer. Status codes
follow the table in the reference notes (§5) and agree with ``core.errors``'s mapping.
"""

from __future__ import annotations


class AmazonError(Exception):
    """An Amazon Pay error answer."""

    def __init__(self, status: int, reason_code: str, message: str) -> None:
        super().__init__(f"{status} {reason_code}: {message}")
        self.status = status
        self.reason_code = reason_code
        self.message = message

    def body(self) -> dict:
        return {"reasonCode": self.reason_code, "message": self.message}


class RequestValidationError(AmazonError):
    """The request body is malformed. Raised before any state is touched, so (as in
    Stripe) the answer is not stored against the idempotency key: the caller may fix the
    body and retry with the same key."""


def invalid(field: str, message: "str | None" = None) -> RequestValidationError:
    return RequestValidationError(400, "InvalidParameterValue",
                                  message or f"The value provided for {field} is invalid.")


def missing(field: str) -> RequestValidationError:
    return RequestValidationError(400, "MissingParameterValue", f"{field} is required.")


def not_found(what: str, object_id: str) -> AmazonError:
    return AmazonError(404, "ResourceNotFound", f"{what} {object_id} does not exist.")


def currency_mismatch(field: str, expected: str, got: str) -> AmazonError:
    return AmazonError(400, "CurrencyMismatch",
                       f"{field} currency {got} does not match the currency {expected} of this transaction.")


# Status codes Amazon answers for the injectable error faults.
FAULT_ERRORS = {
    408: ("RequestTimeout", "The request timed out. (emulator fault)"),
    425: ("TooEarly", "Too early. (emulator fault)"),
    429: ("TooManyRequests", "You exceeded the allowed request rate. (emulator fault)"),
    500: ("InternalServerError", "There was an unknown error in the service. (emulator fault)"),
    502: ("BadGateway", "Bad gateway. (emulator fault)"),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. (emulator fault)"),
    504: ("GatewayTimeout", "Gateway timeout. (emulator fault)"),
}
