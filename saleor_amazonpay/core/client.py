"""AmazonPayClient: signed, retried, typed calls to Amazon Pay API v2.

Money safety rules enforced here:

* Writes that create money movements (Create Checkout Session, Create Charge, Capture,
  Create Refund) always carry an idempotency key, chosen once per logical call *before*
  the retry loop, so every retry is the same request to Amazon. Callers should pass a
  deterministic key derived from their own records so that a retry after a crash or a
  timeout can never charge twice.
* Other writes are retried only when Amazon certainly did nothing (connection refused,
  429). A timeout on them raises :class:`ResponseTimeout` (``outcome_unknown``) and the
  caller reconciles by reading the object.
"""

from __future__ import annotations

import json
import logging
import platform
import re
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from .. import __version__
from .config import AmazonPayConfig
from .constants import (
    DATE_HEADER,
    HOST_HEADER,
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    REGION_HEADER,
    REQUEST_ID_HEADER,
    SIMULATION_HEADER,
)
from .errors import (
    AmazonPayError,
    InvalidRequestError,
    ResponseTimeout,
    ServerError,
    error_from_response,
)
from .models import Charge, ChargePermission, CheckoutSession, DeliveryTracker, Price, Refund
from .retry import RetryPolicy
from .signing import ButtonSignature, format_amz_date
from .transport import PreparedRequest, RawResponse, RequestsTransport, Transport

logger = logging.getLogger("saleor_amazonpay.client")

_IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9]{1,%d}$" % IDEMPOTENCY_KEY_MAX_LENGTH)
_ID_RE = re.compile(r"^[A-Za-z0-9\-]{1,128}$")

USER_AGENT = f"saleor-amazonpay/{__version__} (Python/{platform.python_version()})"


@dataclass(frozen=True)
class CallRecord:
    """What one HTTP attempt did: for metrics and tests, free of personal data."""

    operation: str
    method: str
    path: str
    status: "int | None"
    request_id: "str | None"
    duration: float
    attempt: int
    idempotency_key: "str | None"
    error: "str | None" = None


@dataclass(frozen=True)
class ApiResponse:
    status: int
    data: Mapping[str, Any]
    request_id: "str | None"


def new_idempotency_key() -> str:
    return uuid.uuid4().hex  # 32 alphanumeric characters


def check_idempotency_key(key: str) -> str:
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise InvalidRequestError(
            "idempotency keys are 1-32 alphanumeric characters", reason_code="InvalidHeaderValue"
        )
    return key


def _check_id(value: str, what: str) -> str:
    # Ids are interpolated into signed paths; refuse anything that could change the path.
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidRequestError(f"invalid {what}", reason_code="InvalidParameterValue")
    return value


class AmazonPayClient:
    def __init__(
        self,
        config: AmazonPayConfig,
        *,
        transport: "Transport | None" = None,
        retry: "RetryPolicy | None" = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        sleep: Callable[[float], None] = time.sleep,
        observers: "list[Callable[[CallRecord], None]] | None" = None,
    ) -> None:
        self.config = config
        self.transport = transport or RequestsTransport()
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self.observers = list(observers or [])

    def __repr__(self) -> str:
        return f"AmazonPayClient(merchant_id={self.config.merchant_id!r}, region={self.config.region!r}, env={self.config.environment.value!r})"

    # -- plumbing ---------------------------------------------------------------------

    def _prepare(self, method: str, path: str, body: bytes, query: "Mapping[str, Any] | None",
                 idempotency_key: "str | None", simulation_code: "str | None") -> PreparedRequest:
        from .signing import canonical_query

        full_path = f"{self.config.path_prefix}{path}"
        query_string = canonical_query(query)
        headers = {
            "accept": "application/json",
            "content-type": "application/json",
            DATE_HEADER: format_amz_date(self._clock()),
            HOST_HEADER: self.config.api_host,
            REGION_HEADER: self.config.region,
        }
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        authorization = self.config.signer.sign_request(
            method=method, path=full_path, query=query_string, headers=headers, body=body
        )
        headers["authorization"] = authorization
        # Sent unsigned, as the SDKs do.
        headers["user-agent"] = USER_AGENT
        if simulation_code:
            headers[SIMULATION_HEADER] = simulation_code
        url = f"{self.config.origin}{full_path}" + (f"?{query_string}" if query_string else "")
        timeouts = self.config.timeouts
        return PreparedRequest(method, url, headers, body, timeouts.connect, timeouts.read)

    def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        body: "Mapping[str, Any] | None" = None,
        query: "Mapping[str, Any] | None" = None,
        idempotency_key: "str | None" = None,
        simulation_code: "str | None" = None,
        safe_to_retry: "bool | None" = None,
    ) -> ApiResponse:
        """Sign, send, retry and map errors. Returns the decoded 2xx answer."""
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        payload = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        prepared = self._prepare(method, path, payload, query, idempotency_key, simulation_code)
        if safe_to_retry is None:
            safe_to_retry = method == "GET" or idempotency_key is not None
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            t0 = time.monotonic()
            try:
                raw = self.transport.send(prepared)
                response = self._handle(raw)
            except AmazonPayError as error:
                status = error.http_status
                self._record(operation, prepared, path, status, error.request_id, t0, attempt, idempotency_key,
                             error.reason_code or type(error).__name__)
                if not self.retry.should_retry(error, attempt, safe=safe_to_retry):
                    raise
                delay = self.retry.backoff(attempt)
                if time.monotonic() - started + delay > self.retry.deadline:
                    raise
                logger.info("amazonpay %s %s: retrying in %.2fs after %s", method, path, delay, error.reason_code or type(error).__name__)
                self._sleep(delay)
                continue
            self._record(operation, prepared, path, response.status, response.request_id, t0, attempt, idempotency_key)
            return response

    def _record(self, operation, prepared, path, status, request_id, t0, attempt, idempotency_key, error=None):
        record = CallRecord(operation, prepared.method, path, status, request_id, time.monotonic() - t0, attempt, idempotency_key, error)
        logger.debug(
            "amazonpay %s %s -> %s request_id=%s %.1fms attempt=%d%s",
            record.method, record.path, record.status, record.request_id, record.duration * 1000, attempt,
            f" error={error}" if error else "",
        )
        for observer in self.observers:
            observer(record)

    @staticmethod
    def _handle(raw: RawResponse) -> ApiResponse:
        request_id = raw.header(REQUEST_ID_HEADER)
        try:
            data = json.loads(raw.body.decode("utf-8")) if raw.body else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
        if 200 <= raw.status < 300:
            if not isinstance(data, dict):
                # A 2xx we cannot read means the call may have worked: unknown outcome.
                raise ResponseTimeout("Amazon Pay sent an unreadable success answer", http_status=raw.status, request_id=request_id)
            return ApiResponse(raw.status, data, request_id)
        if data is None and raw.status >= 500:
            raise ServerError(f"Amazon Pay answered HTTP {raw.status}", http_status=raw.status, request_id=request_id)
        raise error_from_response(raw.status, data if isinstance(data, dict) else {}, request_id)

    # -- button ---------------------------------------------------------------------

    def generate_button_signature(self, payload: "Mapping[str, Any] | str") -> ButtonSignature:
        return self.config.signer.sign_button_payload(payload)

    # -- Checkout Session -----------------------------------------------------------

    def create_checkout_session(self, payload: Mapping[str, Any], *, idempotency_key: "str | None" = None,
                                simulation_code: "str | None" = None) -> CheckoutSession:
        response = self.request("CreateCheckoutSession", "POST", "/checkoutSessions", body=payload,
                                idempotency_key=idempotency_key or new_idempotency_key(), simulation_code=simulation_code)
        return CheckoutSession.from_api(response.data)

    def get_checkout_session(self, checkout_session_id: str) -> CheckoutSession:
        _check_id(checkout_session_id, "checkout session id")
        response = self.request("GetCheckoutSession", "GET", f"/checkoutSessions/{checkout_session_id}")
        return CheckoutSession.from_api(response.data)

    def update_checkout_session(self, checkout_session_id: str, payload: Mapping[str, Any]) -> CheckoutSession:
        _check_id(checkout_session_id, "checkout session id")
        # PATCH sets fields to the given values: repeating it is harmless, so retry it.
        response = self.request("UpdateCheckoutSession", "PATCH", f"/checkoutSessions/{checkout_session_id}",
                                body=payload, safe_to_retry=True)
        return CheckoutSession.from_api(response.data)

    def complete_checkout_session(self, checkout_session_id: str, charge_amount: Price, *,
                                  total_order_amount: "Price | None" = None,
                                  simulation_code: "str | None" = None) -> CheckoutSession:
        """Confirm the buyer returned. A 202 answer means the authorization is pending."""
        _check_id(checkout_session_id, "checkout session id")
        body: dict[str, Any] = {"chargeAmount": charge_amount.to_api()}
        if total_order_amount is not None:
            body["totalOrderAmount"] = total_order_amount.to_api()
        response = self.request("CompleteCheckoutSession", "POST", f"/checkoutSessions/{checkout_session_id}/complete",
                                body=body, simulation_code=simulation_code, safe_to_retry=False)
        session = CheckoutSession.from_api(response.data)
        if response.status == 202:
            session = replace(session, authorization_pending=True)
        return session

    # -- Charge Permission ----------------------------------------------------------

    def get_charge_permission(self, charge_permission_id: str) -> ChargePermission:
        _check_id(charge_permission_id, "charge permission id")
        response = self.request("GetChargePermission", "GET", f"/chargePermissions/{charge_permission_id}")
        return ChargePermission.from_api(response.data)

    def update_charge_permission(self, charge_permission_id: str, payload: Mapping[str, Any]) -> ChargePermission:
        _check_id(charge_permission_id, "charge permission id")
        response = self.request("UpdateChargePermission", "PATCH", f"/chargePermissions/{charge_permission_id}",
                                body=payload, safe_to_retry=True)
        return ChargePermission.from_api(response.data)

    def close_charge_permission(self, charge_permission_id: str, closure_reason: str, *,
                                cancel_pending_charges: bool = False,
                                simulation_code: "str | None" = None) -> ChargePermission:
        _check_id(charge_permission_id, "charge permission id")
        body = {"closureReason": closure_reason[:255], "cancelPendingCharges": bool(cancel_pending_charges)}
        response = self.request("CloseChargePermission", "DELETE", f"/chargePermissions/{charge_permission_id}/close",
                                body=body, simulation_code=simulation_code)
        return ChargePermission.from_api(response.data)

    # -- Charge ---------------------------------------------------------------------

    def create_charge(self, charge_permission_id: str, charge_amount: Price, *, capture_now: bool = False,
                      idempotency_key: "str | None" = None, soft_descriptor: "str | None" = None,
                      can_handle_pending_authorization: bool = False,
                      merchant_metadata: "Mapping[str, Any] | None" = None,
                      simulation_code: "str | None" = None) -> Charge:
        _check_id(charge_permission_id, "charge permission id")
        body: dict[str, Any] = {
            "chargePermissionId": charge_permission_id,
            "chargeAmount": charge_amount.to_api(),
            "captureNow": bool(capture_now),
            "canHandlePendingAuthorization": bool(can_handle_pending_authorization),
        }
        if soft_descriptor:
            body["softDescriptor"] = soft_descriptor[:16]
        if merchant_metadata:
            body["merchantMetadata"] = dict(merchant_metadata)
        response = self.request("CreateCharge", "POST", "/charges", body=body,
                                idempotency_key=idempotency_key or new_idempotency_key(), simulation_code=simulation_code)
        return Charge.from_api(response.data)

    def get_charge(self, charge_id: str) -> Charge:
        _check_id(charge_id, "charge id")
        response = self.request("GetCharge", "GET", f"/charges/{charge_id}")
        return Charge.from_api(response.data)

    def capture_charge(self, charge_id: str, capture_amount: Price, *, idempotency_key: "str | None" = None,
                       soft_descriptor: "str | None" = None, simulation_code: "str | None" = None) -> Charge:
        _check_id(charge_id, "charge id")
        body: dict[str, Any] = {"captureAmount": capture_amount.to_api()}
        if soft_descriptor:
            body["softDescriptor"] = soft_descriptor[:16]
        response = self.request("CaptureCharge", "POST", f"/charges/{charge_id}/capture", body=body,
                                idempotency_key=idempotency_key or new_idempotency_key(), simulation_code=simulation_code)
        return Charge.from_api(response.data)

    def cancel_charge(self, charge_id: str, cancellation_reason: str = "Canceled by merchant") -> Charge:
        _check_id(charge_id, "charge id")
        response = self.request("CancelCharge", "DELETE", f"/charges/{charge_id}/cancel",
                                body={"cancellationReason": cancellation_reason[:255]})
        return Charge.from_api(response.data)

    # -- Refund ---------------------------------------------------------------------

    def create_refund(self, charge_id: str, refund_amount: Price, *, idempotency_key: "str | None" = None,
                      soft_descriptor: "str | None" = None, simulation_code: "str | None" = None) -> Refund:
        _check_id(charge_id, "charge id")
        body: dict[str, Any] = {"chargeId": charge_id, "refundAmount": refund_amount.to_api()}
        if soft_descriptor:
            body["softDescriptor"] = soft_descriptor[:16]
        response = self.request("CreateRefund", "POST", "/refunds", body=body,
                                idempotency_key=idempotency_key or new_idempotency_key(), simulation_code=simulation_code)
        return Refund.from_api(response.data)

    def get_refund(self, refund_id: str) -> Refund:
        _check_id(refund_id, "refund id")
        response = self.request("GetRefund", "GET", f"/refunds/{refund_id}")
        return Refund.from_api(response.data)

    # -- Delivery Tracker -----------------------------------------------------------

    def create_delivery_tracker(self, charge_permission_id: str, tracking_number: str, carrier_code: str) -> DeliveryTracker:
        _check_id(charge_permission_id, "charge permission id")
        tracker = DeliveryTracker(charge_permission_id, tracking_number.strip(), carrier_code.strip().upper())
        if not tracker.tracking_number or not tracker.carrier_code:
            raise InvalidRequestError("tracking number and carrier code are required", reason_code="MissingParameterValue")
        response = self.request("DeliveryTrackers", "POST", "/deliveryTrackers", body=tracker.to_api())
        return DeliveryTracker.from_api(response.data or tracker.to_api())

    post_delivery_tracker = create_delivery_tracker
