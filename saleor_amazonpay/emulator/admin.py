"""The emulator's admin API under ``/_emulator/`` (JSON, unsigned).

Tests and demos use it to look inside (objects, request log, IPN deliveries), to move
time, to inject faults and to point IPNs somewhere. Object views are the API's JSON plus
an ``emulator`` section with what Amazon keeps to itself (owner, pending transitions,
the buyer's instrument).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable

from .. import __version__
from .clock import compact, iso_millis
from .errors import AmazonError, invalid
from .merchants import Merchant, MerchantKey
from .objects import Charge, ChargePermission, CheckoutSession, Refund
from .wire import Request, Response, json_response

if TYPE_CHECKING:  # pragma: no cover
    from .app import EmulatorApp


def _pending(obj: Any) -> "dict | None":
    pending = getattr(obj, "pending", None)
    if pending is None:
        return None
    return {"due": compact(pending.due), "state": pending.state, "reasonCode": pending.reason_code}


class AdminApi:
    def __init__(self, app: "EmulatorApp") -> None:
        self.app = app
        self._routes: "list[tuple[str, re.Pattern[str], Callable[..., Response]]]" = [
            ("GET", re.compile(r"^/_emulator$"), self.index),
            ("GET", re.compile(r"^/_emulator/health$"), self.health),
            ("GET", re.compile(r"^/_emulator/objects$"), self.list_objects),
            ("GET", re.compile(r"^/_emulator/checkoutSessions/(?P<id>[^/]+)$"), self.checkout_session),
            ("GET", re.compile(r"^/_emulator/chargePermissions/(?P<id>[^/]+)$"), self.charge_permission),
            ("GET", re.compile(r"^/_emulator/charges/(?P<id>[^/]+)$"), self.charge),
            ("GET", re.compile(r"^/_emulator/refunds/(?P<id>[^/]+)$"), self.refund),
            ("GET", re.compile(r"^/_emulator/deliveryTrackers$"), self.delivery_trackers),
            ("GET", re.compile(r"^/_emulator/clock$"), self.clock),
            ("POST", re.compile(r"^/_emulator/clock/advance$"), self.advance_clock),
            ("POST", re.compile(r"^/_emulator/settle$"), self.settle),
            ("POST", re.compile(r"^/_emulator/reset$"), self.reset),
            ("GET", re.compile(r"^/_emulator/faults$"), self.list_faults),
            ("POST", re.compile(r"^/_emulator/faults$"), self.add_fault),
            ("DELETE", re.compile(r"^/_emulator/faults$"), self.clear_faults),
            ("GET", re.compile(r"^/_emulator/ipn-config$"), self.ipn_config),
            ("POST", re.compile(r"^/_emulator/ipn-config$"), self.set_ipn_config),
            ("GET", re.compile(r"^/_emulator/ipn-deliveries$"), self.ipn_deliveries),
            ("GET", re.compile(r"^/_emulator/ipn-deliveries/(?P<id>[^/]+)$"), self.ipn_delivery),
            ("POST", re.compile(r"^/_emulator/ipn-deliveries/(?P<id>[^/]+)/replay$"), self.replay_ipn),
            ("GET", re.compile(r"^/_emulator/sns-cert\.pem$"), self.sns_certificate),
            ("GET", re.compile(r"^/_emulator/sns/unsubscribe$"), self.unsubscribe),
            ("GET", re.compile(r"^/_emulator/merchants$"), self.merchants),
            ("POST", re.compile(r"^/_emulator/merchants$"), self.add_merchant),
            ("GET", re.compile(r"^/_emulator/requests$"), self.requests),
        ]

    def handle(self, request: Request) -> Response:
        path = request.path
        allowed = False
        for method, pattern, handler in self._routes:
            found = pattern.match(path)
            if not found:
                continue
            if method != request.method:
                allowed = True
                continue
            return handler(request, **found.groupdict())
        if allowed:
            raise AmazonError(405, "UnsupportedOperation", f"{request.method} is not supported on {path}.")
        raise AmazonError(404, "ResourceNotFound", f"No emulator endpoint at {path}.")

    @staticmethod
    def _body(request: Request) -> dict:
        if not request.body.strip():
            return {}
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise AmazonError(400, "InvalidRequestFormat", "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise AmazonError(400, "InvalidRequestFormat", "The request body must be a JSON object.")
        return data

    # -- object views -------------------------------------------------------------------

    def view(self, obj: Any, base_url: "str | None" = None) -> dict:
        store = self.app.store
        base_url = base_url or self.app.background_base_url()
        extra: dict[str, Any] = {"merchantId": obj.owner.merchant_id, "environment": obj.owner.environment.value}
        if isinstance(obj, CheckoutSession):
            data = obj.to_api(base_url)
            extra.update(source=obj.source, buyerApproved=obj.buyer is not None, buyerConfirmed=obj.buyer_confirmed,
                         instrument=obj.instrument.code if obj.instrument else None)
        elif isinstance(obj, ChargePermission):
            data = obj.to_api(store.balance(obj))
            extra.update(chargeIds=list(obj.charge_ids),
                         deliveryTrackers=[t.to_api() for t in store.trackers_of(obj.charge_permission_id)],
                         instrument=obj.instrument.code if obj.instrument else None)
        elif isinstance(obj, Charge):
            data = obj.to_api()
            extra.update(pending=_pending(obj), refundIds=[r.refund_id for r in store.refunds_of(obj)])
        elif isinstance(obj, Refund):
            data = obj.to_api()
            extra.update(pending=_pending(obj), chargePermissionId=obj.charge_permission_id)
        else:  # pragma: no cover
            raise TypeError(type(obj))
        data["emulator"] = extra
        return data

    def objects(self, merchant_id: "str | None" = None, base_url: "str | None" = None) -> dict:
        store = self.app.store
        with store.lock:
            def keep(obj: Any) -> bool:
                return merchant_id is None or obj.owner.merchant_id == merchant_id

            return {
                "checkoutSessions": [self.view(o, base_url) for o in store.checkout_sessions.values() if keep(o)],
                "chargePermissions": [self.view(o, base_url) for o in store.charge_permissions.values() if keep(o)],
                "charges": [self.view(o, base_url) for o in store.charges.values() if keep(o)],
                "refunds": [self.view(o, base_url) for o in store.refunds.values() if keep(o)],
                "deliveryTrackers": [dict(t.to_api(), createdAt=compact(t.created), merchantId=t.owner.merchant_id)
                                     for t in store.delivery_trackers if keep(t)],
            }

    def index(self, request: Request) -> Response:
        return json_response(200, {
            "service": "Amazon Pay API v2 emulator",
            "version": __version__,
            "endpoints": sorted({f"{m} {p.pattern.strip('^$')}" for m, p, _ in self._routes}),
        })

    def health(self, request: Request) -> Response:
        return json_response(200, {"status": "ok", "version": __version__, "now": compact(self.app.clock.now()),
                                   "merchants": len(self.app.registry)})

    def list_objects(self, request: Request) -> Response:
        return json_response(200, self.objects(request.query.get("merchantId"), self.app.base_url_for(request)))

    def checkout_session(self, request: Request, id: str) -> Response:
        with self.app.store.lock:
            session = self.app.store.get_checkout_session(id)
            return json_response(200, self.view(session, self.app.base_url_for(request)))

    def charge_permission(self, request: Request, id: str) -> Response:
        with self.app.store.lock:
            return json_response(200, self.view(self.app.store.get_charge_permission(id)))

    def charge(self, request: Request, id: str) -> Response:
        with self.app.store.lock:
            return json_response(200, self.view(self.app.store.get_charge(id)))

    def refund(self, request: Request, id: str) -> Response:
        with self.app.store.lock:
            return json_response(200, self.view(self.app.store.get_refund(id)))

    def delivery_trackers(self, request: Request) -> Response:
        cp_id = request.query.get("chargePermissionId")
        with self.app.store.lock:
            trackers = [t for t in self.app.store.delivery_trackers
                        if cp_id is None or cp_id in (t.charge_permission_id, t.amazon_order_reference_id)]
            return json_response(200, {"deliveryTrackers": [
                dict(t.to_api(), createdAt=compact(t.created), merchantId=t.owner.merchant_id) for t in trackers]})

    # -- time ---------------------------------------------------------------------------

    def clock(self, request: Request) -> Response:
        clock = self.app.clock
        return json_response(200, {"now": compact(clock.now()), "nowIso": iso_millis(clock.now()),
                                   "offsetSeconds": clock.offset.total_seconds()})

    def advance_clock(self, request: Request) -> Response:
        body = self._body(request)
        try:
            seconds = float(body.get("seconds", 0))
            if seconds < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise invalid("seconds", "seconds must be a number >= 0.") from None
        self.app.advance_clock(seconds)
        return self.clock(request)

    def settle(self, request: Request) -> Response:
        body = self._body(request)
        applied = self.app.settle(body.get("objectId"))
        return json_response(200, {"applied": applied})

    def reset(self, request: Request) -> Response:
        self.app.reset()
        return json_response(200, {"status": "reset"})

    # -- faults -------------------------------------------------------------------------

    def list_faults(self, request: Request) -> Response:
        return json_response(200, {"faults": [r.as_dict() for r in self.app.faults.rules]})

    def add_fault(self, request: Request) -> Response:
        body = self._body(request)
        try:
            rule = self.app.add_fault(str(body.get("fault") or ""), str(body.get("operation") or "*"),
                                      latency=float(body.get("latency") or 0), count=int(body.get("count") or 1))
        except (TypeError, ValueError) as exc:
            raise AmazonError(400, "InvalidParameterValue", str(exc)) from None
        return json_response(201, rule.as_dict())

    def clear_faults(self, request: Request) -> Response:
        self.app.faults.clear()
        return json_response(200, {"faults": []})

    # -- IPN ----------------------------------------------------------------------------

    def ipn_config(self, request: Request) -> Response:
        return json_response(200, {"endpoints": self.app.ipn.endpoints(),
                                   "signingCertUrl": f"{self.app.base_url_for(request)}/_emulator/sns-cert.pem"})

    def set_ipn_config(self, request: Request) -> Response:
        body = self._body(request)
        kwargs: dict[str, Any] = {}
        if "url" in body:
            kwargs["url"] = body["url"]
        if "enabled" in body:
            kwargs["enabled"] = bool(body["enabled"])
        if "signatureVersion" in body:
            kwargs["signature_version"] = str(body["signatureVersion"])
        merchant_id = body.get("merchantId")
        if merchant_id and self.app.registry.get(merchant_id) is None:
            raise invalid("merchantId", f"Unknown merchantId {merchant_id}.")
        try:
            endpoint = self.app.ipn.configure(merchant_id, **kwargs)
        except ValueError as exc:
            raise AmazonError(400, "InvalidParameterValue", str(exc)) from None
        return json_response(200, dict(endpoint.as_dict(), merchantId=merchant_id))

    def ipn_deliveries(self, request: Request) -> Response:
        merchant_id = request.query.get("merchantId")
        return json_response(200, {"deliveries": [
            d.as_dict() for d in self.app.ipn.deliveries if merchant_id in (None, d.merchant_id)]})

    def _delivery(self, delivery_id: str):
        try:
            return self.app.ipn.get(delivery_id)
        except KeyError:
            raise AmazonError(404, "ResourceNotFound", f"No IPN delivery {delivery_id}.") from None

    def ipn_delivery(self, request: Request, id: str) -> Response:
        return json_response(200, self._delivery(id).as_dict())

    def replay_ipn(self, request: Request, id: str) -> Response:
        self._delivery(id)
        body = self._body(request)
        try:
            delivery = self.app.ipn.replay(id, body.get("url"))
        except ValueError as exc:
            raise AmazonError(400, "InvalidParameterValue", str(exc)) from None
        if body.get("wait", True):
            self.app.ipn.flush(timeout=float(body.get("timeout", 10)))
        return json_response(200, delivery.as_dict())

    def sns_certificate(self, request: Request) -> Response:
        return Response(200, self.app.ipn.certificate_pem.encode("ascii"),
                        [("Content-Type", "application/x-pem-file")])

    def unsubscribe(self, request: Request) -> Response:
        xml = ("<UnsubscribeResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><ResponseMetadata>"
               "<RequestId>emulator</RequestId></ResponseMetadata></UnsubscribeResponse>")
        return Response(200, xml.encode("utf-8"), [("Content-Type", "text/xml")])

    # -- merchants and requests ---------------------------------------------------------

    def merchants(self, request: Request) -> Response:
        return json_response(200, {"merchants": [m.public_dict() for m in self.app.registry.merchants]})

    def add_merchant(self, request: Request) -> Response:
        body = self._body(request)
        try:
            key = MerchantKey(str(body["publicKeyId"]), str(body["publicKey"]))
            merchant = self.app.registry.add(Merchant(
                merchant_id=str(body["merchantId"]),
                region=str(body.get("region") or "na"),
                store_ids=[str(body["storeId"])] if body.get("storeId") else [],
                keys={key.public_key_id: key},
                ipn_url=body.get("ipnUrl"),
            ))
        except KeyError as exc:
            raise AmazonError(400, "MissingParameterValue", f"{exc.args[0]} is required.") from None
        except ValueError as exc:
            raise AmazonError(400, "InvalidParameterValue", str(exc)) from None
        return json_response(201, merchant.public_dict())

    def requests(self, request: Request) -> Response:
        return json_response(200, {"requests": [r.as_dict() for r in self.app.requests]})
