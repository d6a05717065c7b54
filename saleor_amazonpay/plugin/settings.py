"""Per-channel configuration: the fields a merchant fills in, parsing and validation.

Pure Python (no Saleor imports) so every rule is unit-testable; ``plugin.py`` turns
:data:`FIELDS` into Saleor's ``CONFIG_STRUCTURE`` and the errors into ``ValidationError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from ..core import AmazonPayConfig, ConfigError, PaymentIntent, SignatureAlgorithm
from ..core.constants import (
    EU_PRESENTMENT_CURRENCIES,
    LEDGER_CURRENCIES,
    REGION_ALIASES,
    environment_of_key_id,
    Environment,
)

# Saleor's ConfigurationTypeField values, spelled out so this module needs no Saleor.
STRING, MULTILINE, BOOLEAN, SECRET_MULTILINE, PASSWORD, OUTPUT = (
    "String", "Multiline", "Boolean", "SecretMultiline", "Password", "OUTPUT",
)

PRODUCT_TYPES = ("PayAndShip", "PayOnly")
PLACEMENTS = ("Home", "Product", "Cart", "Checkout", "Other")
CHECKOUT_LANGUAGES = ("en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "ja_JP")
SCRIPT_URLS = {
    "na": "https://static-na.payments-amazon.com/checkout.js",
    "eu": "https://static-eu.payments-amazon.com/checkout.js",
    "jp": "https://static-fe.payments-amazon.com/checkout.js",
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: str
    help_text: str
    default: Any = ""


FIELDS: tuple[Field, ...] = (
    Field("merchant_id", STRING, "Merchant ID",
          "Your Amazon Pay merchant ID (Seller Central > Integration > Integration Central)."),
    Field("store_id", STRING, "Store ID",
          "The Store ID (client ID) of your Amazon Pay store, e.g. amzn1.application-oa2-client.…"),
    Field("public_key_id", STRING, "Public key ID",
          "The ID Amazon gave the public key you registered in Integration Central. IDs starting "
          "with SANDBOX- or LIVE- already decide the environment."),
    Field("private_key", SECRET_MULTILINE, "Private key",
          "The PEM private key matching the public key ID. Saleor never returns it through its API "
          "after saving; protect it at rest like any credential in your database."),
    Field("private_key_passphrase", PASSWORD, "Private key passphrase",
          "Only if the private key is encrypted with a passphrase."),
    Field("region", STRING, "Region",
          "Where your Amazon Pay account is registered: na (US), eu (Eurozone), uk (United Kingdom) or jp (Japan).",
          "na"),
    Field("sandbox", BOOLEAN, "Sandbox mode",
          "Use the Amazon Pay sandbox: no real money moves. Turn off only with live keys.", True),
    Field("payment_intent", STRING, "Payment intent",
          "Authorize: reserve the money and capture it later (e.g. on shipment). "
          "AuthorizeWithCapture: charge immediately at checkout. "
          "Confirm: only save the buyer's payment method; charge it later from the dashboard.",
          PaymentIntent.AUTHORIZE.value),
    Field("can_handle_pending_authorization", BOOLEAN, "Accept pending authorizations",
          "Let Amazon finish risky authorizations asynchronously (up to 24 hours) instead of "
          "declining them. Orders are created with a pending payment and updated by notifications.",
          False),
    Field("checkout_review_return_url", STRING, "Checkout review URL",
          "Your storefront page Amazon sends the buyer to after they sign in "
          "(Amazon appends ?amazonCheckoutSessionId=…). Must be https outside sandbox."),
    Field("checkout_result_return_url", STRING, "Checkout result URL",
          "Your storefront page Amazon sends the buyer to after approving the payment; it completes "
          "the checkout. Must be https outside sandbox."),
    Field("supported_currencies", STRING, "Supported currencies",
          "Comma-separated ISO currency codes this channel charges in (USD for na, EUR/GBP for eu, JPY for jp)."),
    Field("ledger_currency", STRING, "Ledger currency",
          "The currency of your Amazon Pay account; defaults to the region's currency."),
    Field("checkout_language", STRING, "Checkout language",
          "Language of the Amazon Pay pages, e.g. en_US, en_GB, de_DE, fr_FR, it_IT, es_ES, ja_JP. Empty: the buyer's."),
    Field("product_type", STRING, "Product type",
          "PayAndShip when Amazon should collect a shipping address, PayOnly for digital goods.", "PayAndShip"),
    Field("placement", STRING, "Button placement",
          "Where the button is shown: Home, Product, Cart, Checkout or Other.", "Checkout"),
    Field("soft_descriptor", STRING, "Statement descriptor",
          "Up to 16 characters shown on the buyer's card statement."),
    Field("merchant_store_name", STRING, "Store name",
          "Your shop name as shown to the buyer in Amazon's emails (up to 50 characters)."),
    Field("api_base_url", STRING, "API base URL override",
          "Leave empty in production. For development, the URL of the Amazon Pay emulator, e.g. http://127.0.0.1:8765."),
    Field("delivery_tracker_enabled", BOOLEAN, "Send tracking numbers to Amazon",
          "Post tracking numbers to Amazon's Delivery Tracker API when an order ships "
          "(Alexa delivery notifications and buyer protection).", True),
    Field("carrier_mapping", MULTILINE, "Shipping method to carrier code",
          "One mapping per line: <shipping method name or ID> = <Amazon carrier code>, e.g. 'Express = UPS'."),
    Field("capture_on_shipment", BOOLEAN, "Capture on shipment",
          "With the Authorize intent, capture the shipped amount when a fulfillment is created.", False),
    # -- notifications (IPN), see docs/notifications.md
    Field("ipn_url", OUTPUT, "Notification (IPN) URL",
          "Read only. Paste it into Seller Central > Integration > Integration Central > Instant "
          "Notifications as the Merchant URL. Amazon sends all notifications of a merchant account to "
          "one URL: it serves every channel configured with the same Merchant ID."),
    Field("ipn_topic_arns", STRING, "Allowed notification topics",
          "Optional. Comma-separated AWS SNS topic ARNs (arn:aws:sns:<region>:<account>:<topic>) Amazon Pay "
          "publishes your notifications from; anything else is refused. Amazon does not list them: copy "
          "the TopicArn the plugin logs for the first notifications it receives. Empty: any topic, "
          "but every signature is still verified and every object re-read from Amazon."),
    Field("ipn_trusted_certificate_url", STRING, "Emulator signing certificate URL (tests only)",
          "Only for tests against the Amazon Pay emulator: the URL of its SNS test certificate, e.g. "
          "<API base URL>/_emulator/sns-cert.pem. Refused unless sandbox mode is on and the API base URL "
          "override points at the same host. Production only ever trusts AWS SNS certificates."),
)

FIELD_NAMES = tuple(f.name for f in FIELDS)

_URL_RE = re.compile(r"^https?://", re.I)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("true", "1", "yes", "on")


def _as_str(value: Any) -> str:
    return "" if value is None else str(value).strip()


def parse_carrier_mapping(text: str) -> dict[str, str]:
    """``name-or-id = CODE`` lines -> {lowercased key: CODE}. Blank and # lines ignored."""
    mapping: dict[str, str] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, code = line.rpartition("=")  # the last "=": GraphQL ids may end with "="
        if not sep or not key.strip() or not code.strip():
            raise ValueError(f"line {line!r} is not '<shipping method> = <carrier code>'")
        mapping[key.strip().lower()] = code.strip().upper()
    return mapping


@dataclass(frozen=True)
class ChannelSettings:
    """One channel's Amazon Pay configuration, typed."""

    merchant_id: str = ""
    store_id: str = ""
    public_key_id: str = ""
    private_key: str = field(default="", repr=False)
    private_key_passphrase: str = field(default="", repr=False)
    region: str = "na"
    sandbox: bool = True
    payment_intent: str = PaymentIntent.AUTHORIZE.value
    can_handle_pending_authorization: bool = False
    checkout_review_return_url: str = ""
    checkout_result_return_url: str = ""
    supported_currencies: tuple[str, ...] = ()
    ledger_currency: str = ""
    checkout_language: str = ""
    product_type: str = "PayAndShip"
    placement: str = "Checkout"
    soft_descriptor: str = ""
    merchant_store_name: str = ""
    api_base_url: str = ""
    delivery_tracker_enabled: bool = True
    carrier_mapping: str = ""
    capture_on_shipment: bool = False
    ipn_url: str = ""
    ipn_topic_arns: str = ""
    ipn_trusted_certificate_url: str = ""

    @classmethod
    def from_items(cls, items: "Iterable[Mapping[str, Any]] | Mapping[str, Any]") -> "ChannelSettings":
        """From Saleor's ``[{"name", "value"}]`` list (or a plain dict)."""
        values = dict(items) if isinstance(items, Mapping) else {i["name"]: i.get("value") for i in items}
        kwargs: dict[str, Any] = {}
        for f in FIELDS:
            raw = values.get(f.name, f.default)
            if f.type == BOOLEAN:
                kwargs[f.name] = _as_bool(raw)
            elif f.name == "supported_currencies":
                kwargs[f.name] = tuple(c.strip().upper() for c in _as_str(raw).split(",") if c.strip())
            elif f.type in (SECRET_MULTILINE, MULTILINE):
                kwargs[f.name] = "" if raw is None else str(raw).strip()
            else:
                kwargs[f.name] = _as_str(raw)
        kwargs["region"] = REGION_ALIASES.get(kwargs["region"].lower(), kwargs["region"].lower())
        return cls(**kwargs)

    # -- derived ------------------------------------------------------------------------

    @property
    def intent(self) -> PaymentIntent:
        return PaymentIntent(self.payment_intent)

    @property
    def currencies(self) -> tuple[str, ...]:
        return self.supported_currencies or LEDGER_CURRENCIES.get(self.region, ())[:1]

    @property
    def effective_ledger_currency(self) -> str:
        return (self.ledger_currency or LEDGER_CURRENCIES.get(self.region, ("USD",))[0]).upper()

    @property
    def button_script_url(self) -> str:
        if self.api_base_url:
            return f"{self.api_base_url.rstrip('/')}/_emulator/checkout.js"
        return SCRIPT_URLS.get(self.region, SCRIPT_URLS["na"])

    @property
    def ipn_topics(self) -> tuple[str, ...]:
        """The allowed SNS topic ARNs (empty: any topic)."""
        return tuple(dict.fromkeys(t.strip() for t in self.ipn_topic_arns.split(",") if t.strip()))

    @property
    def trusted_certificate_url(self) -> str:
        """The emulator's certificate URL, only when :func:`trusted_certificate_problem` allows it."""
        if not self.ipn_trusted_certificate_url or trusted_certificate_problem(self):
            return ""
        return self.ipn_trusted_certificate_url

    def carriers(self) -> dict[str, str]:
        try:
            return parse_carrier_mapping(self.carrier_mapping)
        except ValueError:
            return {}

    def fingerprint(self) -> tuple:
        """Identity of everything that changes how we talk to Amazon (for caches)."""
        return (self.merchant_id, self.store_id, self.public_key_id, self.private_key,
                self.private_key_passphrase, self.region, self.sandbox, self.api_base_url)

    def client_config(self) -> AmazonPayConfig:
        return AmazonPayConfig(
            merchant_id=self.merchant_id,
            store_id=self.store_id,
            public_key_id=self.public_key_id,
            private_key=self.private_key,
            private_key_passphrase=self.private_key_passphrase or None,
            region=self.region,
            sandbox=self.sandbox,
            algorithm=SignatureAlgorithm.RSASSA_PSS_V2,
            base_url=self.api_base_url or None,
        )

    def __repr__(self) -> str:
        return (f"ChannelSettings(merchant_id={self.merchant_id!r}, store_id={self.store_id!r}, "
                f"public_key_id={self.public_key_id!r}, region={self.region!r}, sandbox={self.sandbox!r}, "
                f"payment_intent={self.payment_intent!r}, private_key=***)")


_TOPIC_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:sns:[a-z0-9\-]{1,32}:[0-9]{12}:[A-Za-z0-9_\-.]{1,256}$")


def _origin(url: str) -> "tuple[str, str] | None":
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, f"{parts.hostname.lower()}:{port or (443 if parts.scheme == 'https' else 80)}"


def trusted_certificate_problem(settings: "ChannelSettings") -> "str | None":
    """Why ``ipn_trusted_certificate_url`` must not be honoured (None: it may be, for tests).

    A test certificate is trusted only in sandbox mode, with the API base URL override set
    (i.e. against the emulator) and on that same origin: production never trusts anything
    but AWS SNS certificates.
    """
    url = settings.ipn_trusted_certificate_url
    if not url:
        return None
    if not settings.sandbox:
        return "A test signing certificate is only allowed in sandbox mode."
    if not settings.api_base_url:
        return "A test signing certificate is only allowed with the API base URL override (the emulator)."
    origin = _origin(url)
    if origin is None or any(c.isspace() for c in url):
        return "The test signing certificate URL must be an absolute http(s) URL."
    if origin != _origin(settings.api_base_url):
        return "The test signing certificate must be served by the API base URL override's host (the emulator)."
    return None


def allowed_currencies(region: str) -> tuple[str, ...]:
    if region == "eu":
        return tuple(dict.fromkeys(LEDGER_CURRENCIES["eu"] + EU_PRESENTMENT_CURRENCIES))
    return LEDGER_CURRENCIES.get(region, ())


def _check_return_url(value: str, sandbox: bool, label: str) -> "str | None":
    if not value:
        return f"{label} is required."
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{label} must be an absolute URL."
    if parts.scheme != "https" and not sandbox:
        return f"{label} must use https outside sandbox mode."
    return None


def validate(settings: ChannelSettings) -> dict[str, str]:
    """Return {field name: merchant-readable problem}; empty when the configuration works."""
    errors: dict[str, str] = {}
    for name, label in (("merchant_id", "Merchant ID"), ("store_id", "Store ID"),
                        ("public_key_id", "Public key ID"), ("private_key", "Private key")):
        if not getattr(settings, name):
            errors[name] = f"{label} is required."
    if settings.region not in LEDGER_CURRENCIES:
        errors["region"] = "Region must be one of na, eu, uk or jp."
    key_env = environment_of_key_id(settings.public_key_id) if settings.public_key_id else None
    if key_env is not None and (key_env is Environment.SANDBOX) != settings.sandbox:
        errors["public_key_id"] = (
            f"This is a {key_env.value} key ID but sandbox mode is "
            f"{'on' if settings.sandbox else 'off'}: use a key ID for the same environment."
        )
    if settings.payment_intent not in {i.value for i in PaymentIntent}:
        errors["payment_intent"] = "Payment intent must be Authorize, AuthorizeWithCapture or Confirm."
    if settings.region in LEDGER_CURRENCIES:
        allowed = allowed_currencies(settings.region)
        bad = [c for c in settings.currencies if c not in allowed]
        if bad:
            errors["supported_currencies"] = (
                f"Amazon Pay in region {settings.region} does not support {', '.join(bad)}; "
                f"use {', '.join(allowed)}."
            )
        if settings.ledger_currency and settings.ledger_currency.upper() not in LEDGER_CURRENCIES[settings.region]:
            errors["ledger_currency"] = (
                f"The ledger currency for region {settings.region} is one of {', '.join(LEDGER_CURRENCIES[settings.region])}."
            )
    for name, label in (("checkout_review_return_url", "Checkout review URL"),
                        ("checkout_result_return_url", "Checkout result URL")):
        problem = _check_return_url(getattr(settings, name), settings.sandbox, label)
        if problem:
            errors[name] = problem
    if settings.product_type not in PRODUCT_TYPES:
        errors["product_type"] = f"Product type must be one of {', '.join(PRODUCT_TYPES)}."
    if settings.placement not in PLACEMENTS:
        errors["placement"] = f"Button placement must be one of {', '.join(PLACEMENTS)}."
    if settings.checkout_language and settings.checkout_language not in CHECKOUT_LANGUAGES:
        errors["checkout_language"] = f"Checkout language must be one of {', '.join(CHECKOUT_LANGUAGES)}."
    if len(settings.soft_descriptor) > 16:
        errors["soft_descriptor"] = "The statement descriptor can have at most 16 characters."
    if len(settings.merchant_store_name) > 50:
        errors["merchant_store_name"] = "The store name can have at most 50 characters."
    if settings.api_base_url:
        parts = urlsplit(settings.api_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors["api_base_url"] = "The API base URL must be an absolute http(s) URL."
        elif not settings.sandbox:
            errors["api_base_url"] = "An API base URL override is only allowed in sandbox mode."
    try:
        parse_carrier_mapping(settings.carrier_mapping)
    except ValueError as exc:
        errors["carrier_mapping"] = str(exc)
    bad_topics = [t for t in settings.ipn_topics if not _TOPIC_ARN_RE.match(t)]
    if bad_topics:
        errors["ipn_topic_arns"] = (
            "Notification topics must be SNS topic ARNs like arn:aws:sns:us-east-1:123456789012:Name, "
            "separated by commas."
        )
    problem = trusted_certificate_problem(settings)
    if problem:
        errors["ipn_trusted_certificate_url"] = problem
    if settings.capture_on_shipment and settings.payment_intent != PaymentIntent.AUTHORIZE.value:
        errors["capture_on_shipment"] = "Capture on shipment needs the Authorize payment intent."
    if "private_key" not in errors and not (errors.keys() & {"merchant_id", "store_id", "public_key_id", "region"}):
        try:
            settings.client_config().validate()
        except ConfigError as exc:
            errors[exc.field or "private_key"] = f"The private key cannot be used: {exc.message}"
    return errors
