"""The emulator as a WSGI application.

An API call goes through the envelope checks in a fixed order, like stripe-mock's
``HandleRequest``, each failing with Amazon's error shape:

    fault injection -> signature -> date skew -> host/region -> key/environment
    -> idempotency -> route (404/405) -> body validation -> handler

``/_emulator/...`` is the emulator's own surface (admin API, hosted buyer pages,
checkout.js, the SNS certificate): unsigned, never subject to faults. Every response,
errors and admin included, carries ``x-amz-pay-request-id``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from ..core.carriers import CARRIER_CODE_RE
from ..core.constants import (
    IDEMPOTENCY_HEADER,
    REQUEST_ID_HEADER,
    SIMULATION_HEADER,
    Environment,
)
from . import ids, routes
from .admin import AdminApi
from .api import HANDLERS, ApiContext
from .buyer import BuyerPages
from .clock import Clock, iso_millis
from .errors import AmazonError, RequestValidationError
from .faults import FAULT_REQUEST_HEADER, FaultQueue, FaultRule, parse_fault_header
from .idempotency import IdempotencyCache, check_key
from .ipn import IpnDispatcher
from .merchants import MerchantRegistry
from .objects import Owner
from .settings import EmulatorSettings
from .sns import SigningIdentity
from .store import Store
from .verify import RequestVerifier
from .wire import (
    FAULT_HEADER,
    Request,
    Response,
    error_response,
    json_response,
    with_request_id,
)

logger = logging.getLogger("saleor_amazonpay.emulator")

DEFAULT_BASE_URL = "http://pay-api.test"
REPLAY_HEADER = "x-emulator-idempotent-replay"
ORIGINAL_REQUEST_ID_HEADER = "x-emulator-original-request-id"


def load_carrier_codes(source: "str | Path | Iterable[str] | None") -> "frozenset[str] | None":
    """Carrier codes the emulator accepts on Delivery Trackers, or None for "any well-formed code".

    ``source`` is a set of codes or the path of Amazon's carrier list CSV (``name,code`` lines,
    downloadable from the "Delivery notifications" page): the package ships no copy of it.
    """
    if source is None:
        return None
    if isinstance(source, (str, Path)):
        import csv

        with Path(source).expanduser().open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row]
        codes = {row[-1].strip().upper() for row in rows}
        return frozenset(code for code in codes if CARRIER_CODE_RE.match(code))  # drops a header row
    return frozenset(code.strip().upper() for code in source)


@dataclass
class RequestRecord:
    """One API call as the emulator saw it (admin: GET /_emulator/requests)."""

    request_id: str
    at: str
    method: str
    path: str
    operation: "str | None"
    status: int
    reason_code: "str | None" = None
    merchant_id: "str | None" = None
    idempotency_key: "str | None" = None
    replayed: bool = False
    fault: "str | None" = None

    def as_dict(self) -> dict:
        return {_camel(key): value for key, value in asdict(self).items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class EmulatorApp:
    """A stateful Amazon Pay API v2 emulator (WSGI callable).

    ``public_url`` is where buyers' browsers reach the emulator (amazonPayRedirectUrl,
    SigningCertURL); by default it is taken from each request's Host.
    """

    def __init__(
        self,
        registry: "MerchantRegistry | None" = None,
        *,
        clock: "Clock | None" = None,
        settings: "EmulatorSettings | None" = None,
        public_url: "str | None" = None,
        sns_identity: "SigningIdentity | None" = None,
        carrier_codes: "str | Path | Iterable[str] | None" = None,
        ipn_retry_delays: "tuple[float, ...]" = (0.2, 1.0),
    ) -> None:
        self.registry = registry if registry is not None else MerchantRegistry()
        self.clock = clock or Clock()
        self.settings = settings or EmulatorSettings()
        self.store = Store(self.clock, self.settings)
        self.verifier = RequestVerifier(self.registry, max_skew=self.settings.max_clock_skew)
        self.idempotency = IdempotencyCache()
        self.faults = FaultQueue()
        self.public_url = public_url.rstrip("/") if public_url else None
        self.default_base_url = DEFAULT_BASE_URL
        self._last_base_url: "str | None" = None
        self.ipn = IpnDispatcher(self.registry, self.clock, self.background_base_url, identity=sns_identity,
                                 retry_delays=ipn_retry_delays)
        self.requests: "deque[RequestRecord]" = deque(maxlen=1000)
        self.known_carriers = load_carrier_codes(carrier_codes)
        self.buyer = BuyerPages(self)
        self.admin = AdminApi(self)

    # -- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        response = self.handle(Request.from_environ(environ))
        start_response(response.status_line, response.headers)
        return [response.body]

    def handle(self, request: Request) -> Response:
        request_id = ids.new_request_id()
        self._last_base_url = self.public_url or request.base_url
        try:
            if request.path == "/_emulator" or request.path.startswith("/_emulator/"):
                response = self._handle_emulator(request)
            else:
                response = self._handle_api(request, request_id)
        except AmazonError as error:
            response = error_response(error.status, error.reason_code, error.message)
        except Exception:  # pragma: no cover - a bug in the emulator, not in the client
            logger.exception("emulator error on %s %s", request.method, request.raw_path)
            response = error_response(500, "InternalServerError", "The emulator failed; see its log.")
        self.dispatch_events()
        return with_request_id(response, request_id)

    def base_url_for(self, request: Request) -> str:
        return self.public_url or request.base_url

    def background_base_url(self) -> str:
        return self.public_url or self._last_base_url or self.default_base_url

    # -- the emulator's own surface ---------------------------------------------------------

    def _handle_emulator(self, request: Request) -> Response:
        with self.store.lock:
            self.store.tick()
        response = self.buyer.handle(request)
        if response is None:
            response = self.admin.handle(request)
        return response

    # -- the Amazon Pay API -----------------------------------------------------------------

    def _handle_api(self, request: Request, request_id: str) -> Response:
        match = routes.match(request.method, request.path)
        record = RequestRecord(request_id, iso_millis(self.clock.now()), request.method, request.raw_path,
                               match.operation, 0, idempotency_key=request.header(IDEMPOTENCY_HEADER))
        try:
            response = self._faulted_call(request, match, record)
        except AmazonError as error:
            response = error_response(error.status, error.reason_code, error.message)
        record.status = response.status
        if response.status >= 400 and response.body:
            try:
                record.reason_code = response.json().get("reasonCode")
            except ValueError:
                pass
        self.requests.append(record)
        return response

    def _faulted_call(self, request: Request, match: routes.RouteMatch, record: RequestRecord) -> Response:
        rule = self._fault_for(request, match.operation)
        if rule is None:
            return self._api_call(request, match, record)
        record.fault = rule.fault
        if rule.latency:
            time.sleep(rule.latency)
        if rule.status is not None:
            raise rule.error()
        if rule.fault == "connection-reset":
            # Nothing is processed: the transport sees the connection die.
            return Response(502, b"", [(FAULT_HEADER, "connection-reset")])
        try:
            response = self._api_call(request, match, record)
        except AmazonError as error:
            response = error_response(error.status, error.reason_code, error.message)
        if rule.fault == "drop-response":
            # Processed and committed; only the answer is lost on the way back.
            response.set_header(FAULT_HEADER, "drop-response")
        return response

    def _fault_for(self, request: Request, operation: "str | None") -> "FaultRule | None":
        header = request.header(FAULT_REQUEST_HEADER)
        if header:
            try:
                return parse_fault_header(header)
            except ValueError as exc:
                raise AmazonError(400, "InvalidHeaderValue", f"{FAULT_REQUEST_HEADER}: {exc}") from None
        return self.faults.take(operation)

    def _api_call(self, request: Request, match: routes.RouteMatch, record: RequestRecord) -> Response:
        if not match.api_path:
            raise AmazonError(404, "ResourceNotFound", f"There is no Amazon Pay API at {request.raw_path}.")
        verified = self.verifier.verify(request, match.path_environment, (self.clock.wall(), self.clock.now()))
        record.merchant_id = verified.merchant.merchant_id
        owner = Owner(verified.merchant.merchant_id, verified.environment)
        key = request.header(IDEMPOTENCY_HEADER)
        if key is not None:
            check_key(key)
        if match.route is None:
            if match.method_not_allowed:
                raise AmazonError(405, "UnsupportedOperation", f"{request.method} is not supported on {request.path}.")
            raise AmazonError(404, "ResourceNotFound", f"There is no Amazon Pay operation at {request.path}.")
        route = match.route
        if route.idempotency_required and key is None:
            raise AmazonError(400, "MissingHeaderValue", f"{IDEMPOTENCY_HEADER} is required for {route.operation}.")
        scope = (owner.merchant_id, owner.environment.value)
        uses_key = key is not None and request.method != "GET"
        with self.store.lock:
            self.store.tick()
            if uses_key:
                stored = self.idempotency.lookup(scope, key, request, self.clock.now())  # type: ignore[arg-type]
                if stored is not None:
                    record.replayed = True
                    replay = stored.response.copy()
                    replay.headers += [(REPLAY_HEADER, "true"), (ORIGINAL_REQUEST_ID_HEADER, stored.request_id)]
                    return replay
            ctx = ApiContext(
                request=request,
                merchant=verified.merchant,
                owner=owner,
                object_id=match.object_id,
                body=self._parse_body(request),
                simulation_code=self._simulation_code(request, route, owner.environment),
                store=self.store,
                base_url=self.base_url_for(request),
                known_carriers=self.known_carriers,
            )
            try:
                response = HANDLERS[route.operation](ctx)
            except RequestValidationError:
                raise  # nothing happened: not bound to the key, the caller may fix and retry
            except AmazonError as error:
                response = error_response(error.status, error.reason_code, error.message)
            if uses_key:
                self.idempotency.store(scope, key, request, response, record.request_id,  # type: ignore[arg-type]
                                       self.clock.now())
            return response

    @staticmethod
    def _parse_body(request: Request) -> Any:
        if request.method == "GET" or not request.body.strip():
            return None
        try:
            return request.json()
        except (ValueError, UnicodeDecodeError):
            raise RequestValidationError(400, "InvalidRequestFormat", "The request body is not valid JSON.") from None

    @staticmethod
    def _simulation_code(request: Request, route: routes.Route, environment: Environment) -> "str | None":
        code = request.header(SIMULATION_HEADER)
        if code is None or code.strip() == "":
            return None
        code = code.strip()
        if environment is not Environment.SANDBOX:
            raise RequestValidationError(400, "InvalidSandboxSimulationSpecified",
                                         f"{SIMULATION_HEADER} is only honoured in the sandbox.")
        if code not in route.simulation_codes:
            allowed = ", ".join(sorted(route.simulation_codes)) or "none"
            raise RequestValidationError(400, "InvalidSandboxSimulationSpecified",
                                         f"{code!r} is not a simulation code of {route.operation} (valid: {allowed}).")
        return code

    # -- events -> IPN --------------------------------------------------------------------

    def dispatch_events(self) -> int:
        events = self.store.drain_events()
        for event in events:
            self.ipn.publish(event)
        return len(events)

    # -- Python API (what tests and demos call directly) -------------------------------------

    def tick(self) -> int:
        """Apply due time-based transitions and send their IPNs."""
        with self.store.lock:
            applied = self.store.tick()
        self.dispatch_events()
        return applied

    def advance_clock(self, seconds: float) -> datetime:
        now = self.clock.advance(seconds)
        self.tick()
        return now

    def settle(self, object_id: "str | None" = None) -> int:
        with self.store.lock:
            applied = self.store.settle(object_id)
        self.dispatch_events()
        return applied

    def reset(self) -> None:
        """Forget every object, idempotency key, fault, request log and IPN delivery; clock
        back to wall time. Merchants stay registered."""
        self.store.reset()
        self.idempotency.clear()
        self.faults.clear()
        self.requests.clear()
        self.ipn.reset()
        self.clock.reset()

    def add_fault(self, fault: str, operation: str = "*", *, latency: float = 0.0, count: int = 1) -> FaultRule:
        return self.faults.add(fault, operation, latency=latency, count=count)

    def set_ipn_url(self, url: "str | None", merchant_id: "str | None" = None, *, enabled: bool = True,
                    signature_version: "str | None" = None):
        return self.ipn.configure(merchant_id, url=url, enabled=enabled, signature_version=signature_version)

    def buyer_approve(self, checkout_session_id: str, *, address: "str | None" = None,
                      instrument: "str | None" = None, name: "str | None" = None,
                      email: "str | None" = None) -> str:
        """The buyer signs in and approves; returns the URL Amazon sends the browser to."""
        return self.buyer.approve(checkout_session_id, address=address, instrument=instrument,
                                  name=name, email=email)[1]

    def buyer_confirm(self, checkout_session_id: str, *, instrument: "str | None" = None) -> str:
        """The buyer follows amazonPayRedirectUrl; returns the checkoutResultReturnUrl redirect
        (or raises AmazonError). A soft decline returns "" (the buyer must re-pick)."""
        return self.buyer.confirm(checkout_session_id, instrument=instrument)[1]

    def make_test_merchant(self, env: str = "sandbox", region: str = "na", *,
                           base_url: "str | None" = None, key_pair: "tuple[str, str] | None" = None,
                           legacy_key_id: bool = False, ipn_url: "str | None" = None) -> "tuple[dict, str]":
        """Register a fresh merchant; returns ``(AmazonPayConfig kwargs, private_pem)``."""
        from .testing import make_test_merchant

        return make_test_merchant(env, region, registry=self.registry, base_url=base_url or self.default_base_url,
                                  key_pair=key_pair, legacy_key_id=legacy_key_id, ipn_url=ipn_url)

    def objects(self, merchant_id: "str | None" = None) -> dict:
        return self.admin.objects(merchant_id)

    def request_log(self) -> "list[RequestRecord]":
        return list(self.requests)


__all__ = ["EmulatorApp", "RequestRecord", "REQUEST_ID_HEADER", "json_response", "load_carrier_codes"]
