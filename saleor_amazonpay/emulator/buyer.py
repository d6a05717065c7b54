"""The hosted buyer journey: what happens on Amazon's pages between the merchant's
button and the merchant's return URLs.

    checkout.js button --POST signed payload--> /_emulator/buyer/signin
        (verify the button signature, create an Open Checkout Session)
      --303--> /_emulator/buyer/approve?checkoutSessionId=...   (pick address + instrument)
      --302--> checkoutReviewReturnUrl?amazonCheckoutSessionId=...
    merchant: Update Checkout Session -> amazonPayRedirectUrl
    buyer: amazonPayRedirectUrl = /_emulator/buyer/confirm/<id>
      --302--> checkoutResultReturnUrl?amazonCheckoutSessionId=...
    merchant: Complete Checkout Session

``checkoutMode: "ProcessOrder"`` (additional payment button) skips the review step: the
approval goes straight to the result URL. Every step also accepts JSON and answers JSON,
so tests can drive it without parsing HTML.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..core.constants import Environment, SignatureAlgorithm, environment_of_key_id
from ..core.signing import hex_sha256, verify
from . import pages, validation
from .errors import AmazonError
from .fixtures import find_address, find_instrument
from .objects import CheckoutSession
from .wire import Request, Response, html_response, json_response, redirect

if TYPE_CHECKING:  # pragma: no cover
    from .app import EmulatorApp

_CONFIRM_PATH = re.compile(r"^/_emulator/buyer/confirm/(?P<id>[^/]+)$")


def with_session_id(url: str, checkout_session_id: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [("amazonCheckoutSessionId", checkout_session_id)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _stripcslashes(text: str) -> str:
    # PHP's generateButtonSignature signs stripcslashes($payload): "https:\/\/" and \" are
    # unescaped before hashing while the browser still holds the escaped JSON.
    return re.sub(r"\\(.)", lambda m: m.group(1), text)


def verify_button_signature(public_key, payload_json: str, signature: str, algorithm: SignatureAlgorithm) -> bool:
    """``ALGO\\nhex(sha256(payloadJSON))`` with the merchant's public key (notes §2)."""
    for candidate in dict.fromkeys((payload_json, _stripcslashes(payload_json))):
        if verify(public_key, algorithm, f"{algorithm.value}\n{hex_sha256(candidate)}", signature):
            return True
    return False


def _params(request: Request) -> "dict[str, Any]":
    """Form fields, or a JSON object for the programmatic shortcuts."""
    if not request.is_json:
        return request.form()
    try:
        data = request.json() if request.body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise AmazonError(400, "InvalidRequestFormat", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise AmazonError(400, "InvalidRequestFormat", "The request body must be a JSON object.")
    return data


class BuyerPages:
    def __init__(self, app: "EmulatorApp") -> None:
        self.app = app

    @property
    def store(self):
        return self.app.store

    # -- routing --------------------------------------------------------------------------

    def handle(self, request: Request) -> "Response | None":
        path = request.path
        if path == "/_emulator/checkout.js" and request.method == "GET":
            return self.checkout_js(request)
        if path == "/_emulator/buyer/signin" and request.method in ("GET", "POST"):
            return self.signin(request)
        if path == "/_emulator/buyer/approve":
            if request.method == "GET":
                return self.approval_page(request)
            if request.method == "POST":
                return self.approve_request(request)
        found = _CONFIRM_PATH.match(path)
        if found and request.method in ("GET", "POST"):
            return self.confirm_request(request, found["id"])
        return None

    # -- checkout.js ----------------------------------------------------------------------

    def checkout_js(self, request: Request) -> Response:
        script = resources.files(__package__).joinpath("static/checkout.js").read_text(encoding="utf-8")
        origin = json.dumps(self.app.base_url_for(request))
        body = f"var AMAZON_PAY_EMULATOR_ORIGIN = {origin};\n{script}"
        return Response(200, body.encode("utf-8"), [("Content-Type", "application/javascript; charset=utf-8"),
                                                     ("Cache-Control", "no-store")])

    # -- sign-in with the signed button payload -------------------------------------------

    def signin(self, request: Request) -> Response:
        try:
            params = request.query if request.method == "GET" else _params(request)
            session = self.create_session_from_button(params)
        except AmazonError as error:
            return self._error(request, error, title="Amazon Pay cannot start this checkout")
        if request.is_json:
            return json_response(201, {"checkoutSessionId": session.checkout_session_id,
                                       "approveUrl": self._approve_url(request, session)})
        return redirect(self._approve_url(request, session), 303)

    def _approve_url(self, request: Request, session: CheckoutSession) -> str:
        base = self.app.base_url_for(request)
        return f"{base}/_emulator/buyer/approve?checkoutSessionId={session.checkout_session_id}"

    def create_session_from_button(self, params: "dict[str, Any]") -> CheckoutSession:
        """What Amazon does when the buyer clicks the button: check the merchant's signature
        over ``payloadJSON`` and create the Checkout Session it describes."""
        payload_json = params.get("payloadJSON") or params.get("payload") or ""
        signature = params.get("signature") or ""
        key_id = params.get("publicKeyId") or ""
        if not payload_json or not signature or not key_id:
            raise AmazonError(400, "MissingParameterValue",
                              "createCheckoutSessionConfig needs payloadJSON, signature and publicKeyId.")
        try:
            algorithm = SignatureAlgorithm.parse(params.get("algorithm") or SignatureAlgorithm.RSASSA_PSS.value)
        except ValueError as exc:
            raise AmazonError(400, "InvalidParameterValue", str(exc)) from None
        found = self.app.registry.by_public_key_id(key_id)
        if found is None:
            raise AmazonError(400, "InvalidParameterValue", f"Unknown publicKeyId {key_id}.")
        merchant, key = found
        if not verify_button_signature(key.public_key, payload_json, signature, algorithm):
            raise AmazonError(400, "InvalidRequestSignature",
                              "The button signature does not match payloadJSON: sign exactly the JSON string the "
                              "button receives, as ALGORITHM\\nhex(sha256(payloadJSON)).")
        merchant_id = params.get("merchantId")
        if merchant_id and merchant_id != merchant.merchant_id:
            raise AmazonError(400, "InvalidParameterValue",
                              f"merchantId {merchant_id} does not own publicKeyId {key_id}.")
        environment = environment_of_key_id(key.public_key_id) or (
            Environment.SANDBOX if str(params.get("sandbox", "true")).lower() in ("true", "1", "yes", "on")
            else Environment.LIVE)
        if environment not in merchant.key_environments(key):
            raise AmazonError(400, "InvalidParameterValue",
                              f"publicKeyId {key_id} is not valid in the {environment.value} environment.")
        ledger = params.get("ledgerCurrency")
        if ledger and ledger not in merchant.ledger_currencies:
            raise AmazonError(400, "InvalidParameterValue",
                              f"ledgerCurrency {ledger} is not a ledger currency of a {merchant.region} merchant.")
        try:
            payload = json.loads(payload_json)
        except ValueError:
            raise AmazonError(400, "InvalidRequestFormat", "payloadJSON is not valid JSON.") from None
        fields = validation.create_checkout_session(payload)
        if params.get("productType") and "productType" not in fields:
            if params["productType"] not in validation.PRODUCT_TYPES:
                raise AmazonError(400, "InvalidParameterValue", f"Unknown productType {params['productType']}.")
            fields["productType"] = params["productType"]
        session = self.store.create_checkout_session(merchant, environment, fields, source="button")
        return session

    # -- approval -------------------------------------------------------------------------

    def _session(self, checkout_session_id: str) -> CheckoutSession:
        return self.store.get_checkout_session(checkout_session_id)

    def _region(self, session: CheckoutSession) -> str:
        merchant = self.app.registry.get(session.owner.merchant_id)
        return merchant.region if merchant else "na"

    def approval_page(self, request: Request, error: "str | None" = None) -> Response:
        session_id = request.query.get("checkoutSessionId") or request.query.get("amazonCheckoutSessionId") or ""
        try:
            session = self._session(session_id)
            if not session.is_open:
                raise AmazonError(422, "InvalidCheckoutSessionStatus",
                                  f"This checkout is {session.state} and can no longer be used.")
        except AmazonError as exc:
            return html_response(400 if exc.status != 404 else 404, pages.error_page(exc.message))
        merchant = self.app.registry.get(session.owner.merchant_id)
        return html_response(200, pages.approval_page(
            session, region=self._region(session), store_name=(session.merchant_metadata.get("merchantStoreName")
                                                               or (merchant.store_name if merchant else "")),
            error=error))

    def approve(self, checkout_session_id: str, *, address: "str | None" = None, instrument: "str | None" = None,
                name: "str | None" = None, email: "str | None" = None) -> "tuple[str, str]":
        """Approve as the buyer. Returns ``(outcome, url)``: the review URL, or for
        ProcessOrder the result URL; for a soft decline, ``("soft_declined", "")``."""
        with self.store.lock:
            session = self._session(checkout_session_id)
            try:
                outcome = self.store.buyer_approve(session, address=address, instrument=instrument, name=name,
                                                   email=email, region=self._region(session))
            except KeyError as exc:
                raise AmazonError(400, "InvalidParameterValue", str(exc.args[0])) from None
            return outcome, self._destination(session, outcome)

    def _destination(self, session: CheckoutSession, outcome: str) -> str:
        if outcome == "soft_declined":
            return ""
        if outcome == "review":
            url = session.checkout_review_return_url or session.checkout_result_return_url
        else:
            url = session.checkout_result_return_url
        return with_session_id(url or "", session.checkout_session_id)

    def approve_request(self, request: Request) -> Response:
        try:
            data = _params(request)
        except AmazonError as error:
            return self._error(request, error)
        session_id = str(data.get("checkoutSessionId") or "")
        if data.get("action") == "cancel":
            return self._buyer_cancel(request, session_id)
        try:
            outcome, url = self.approve(session_id, address=data.get("address"), instrument=data.get("instrument"),
                                        name=data.get("name"), email=data.get("email"))
        except AmazonError as error:
            return self._error(request, error)
        return self._outcome_response(request, session_id, outcome, url)

    def _buyer_cancel(self, request: Request, session_id: str) -> Response:
        # Leaving Amazon's page does not cancel the session: the buyer may come back.
        try:
            session = self._session(session_id)
        except AmazonError as error:
            return self._error(request, error)
        if request.is_json:
            return json_response(200, {"checkoutSessionId": session_id, "outcome": "left",
                                       "redirectUrl": session.checkout_cancel_url})
        if session.checkout_cancel_url:
            return redirect(session.checkout_cancel_url)
        return html_response(200, pages.message_page("Checkout canceled", "You left Amazon Pay. You can close this "
                                                                          "page and return to the store."))

    # -- confirmation (amazonPayRedirectUrl) ----------------------------------------------

    def confirm(self, checkout_session_id: str, *, instrument: "str | None" = None) -> "tuple[str, str]":
        with self.store.lock:
            session = self._session(checkout_session_id)
            try:
                chosen = find_instrument(instrument) if instrument else None
            except KeyError as exc:
                raise AmazonError(400, "InvalidParameterValue", str(exc.args[0])) from None
            outcome = self.store.buyer_confirm(session, instrument=chosen)
            return outcome, self._destination(session, outcome)

    def confirm_request(self, request: Request, checkout_session_id: str) -> Response:
        try:
            instrument = _params(request).get("instrument") if request.method == "POST" else None
            outcome, url = self.confirm(checkout_session_id, instrument=instrument)
        except AmazonError as error:
            return self._error(request, error)
        return self._outcome_response(request, checkout_session_id, outcome, url)

    # -- answers --------------------------------------------------------------------------

    def _outcome_response(self, request: Request, session_id: str, outcome: str, url: str) -> Response:
        if request.is_json:
            return json_response(200, {"checkoutSessionId": session_id, "outcome": outcome, "redirectUrl": url or None})
        if outcome == "soft_declined":
            session = self._session(session_id)
            return html_response(200, pages.repick_page(
                session, "The payment method was declined (soft decline). Choose another payment method."))
        return redirect(url)

    @staticmethod
    def _error(request: Request, error: AmazonError, title: str = "Something went wrong") -> Response:
        if request.is_json:
            return json_response(error.status, error.body())
        status = 404 if error.status == 404 else 400
        return html_response(status, pages.error_page(f"{error.reason_code}: {error.message}", title))


__all__ = ["BuyerPages", "find_address", "verify_button_signature", "with_session_id"]
