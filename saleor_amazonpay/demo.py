"""One complete Amazon Pay checkout against the emulator, with the real client over HTTP.

What ``saleor-amazonpay demo`` (``make demo``) runs. It starts the emulator in-process on
a free loopback port, registers a fresh sandbox merchant and walks one buyer through
Amazon Pay's checkout v2 exactly as a shop and a browser would:

1. the shop signs the button payload;
2. the buyer clicks the button: the browser POSTs the signed payload to Amazon's sign-in
   page, approves with an address and a payment instrument and is sent back to the shop's
   review page with ``amazonCheckoutSessionId``;
3. the shop reads the Checkout Session (buyer, address, payment descriptor);
4. the shop sets the payment details and gets ``amazonPayRedirectUrl``;
5. the buyer follows it and comes back to the shop's result page;
6. the shop completes the Checkout Session (Charge Permission, Charge);
7. the shop captures (partially, then the rest with a second Charge, for ``Authorize``);
8. the shop refunds part of it, and the refund settles;
9. the shop posts a delivery tracker;
10. a summary with the API call count.

Every Amazon Pay API call goes through :class:`~saleor_amazonpay.core.AmazonPayClient`
(signed with RSASSA-PSS, verified by the emulator); the buyer's side is plain HTTP with
``requests``, redirects followed by hand so each hop can be shown.

::

    result = run_demo(out=print, intent="Authorize", instrument="1111")
    result.ok, result.charge_permission_id, result.captured_total, result.api_calls
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any, Callable
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from .core import (
    AmazonPayClient,
    AmazonPayConfig,
    AmazonPayError,
    CallRecord,
    PaymentIntent,
    Price,
)
from .core.models import Charge, currency_exponent
from .emulator import INSTRUMENTS, Emulator
from .emulator.fixtures import find_instrument

__all__ = ["INTENTS", "REGIONS", "DemoError", "DemoResult", "run_demo"]

#: The shop's pages Amazon sends the buyer back to. Nothing listens there: the demo
#: reads ``amazonCheckoutSessionId`` from the redirect, as the storefront would.
REVIEW_URL = "https://shop.example.com/checkout/review"
RESULT_URL = "https://shop.example.com/checkout/result"

INTENTS = tuple(intent.value for intent in PaymentIntent)

#: region -> (ledger currency, test address on Amazon's page, order total)
REGIONS: "dict[str, tuple[str, str, str]]" = {
    "na": ("USD", "US", "100.00"),
    "eu": ("EUR", "DE", "100.00"),
    "uk": ("GBP", "UK", "100.00"),
    "jp": ("JPY", "JP", "10000"),
}

TRACKING_NUMBER = "1Z999AA10123456784"
CARRIER_CODE = "UPS"

_SESSION_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,128}$")


class DemoError(Exception):
    """A step did not go as Amazon's flow says it should (a buyer page refused, a state
    is not the expected one). ``reason_code`` is Amazon's when there is one."""

    def __init__(self, message: str, reason_code: "str | None" = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason_code = reason_code


@dataclass
class DemoResult:
    """What the demo did: ids in Amazon's formats, money moved, API calls made."""

    ok: bool
    intent: str
    instrument: str
    region: str
    currency: str
    emulator_url: str = ""
    merchant_id: str = ""
    store_id: str = ""
    public_key_id: str = ""
    checkout_session_id: "str | None" = None
    charge_permission_id: "str | None" = None
    #: Every Charge, in creation order (Complete's first, then Create Charge's).
    charge_ids: "list[str]" = field(default_factory=list)
    refund_id: "str | None" = None
    order_total: Decimal = Decimal(0)
    captured_total: Decimal = Decimal(0)
    refunded_total: Decimal = Decimal(0)
    checkout_session_state: "str | None" = None
    charge_permission_state: "str | None" = None
    refund_state: "str | None" = None
    tracker: "tuple[str, str] | None" = None
    #: HTTP attempts made by the client (``CallRecord``s seen by its observer).
    api_calls: int = 0
    api_operations: "list[str]" = field(default_factory=list)
    buyer_requests: int = 0
    ipn_notifications: int = 0
    #: On failure: the step, Amazon's reasonCode and message.
    failed_step: "int | None" = None
    reason_code: "str | None" = None
    error: "str | None" = None
    duration: float = 0.0
    #: The emulator's own view at the end (``EmulatorApp.objects(merchant_id)``).
    emulator_objects: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def charge_id(self) -> "str | None":
        return self.charge_ids[0] if self.charge_ids else None

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


# -- the buyer's browser ------------------------------------------------------------------


class _FormParser(HTMLParser):
    """Collect the fields a browser would submit from the first ``<form>`` of a page:
    text/hidden inputs, checked radios and checkboxes, selected options."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.action: "str | None" = None
        self.fields: "dict[str, str]" = {}
        self._in_form = False
        self._done = False
        self._select: "str | None" = None
        self._select_first: "str | None" = None
        self._select_chosen = False

    def handle_starttag(self, tag: str, attrs: "list[tuple[str, str | None]]") -> None:
        if self._done:
            return
        attr = {name: (value or "") for name, value in attrs}
        if tag == "form" and not self._in_form:
            self._in_form = True
            self.action = attr.get("action", "")
        if not self._in_form:
            return
        name = attr.get("name")
        if tag == "input" and name:
            kind = attr.get("type", "text").lower()
            if kind in ("radio", "checkbox"):
                if "checked" in attr:
                    self.fields[name] = attr.get("value", "on")
            elif kind not in ("submit", "button", "image", "reset", "file"):
                self.fields[name] = attr.get("value", "")
        elif tag == "select" and name:
            self._select, self._select_first, self._select_chosen = name, None, False
        elif tag == "option" and self._select:
            value = attr.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in attr:
                self.fields[self._select] = value
                self._select_chosen = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select:
            if not self._select_chosen and self._select_first is not None:
                self.fields[self._select] = self._select_first
            self._select = None
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True


def _page_error(html: str) -> "tuple[str | None, str]":
    """The reasonCode and text of an emulator error page (``#amazonpay-error``)."""
    found = re.search(r'id="amazonpay-error"[^>]*>(.*?)</p>', html, re.S)
    text = re.sub(r"<[^>]+>", "", found[1]).strip() if found else html[:200]
    from html import unescape

    text = unescape(text)
    code = re.match(r"([A-Z][A-Za-z]+): ", text)
    return (code[1] if code else None), text


def _location(response: requests.Response) -> str:
    return urljoin(response.url, response.headers.get("Location", ""))


def _session_id_from(url: str) -> str:
    values = parse_qs(urlsplit(url).query).get("amazonCheckoutSessionId") or [""]
    if not _SESSION_ID_RE.fullmatch(values[0]):
        raise DemoError(f"no amazonCheckoutSessionId in the redirect to {url}")
    return values[0]


def _short(url: str, base: str) -> str:
    return url[len(base):] if base and url.startswith(base) else url


def _money(amount: Decimal, currency: str) -> str:
    return f"{Price(amount, currency).formatted()} {currency}"


def _prefix(text: str, length: int = 24) -> str:
    return f"{text[:length]}... ({len(text)} chars)" if len(text) > length else text


# -- the demo -------------------------------------------------------------------------------


class _Demo:
    def __init__(self, out: Callable[[str], Any], quiet: bool, emulator: Emulator, intent: str,
                 instrument: str, region: str, result: DemoResult) -> None:
        self.out = out
        self.quiet = quiet
        self.emulator = emulator
        self.intent = intent
        self.instrument = instrument
        self.region = region
        self.result = result
        self.currency, self.address, total = REGIONS[region]
        self.total = Decimal(total)
        self.calls: "list[CallRecord]" = []
        self.browser = requests.Session()
        self.browser.headers["User-Agent"] = "Mozilla/5.0 (saleor-amazonpay demo buyer)"
        self.step = 0
        self.charge_states: "dict[str, str]" = {}
        self.order_ref = "DEMO" + time.strftime("%H%M%S")

    # -- output -----------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        if not self.quiet:
            self.out(text)

    def heading(self, text: str) -> None:
        self.step += 1
        self.say("")
        self.say(f"{self.step:>2}. {text}")

    def item(self, label: str, value: Any) -> None:
        self.say(f"    {label:<22} {value}")

    def hop(self, method: str, url: str, status: int, note: str = "") -> None:
        self.result.buyer_requests += 1
        base = self.emulator.url
        self.say(f"    {method:<4} {_short(url, base)}")
        self.say(f"         -> {status}{(' ' + note) if note else ''}")

    def price(self, amount: Decimal) -> Price:
        exponent = currency_exponent(self.currency)
        return Price(amount.quantize(Decimal(1).scaleb(-exponent)), self.currency)

    def money(self, amount: Decimal) -> str:
        return _money(amount, self.currency)

    def key(self, suffix: str) -> str:
        """Idempotency keys derived from the order, as a shop should (1-32 alphanumerics)."""
        return f"{self.order_ref}{suffix}"[:32]

    # -- browser helpers --------------------------------------------------------------

    def browse(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        response = self.browser.request(method, url, allow_redirects=False, timeout=10, **kwargs)
        if response.status_code >= 400:
            code, text = _page_error(response.text)
            self.hop(method, url, response.status_code, "error page")
            raise DemoError(f"Amazon's page answered {response.status_code}: {text}", code)
        return response

    # -- steps --------------------------------------------------------------------------

    def run(self) -> None:
        emulator, result = self.emulator, self.result
        config_kwargs, _private_pem = emulator.make_test_merchant("sandbox", self.region)
        config = AmazonPayConfig(**config_kwargs)
        del config_kwargs, _private_pem  # the private key lives in the config only
        client = AmazonPayClient(config, observers=[self.calls.append])
        result.merchant_id, result.store_id = config.merchant_id, config.store_id
        result.public_key_id = config.public_key_id
        self.say(f"Amazon Pay checkout v2 demo: emulator at {emulator.url} (sandbox, region {config.region})")
        self.item("merchant", f"{config.merchant_id}  (test merchant, fresh RSA key)")
        self.item("store id", config.store_id)
        self.item("public key id", config.public_key_id)
        self.item("order", f"{self.order_ref}  {self.money(self.total)}, paymentIntent {self.intent}, "
                           f"instrument {INSTRUMENTS[self.instrument].label}")
        try:
            session_id = self.button_and_sign_in(client)
            self.read_session(client, session_id)
            redirect_url = self.update_session(client, session_id)
            self.buyer_returns(session_id, redirect_url)
            self.complete(client, session_id)
            self.capture(client)
            self.refund(client)
            self.deliver(client)
        except (AmazonPayError, DemoError) as error:
            self.fail(client, error)
        finally:
            result.api_calls = len(self.calls)
            result.api_operations = [c.operation for c in self.calls]
        self.summary()

    def button_and_sign_in(self, client: AmazonPayClient) -> str:
        config = client.config
        self.heading("The shop signs the Amazon Pay button payload (merchant server)")
        payload = {
            "webCheckoutDetails": {"checkoutReviewReturnUrl": REVIEW_URL},
            "storeId": config.store_id,
            "scopes": ["name", "email", "phoneNumber", "billingAddress"],
        }
        button = client.generate_button_signature(payload)
        self.item("payloadJSON", button.payload_json)
        self.item("signature", _prefix(button.signature))
        self.item("publicKeyId", button.public_key_id)
        self.item("algorithm", button.algorithm.value)

        self.heading("The buyer clicks the button, signs in and approves (browser <-> Amazon)")
        url = f"{self.emulator.url}/_emulator/buyer/signin"
        form = dict(button.as_button_config(), merchantId=config.merchant_id, ledgerCurrency=self.currency,
                    checkoutLanguage="", productType="PayAndShip", placement="Checkout", sandbox="true")
        response = self.browse("POST", url, data={k: v for k, v in form.items() if v != ""})
        if response.status_code not in (302, 303):
            raise DemoError(f"the sign-in page answered {response.status_code}, not a redirect")
        approve_url = _location(response)
        self.hop("POST", url, response.status_code, "(signed payload verified, Checkout Session created)")

        page = self.browse("GET", approve_url)
        parser = _FormParser()
        parser.feed(page.text)
        if page.status_code != 200 or not parser.action or "checkoutSessionId" not in parser.fields:
            raise DemoError("the approval page has no approval form")
        self.hop("GET", approve_url, page.status_code, "approval page")
        fields = dict(parser.fields, address=self.address, instrument=self.instrument, action="approve")
        submit_url = urljoin(approve_url, parser.action)
        response = self.browse("POST", submit_url, data=fields)
        if response.status_code != 302:
            raise DemoError(f"approving answered {response.status_code}, not a redirect")
        review_url = _location(response)
        self.hop("POST", submit_url, 302, f"(address {self.address}, {INSTRUMENTS[self.instrument].label})")
        self.say(f"         -> {review_url}")
        session_id = _session_id_from(review_url)
        self.result.checkout_session_id = session_id
        self.item("checkoutSessionId", session_id)
        return session_id

    def read_session(self, client: AmazonPayClient, session_id: str) -> None:
        self.heading("The shop's review page reads the Checkout Session")
        session = client.get_checkout_session(session_id)
        self.item("state", session.status.state)
        if session.buyer:
            self.item("buyer", f"{session.buyer.name} <{session.buyer.email}>")
            self.item("buyerId", session.buyer.buyer_id)
        if session.shipping_address:
            address = session.shipping_address
            self.item("shipping address", f"{address.city}, {address.country_code}")
        self.item("payment descriptor", session.payment_descriptor)
        self.item("constraints", ", ".join(session.constraints) or "none")
        self.result.checkout_session_state = session.status.state

    def update_session(self, client: AmazonPayClient, session_id: str) -> str:
        self.heading("The shop sets the payment details (Update Checkout Session)")
        update = {
            "webCheckoutDetails": {"checkoutResultReturnUrl": RESULT_URL},
            "paymentDetails": {
                "paymentIntent": self.intent,
                "canHandlePendingAuthorization": False,
                "chargeAmount": self.price(self.total).to_api(),
            },
            "merchantMetadata": {
                "merchantReferenceId": self.order_ref,
                "merchantStoreName": "Saleor Demo Store",
                "noteToBuyer": "Thank you for testing Amazon Pay!",
            },
        }
        session = client.update_checkout_session(session_id, update)
        self.item("paymentIntent", session.payment_intent)
        self.item("chargeAmount", session.charge_amount)
        self.item("merchantReferenceId", session.merchant_reference_id)
        self.item("constraints", ", ".join(session.constraints) or "none")
        if not session.amazon_pay_redirect_url:
            raise DemoError("Update Checkout Session returned no amazonPayRedirectUrl "
                            f"(constraints: {', '.join(session.constraints)})")
        self.item("amazonPayRedirectUrl", _short(session.amazon_pay_redirect_url, self.emulator.url))
        return session.amazon_pay_redirect_url

    def buyer_returns(self, session_id: str, redirect_url: str) -> None:
        self.heading("The buyer follows amazonPayRedirectUrl and is sent back to the shop")
        response = self.browse("GET", redirect_url)
        if response.status_code == 200 and 'id="amazonpay-confirm-form"' in response.text:
            # A soft decline: Amazon asks for another instrument on its own page.
            self.hop("GET", redirect_url, 200, "soft decline: Amazon asks for another payment method")
            parser = _FormParser()
            parser.feed(response.text)
            replacement = "1111"
            submit_url = urljoin(redirect_url, parser.action or redirect_url)
            response = self.browse("POST", submit_url, data=dict(parser.fields, instrument=replacement))
            self.hop("POST", submit_url, response.status_code,
                     f"(the buyer picks {INSTRUMENTS[replacement].label})")
        else:
            self.hop("GET", redirect_url, response.status_code)
        if response.status_code != 302:
            raise DemoError(f"amazonPayRedirectUrl answered {response.status_code}, not a redirect")
        result_url = _location(response)
        self.say(f"         -> {result_url}")
        if _session_id_from(result_url) != session_id:
            raise DemoError("the result page got another amazonCheckoutSessionId")

    def complete(self, client: AmazonPayClient, session_id: str) -> None:
        self.heading("The shop's result page completes the Checkout Session")
        session = client.complete_checkout_session(session_id, self.price(self.total))
        result = self.result
        result.checkout_session_state = session.status.state
        result.charge_permission_id = session.charge_permission_id
        self.item("state", session.status.state + (" (authorization pending)" if session.authorization_pending
                                                   else ""))
        self.item("chargePermissionId", session.charge_permission_id)
        if session.charge_id:
            result.charge_ids.append(session.charge_id)
            charge = client.get_charge(session.charge_id)
            self.charge_states[charge.charge_id] = charge.status.state
            self.item("chargeId", f"{session.charge_id}  {charge.status.state} {charge.charge_amount}")
        else:
            self.item("chargeId", "none (paymentIntent Confirm: the payment method is saved, nothing charged)")
        if not session.charge_permission_id:
            raise DemoError("Complete Checkout Session returned no chargePermissionId")
        permission = client.get_charge_permission(session.charge_permission_id)
        result.charge_permission_state = permission.status.state
        self.item("chargePermission", f"{permission.status.state}, limit {permission.amount_limit}, "
                                      f"balance {permission.amount_balance}")

    def capture(self, client: AmazonPayClient) -> None:
        result = self.result
        cp_id = result.charge_permission_id
        assert cp_id is not None
        charges: "list[Charge]" = []
        if self.intent == PaymentIntent.AUTHORIZE.value:
            self.heading("The shop captures: part now, the rest with a second Charge")
            first = self.price(self.total * Decimal("0.6"))
            rest = self.price(self.total - first.amount)
            charge = client.capture_charge(result.charge_ids[0], first, idempotency_key=self.key("cap1"))
            self._expect(charge.status.state, "Captured", "Capture Charge")
            self.item("capture", f"{charge.charge_id}  {charge.status.state} {charge.captured_amount} "
                                 f"of {charge.charge_amount} (partial)")
            self.item("", "one capture per Charge: the uncaptured rest of this authorization is released")
            charges.append(charge)
            second = client.create_charge(cp_id, rest, capture_now=True, idempotency_key=self.key("chg2"))
            result.charge_ids.append(second.charge_id)
            self._expect(second.status.state, "Captured", "Create Charge (captureNow)")
            self.item("create charge", f"{second.charge_id}  {second.status.state} {second.captured_amount} "
                                       "(captureNow on the Charge Permission)")
            charges.append(second)
        elif self.intent == PaymentIntent.AUTHORIZE_WITH_CAPTURE.value:
            self.heading("Nothing to capture: AuthorizeWithCapture captured at Complete")
            charge = client.get_charge(result.charge_ids[0])
            self._expect(charge.status.state, "Captured", "Get Charge")
            self.item("charge", f"{charge.charge_id}  {charge.status.state} {charge.captured_amount}")
            charges.append(charge)
        else:
            self.heading("The shop charges the saved payment method (Create Charge, captureNow)")
            charge = client.create_charge(cp_id, self.price(self.total), capture_now=True,
                                          idempotency_key=self.key("chg1"))
            result.charge_ids.append(charge.charge_id)
            self._expect(charge.status.state, "Captured", "Create Charge (captureNow)")
            self.item("create charge", f"{charge.charge_id}  {charge.status.state} {charge.captured_amount}")
            charges.append(charge)
        self.charge_states.update((c.charge_id, c.status.state) for c in charges)
        result.captured_total = sum((c.captured_amount.amount for c in charges if c.captured_amount), Decimal(0))
        permission = client.get_charge_permission(cp_id)
        result.charge_permission_state = permission.status.state
        reason = f" ({permission.status.reason_code})" if permission.status.reason_code else ""
        self.item("captured in total", self.money(result.captured_total))
        self.item("chargePermission", f"{permission.status.state}{reason}, balance {permission.amount_balance}")

    def refund(self, client: AmazonPayClient) -> None:
        result = self.result
        self.heading("The shop refunds part of the first capture")
        charge_id = result.charge_ids[0]
        amount = self.price(self.total * Decimal("0.25"))
        refund = client.create_refund(charge_id, amount, idempotency_key=self.key("ref1"))
        result.refund_id, result.refund_state = refund.refund_id, refund.status.state
        self.item("refund", f"{refund.refund_id}  {refund.status.state} {refund.refund_amount}")
        seconds = int(self.emulator.app.settings.refund_seconds) + 1
        url = f"{self.emulator.url}/_emulator/clock/advance"
        response = self.browser.post(url, json={"seconds": seconds}, timeout=10)
        response.raise_for_status()
        self.say(f"    [emulator] POST /_emulator/clock/advance {{\"seconds\": {seconds}}}: Amazon settles the refund")
        refund = client.get_refund(refund.refund_id)
        result.refund_state = refund.status.state
        self.item("refund", f"{refund.refund_id}  {refund.status.state} {refund.refund_amount}")
        if refund.status.state != "Refunded":
            raise DemoError(f"the refund ended {refund.status.state}: {refund.status.reason_description or ''}",
                            refund.status.reason_code)
        charge = client.get_charge(charge_id)
        result.refunded_total = charge.refunded_amount.amount if charge.refunded_amount else Decimal(0)
        self.item("charge", f"{charge.charge_id}  captured {charge.captured_amount}, "
                            f"refunded {charge.refunded_amount}")

    def deliver(self, client: AmazonPayClient) -> None:
        result = self.result
        assert result.charge_permission_id is not None
        self.heading("The shop ships and posts the tracking number (Delivery Tracker)")
        tracker = client.create_delivery_tracker(result.charge_permission_id, TRACKING_NUMBER, CARRIER_CODE)
        result.tracker = (tracker.carrier_code, tracker.tracking_number)
        self.item("delivery tracker", f"{tracker.carrier_code} {tracker.tracking_number} "
                                      f"on {tracker.charge_permission_id}")
        result.ok = True

    # -- outcome ----------------------------------------------------------------------

    @staticmethod
    def _expect(state: str, wanted: str, what: str) -> None:
        if state != wanted:
            raise DemoError(f"{what} left the Charge {state}, expected {wanted}")

    def fail(self, client: AmazonPayClient, error: "AmazonPayError | DemoError") -> None:
        result = self.result
        result.ok = False
        result.failed_step = self.step
        result.reason_code = error.reason_code
        result.error = error.message or str(error)
        self.out("")
        self.out(f"FAILED at step {self.step}: reasonCode {error.reason_code or 'n/a'}: {result.error}")
        if isinstance(error, AmazonPayError) and error.request_id:
            self.out(f"    x-amz-pay-request-id {error.request_id}")
        if error.reason_code == "CheckoutSessionCanceled" and result.checkout_session_id:
            try:
                session = client.get_checkout_session(result.checkout_session_id)
            except AmazonPayError:
                return
            result.checkout_session_state = session.status.state
            self.out(f"    the Checkout Session is {session.status.state}: "
                     f"{session.status.reason_code} ({session.status.reason_description})")

    def summary(self) -> None:
        result = self.result
        app = self.emulator.app
        result.emulator_objects = app.objects(result.merchant_id or None)
        result.ipn_notifications = sum(1 for d in app.ipn.deliveries if d.merchant_id == result.merchant_id)
        rows = [
            ("checkoutSessionId", result.checkout_session_id or "-", result.checkout_session_state or ""),
            ("chargePermissionId", result.charge_permission_id or "-", result.charge_permission_state or ""),
        ]
        for index, charge_id in enumerate(result.charge_ids, start=1):
            rows.append((f"chargeId #{index}", charge_id, self.charge_states.get(charge_id, "")))
        rows.append(("refundId", result.refund_id or "-", result.refund_state or ""))
        if result.tracker:
            rows.append(("delivery tracker", " ".join(result.tracker), ""))
        rows += [
            ("order total", self.money(self.total), ""),
            ("captured total", self.money(result.captured_total), ""),
            ("refunded total", self.money(result.refunded_total), ""),
            ("net", self.money(result.captured_total - result.refunded_total), ""),
        ]
        width = max(len(r[1]) for r in rows)
        self.out("")
        self.out(f"{'' if self.quiet else str(self.step + 1) + '. '}Summary ({'OK' if result.ok else 'FAILED'})")
        line = f"    +{'-' * 20}+{'-' * (width + 2)}+{'-' * 14}+"
        self.out(line)
        for label, value, state in rows:
            self.out(f"    | {label:<18} | {value:<{width}} | {state:<12} |")
        self.out(line)
        by_operation = Counter(result.api_operations)
        breakdown = ", ".join(f"{op} {n}" for op, n in by_operation.items())
        self.out(f"    Amazon Pay API calls: {result.api_calls} signed HTTP requests ({breakdown})")
        self.out(f"    buyer page requests: {result.buyer_requests}; IPNs Amazon would send: "
                 f"{result.ipn_notifications} (no IPN endpoint configured)")


def run_demo(
    out: Callable[[str], Any] = print,
    intent: str = PaymentIntent.AUTHORIZE.value,
    instrument: str = "1111",
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    region: str = "na",
    quiet: bool = False,
    emulator: "Emulator | None" = None,
) -> DemoResult:
    """Run one checkout end to end against the emulator; print a numbered transcript
    through ``out`` (only the summary with ``quiet``) and return what happened.

    Without ``emulator`` one is started on ``host:port`` (port 0: a free port) and stopped
    afterwards; pass a started :class:`Emulator` to keep it, and its objects, afterwards.
    Amazon errors do not raise: ``result.ok`` is False, ``result.reason_code`` says why.
    """
    if intent not in INTENTS:
        raise ValueError(f"unknown paymentIntent {intent!r}; use one of {', '.join(INTENTS)}")
    code = find_instrument(instrument).code  # KeyError for an unknown one
    region_key = str(region).strip().lower()
    if region_key not in REGIONS:
        raise ValueError(f"unknown region {region!r}; use one of {', '.join(REGIONS)}")
    started = time.monotonic()
    own = emulator is None
    if own:
        emulator = Emulator(host=host, port=port, quiet=True).start()
    assert emulator is not None
    result = DemoResult(ok=False, intent=intent, instrument=code, region=region_key,
                        currency=REGIONS[region_key][0], emulator_url=emulator.url,
                        order_total=Decimal(REGIONS[region_key][2]))
    demo = _Demo(out, quiet, emulator, intent, code, region_key, result)
    try:
        demo.run()
    finally:
        demo.browser.close()
        if own:
            emulator.stop()
            emulator.app.ipn.close()
    result.duration = time.monotonic() - started
    return result


def result_json(result: DemoResult) -> str:
    """The result as JSON (without the emulator snapshot), for scripts."""
    data = {k: v for k, v in result.__dict__.items() if k != "emulator_objects"}
    return json.dumps(data, default=str, indent=2)
