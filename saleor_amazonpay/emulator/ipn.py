"""Deliver IPNs: state changes of charges, refunds and charge permissions, POSTed as
signed SNS notifications to the merchant's endpoint.

Delivery runs on a background thread with a few quick retries (Amazon retries for hours;
tests cannot wait). Every notification is recorded, delivered or not, so the admin API
can list it and replay it. Switching an endpoint off (``enabled=False``) records the
notification as ``suppressed``: a lost IPN, which the merchant must survive by polling.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from . import ids
from .clock import Clock, iso_millis
from .merchants import MerchantRegistry
from .objects import Event
from .sns import (
    SigningIdentity,
    build_envelope,
    default_identity,
    http_headers,
    ipn_message,
)

_AWS_REGION = {"na": "us-east-1", "eu": "eu-west-1", "jp": "us-west-2"}


@dataclass
class IpnEndpoint:
    url: "str | None" = None
    enabled: bool = True
    signature_version: str = "1"

    def as_dict(self) -> dict:
        return {"url": self.url, "enabled": self.enabled, "signatureVersion": self.signature_version}


@dataclass
class DeliveryAttempt:
    at: str
    status: "int | None"
    error: "str | None" = None


@dataclass
class IpnDelivery:
    delivery_id: str
    merchant_id: str
    url: "str | None"
    message: dict
    envelope: dict
    headers: dict
    #: queued | delivered | failed | suppressed | no-endpoint
    status: str = "queued"
    attempts: "list[DeliveryAttempt]" = field(default_factory=list)

    @property
    def body(self) -> str:
        return json.dumps(self.envelope, indent=2)

    def as_dict(self) -> dict:
        return {
            "deliveryId": self.delivery_id,
            "merchantId": self.merchant_id,
            "url": self.url,
            "status": self.status,
            "message": self.message,
            "envelope": self.envelope,
            "attempts": [{"at": a.at, "status": a.status, "error": a.error} for a in self.attempts],
        }


class IpnDispatcher:
    def __init__(
        self,
        registry: MerchantRegistry,
        clock: Clock,
        base_url: Callable[[], str],
        *,
        identity: "SigningIdentity | None" = None,
        max_attempts: int = 3,
        retry_delays: "tuple[float, ...]" = (0.2, 1.0),
        timeout: float = 5.0,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self._base_url = base_url
        self._identity = identity
        self.max_attempts = max_attempts
        self.retry_delays = retry_delays
        self.timeout = timeout
        self._endpoints: dict["str | None", IpnEndpoint] = {}
        self._deliveries: dict[str, IpnDelivery] = {}
        self._order: list[str] = []
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._busy = 0
        self._worker: "threading.Thread | None" = None
        self._closed = False
        # Never route loopback notifications through an HTTP proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def identity(self) -> SigningIdentity:
        if self._identity is None:
            self._identity = default_identity()
        return self._identity

    @property
    def certificate_pem(self) -> str:
        return self.identity.certificate_pem

    @property
    def signing_cert_url(self) -> str:
        return f"{self._base_url()}/_emulator/sns-cert.pem"

    # -- configuration --------------------------------------------------------------------

    def configure(self, merchant_id: "str | None" = None, *, url: "str | None | object" = ...,
                  enabled: "bool | None" = None, signature_version: "str | None" = None) -> IpnEndpoint:
        """Set the endpoint of one merchant, or the default (``merchant_id=None``)."""
        with self._cond:
            current = self._endpoints.get(merchant_id) or IpnEndpoint(
                url=self._registry_url(merchant_id) if merchant_id else None)
            if url is not ...:
                current.url = url  # type: ignore[assignment]
            if enabled is not None:
                current.enabled = bool(enabled)
            if signature_version is not None:
                if str(signature_version) not in ("1", "2"):
                    raise ValueError("signatureVersion must be '1' or '2'")
                current.signature_version = str(signature_version)
            self._endpoints[merchant_id] = current
            return current

    def _registry_url(self, merchant_id: "str | None") -> "str | None":
        merchant = self.registry.get(merchant_id) if merchant_id else None
        return merchant.ipn_url if merchant else None

    def endpoint_for(self, merchant_id: str) -> IpnEndpoint:
        with self._cond:
            if merchant_id in self._endpoints:
                return self._endpoints[merchant_id]
            default = self._endpoints.get(None, IpnEndpoint())
            return IpnEndpoint(self._registry_url(merchant_id) or default.url, default.enabled,
                               default.signature_version)

    def endpoints(self) -> dict:
        with self._cond:
            shown = {k or "*": v.as_dict() for k, v in self._endpoints.items()}
        for merchant in self.registry.merchants:
            shown.setdefault(merchant.merchant_id, self.endpoint_for(merchant.merchant_id).as_dict())
        return shown

    # -- publishing -----------------------------------------------------------------------

    def topic_arn(self, merchant_id: str, environment: str) -> str:
        merchant = self.registry.get(merchant_id)
        region = _AWS_REGION.get(merchant.region if merchant else "na", "us-east-1")
        return f"arn:aws:sns:{region}:000000000000:AmazonPay-{merchant_id}-{environment}"

    def publish(self, event: Event) -> IpnDelivery:
        message = ipn_message(merchant_id=event.owner.merchant_id, object_type=event.object_type,
                              object_id=event.object_id, charge_permission_id=event.charge_permission_id)
        return self.publish_message(event.owner.merchant_id, event.owner.environment.value, message)

    def publish_message(self, merchant_id: str, environment: str, message: dict) -> IpnDelivery:
        endpoint = self.endpoint_for(merchant_id)
        topic = self.topic_arn(merchant_id, environment)
        envelope = build_envelope(
            message,
            identity=self.identity,
            topic_arn=topic,
            signing_cert_url=self.signing_cert_url,
            signature_version=endpoint.signature_version,
            timestamp=self.clock.now(),
        )
        delivery = IpnDelivery(ids.new_uuid(), merchant_id, endpoint.url, message, envelope, http_headers(envelope))
        if not endpoint.url:
            delivery.status = "no-endpoint"
        elif not endpoint.enabled:
            delivery.status = "suppressed"
        with self._cond:
            self._deliveries[delivery.delivery_id] = delivery
            self._order.append(delivery.delivery_id)
            if delivery.status == "queued":
                self._enqueue(delivery.delivery_id)
        return delivery

    def replay(self, delivery_id: str, url: "str | None" = None) -> IpnDelivery:
        """Send a recorded notification again (same MessageId, as an SNS redelivery)."""
        with self._cond:
            delivery = self._deliveries[delivery_id]
            target = url or delivery.url or self.endpoint_for(delivery.merchant_id).url
            if not target:
                raise ValueError("no IPN endpoint configured for this merchant")
            delivery.url = target
            delivery.status = "queued"
            self._enqueue(delivery_id)
            return delivery

    def _enqueue(self, delivery_id: str) -> None:
        self._queue.append(delivery_id)
        self._busy += 1
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="amazonpay-emulator-ipn", daemon=True)
            self._worker.start()
        self._cond.notify_all()

    # -- delivery -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait(timeout=1.0)
                if self._closed and not self._queue:
                    return
                delivery_id = self._queue.popleft()
                delivery = self._deliveries.get(delivery_id)
            try:
                if delivery is not None:
                    self._deliver(delivery)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _deliver(self, delivery: IpnDelivery) -> None:
        body = json.dumps(delivery.envelope, indent=2).encode("utf-8")
        for attempt in range(self.max_attempts):
            if attempt:
                time.sleep(self.retry_delays[min(attempt - 1, len(self.retry_delays) - 1)])
            at = iso_millis(datetime.now(timezone.utc))
            request = urllib.request.Request(str(delivery.url), data=body, headers=delivery.headers, method="POST")
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (OSError, ValueError) as exc:
                delivery.attempts.append(DeliveryAttempt(at, None, f"{type(exc).__name__}: {exc}"))
                continue
            delivery.attempts.append(DeliveryAttempt(at, status))
            if 200 <= status < 300:
                delivery.status = "delivered"
                return
        delivery.status = "failed"

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued notification was delivered or gave up."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(timeout=remaining)
        return True

    # -- views ----------------------------------------------------------------------------

    @property
    def deliveries(self) -> "list[IpnDelivery]":
        with self._cond:
            return [self._deliveries[d] for d in self._order]

    def get(self, delivery_id: str) -> IpnDelivery:
        with self._cond:
            return self._deliveries[delivery_id]

    def reset(self) -> None:
        with self._cond:
            self._busy -= len(self._queue)
            self._queue.clear()
            self._cond.notify_all()
            self._deliveries.clear()
            self._order.clear()
            self._endpoints.clear()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
