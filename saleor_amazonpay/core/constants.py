"""Protocol constants of Amazon Pay API v2 (Checkout v2).

Values are spelled exactly as the official SDKs send them; the emulator and the
client share this module so the two can never drift apart.
"""

from __future__ import annotations

import enum

API_VERSION = "v2"

#: API host per region. UK and DE merchants use the EU host: there is no UK host.
API_HOSTS = {
    "na": "pay-api.amazon.com",
    "eu": "pay-api.amazon.eu",
    "jp": "pay-api.amazon.jp",
}

#: Aliases a merchant may configure -> the region the API knows.
REGION_ALIASES = {
    "na": "na",
    "us": "na",
    "eu": "eu",
    "de": "eu",
    "uk": "eu",
    "gb": "eu",
    "jp": "jp",
}

#: Currencies a merchant can settle in (ledger currency) per API region.
LEDGER_CURRENCIES = {
    "na": ("USD",),
    "eu": ("EUR", "GBP"),
    "jp": ("JPY",),
}

#: Presentment currencies for EU/UK multi-currency merchants.
EU_PRESENTMENT_CURRENCIES = (
    "AUD", "GBP", "DKK", "EUR", "HKD", "JPY", "NZD", "NOK", "ZAR", "SEK", "CHF", "USD",
)

#: Currencies whose amounts carry no decimals.
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY"})

#: The largest chargeAmount Amazon accepts, per currency (Amazon's charge limits).
MAX_CHARGE_AMOUNT = {"USD": "150000", "GBP": "150000", "EUR": "150000", "JPY": "10000000"}

#: Idempotency keys: at most 32 characters, alphanumeric.
IDEMPOTENCY_KEY_MAX_LENGTH = 32

#: Headers always signed by this client (the minimum set shared by every SDK).
DEFAULT_SIGNED_HEADERS = (
    "accept",
    "content-type",
    "x-amz-pay-date",
    "x-amz-pay-host",
    "x-amz-pay-region",
)
IDEMPOTENCY_HEADER = "x-amz-pay-idempotency-key"
REQUEST_ID_HEADER = "x-amz-pay-request-id"
SIMULATION_HEADER = "x-amz-pay-simulation-code"
DATE_HEADER = "x-amz-pay-date"
HOST_HEADER = "x-amz-pay-host"
REGION_HEADER = "x-amz-pay-region"

#: Hex SHA-256 of the empty payload, used for GET requests.
EMPTY_PAYLOAD_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class SignatureAlgorithm(str, enum.Enum):
    """Both are RSASSA-PSS / SHA-256 / MGF1-SHA-256; they differ only in salt length."""

    RSASSA_PSS = "AMZN-PAY-RSASSA-PSS"
    RSASSA_PSS_V2 = "AMZN-PAY-RSASSA-PSS-V2"

    @property
    def salt_length(self) -> int:
        return 32 if self is SignatureAlgorithm.RSASSA_PSS_V2 else 20

    @classmethod
    def parse(cls, value: "str | SignatureAlgorithm") -> "SignatureAlgorithm":
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid Amazon Pay signature algorithm") from None


class Environment(str, enum.Enum):
    SANDBOX = "sandbox"
    LIVE = "live"


class PaymentIntent(str, enum.Enum):
    AUTHORIZE = "Authorize"
    AUTHORIZE_WITH_CAPTURE = "AuthorizeWithCapture"
    CONFIRM = "Confirm"


class CheckoutSessionState(str, enum.Enum):
    OPEN = "Open"
    COMPLETED = "Completed"
    CANCELED = "Canceled"


class ChargeState(str, enum.Enum):
    AUTHORIZATION_INITIATED = "AuthorizationInitiated"
    AUTHORIZED = "Authorized"
    CAPTURE_INITIATED = "CaptureInitiated"
    CAPTURED = "Captured"
    CANCELED = "Canceled"
    DECLINED = "Declined"
    #: Listed among Amazon's states by the .NET SDK; treated like AuthorizationInitiated.
    PENDING = "Pending"


class ChargePermissionState(str, enum.Enum):
    CHARGEABLE = "Chargeable"
    NON_CHARGEABLE = "NonChargeable"
    CLOSED = "Closed"


class RefundState(str, enum.Enum):
    REFUND_INITIATED = "RefundInitiated"
    REFUNDED = "Refunded"
    DECLINED = "Declined"


def is_env_specific_key_id(public_key_id: str) -> bool:
    """``SANDBOX-…``/``LIVE-…`` key ids carry the environment; the path then drops it."""
    upper = public_key_id.upper()
    return upper.startswith("SANDBOX") or upper.startswith("LIVE")


def environment_of_key_id(public_key_id: str) -> "Environment | None":
    upper = public_key_id.upper()
    if upper.startswith("SANDBOX"):
        return Environment.SANDBOX
    if upper.startswith("LIVE"):
        return Environment.LIVE
    return None
