"""The API surface: which method + path is which Amazon Pay operation.

Operation names are the ones ``core.client`` records in ``CallRecord.operation`` so a
fault can be aimed at exactly the call a test is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.constants import Environment

_PREFIX = re.compile(r"^/(?:(?P<env>sandbox|live)/)?v2(?P<rest>/.*)?$")
_ID = r"(?P<id>[^/]+)"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: "re.Pattern[str]"
    operation: str
    #: Amazon refuses these writes without ``x-amz-pay-idempotency-key``.
    idempotency_required: bool = False
    #: Values of ``x-amz-pay-simulation-code`` Amazon's sandbox honours on this call.
    simulation_codes: frozenset = frozenset()


def _route(method: str, path: str, operation: str, *, idempotent: bool = False, codes: tuple = ()) -> Route:
    return Route(method, re.compile("^" + path.replace("{id}", _ID) + "$"), operation, idempotent, frozenset(codes))


ROUTES: "tuple[Route, ...]" = (
    _route("POST", "/checkoutSessions", "CreateCheckoutSession", idempotent=True),
    _route("GET", "/checkoutSessions/{id}", "GetCheckoutSession"),
    _route("PATCH", "/checkoutSessions/{id}", "UpdateCheckoutSession"),
    _route("POST", "/checkoutSessions/{id}/complete", "CompleteCheckoutSession",
           codes=("BuyerCanceled", "Declined", "AmazonCanceled", "AuthorizationInitiated")),
    _route("GET", "/chargePermissions/{id}", "GetChargePermission"),
    _route("PATCH", "/chargePermissions/{id}", "UpdateChargePermission"),
    _route("DELETE", "/chargePermissions/{id}/close", "CloseChargePermission", codes=("AmazonClosed",)),
    _route("POST", "/charges", "CreateCharge", idempotent=True,
           codes=("HardDeclined", "SoftDeclined", "AmazonRejected", "TransactionTimedOut", "CaptureInitiated")),
    _route("GET", "/charges/{id}", "GetCharge"),
    _route("POST", "/charges/{id}/capture", "CaptureCharge", idempotent=True),
    _route("DELETE", "/charges/{id}/cancel", "CancelCharge"),
    _route("POST", "/refunds", "CreateRefund", idempotent=True, codes=("RefundDeclined",)),
    _route("GET", "/refunds/{id}", "GetRefund"),
    _route("POST", "/deliveryTrackers", "DeliveryTrackers"),
)

OPERATIONS = frozenset(route.operation for route in ROUTES)


@dataclass(frozen=True)
class RouteMatch:
    #: None when the path names no operation (404) or the method is wrong (405).
    route: "Route | None"
    object_id: "str | None"
    #: From ``/sandbox/v2`` or ``/live/v2``; None for ``/v2`` (the key id decides).
    path_environment: "Environment | None"
    method_not_allowed: bool = False
    #: False when the path is not under a known API prefix at all.
    api_path: bool = True

    @property
    def operation(self) -> "str | None":
        return self.route.operation if self.route else None


def match(method: str, path: str) -> RouteMatch:
    """``path`` is the routing path (trailing slash already tolerated)."""
    prefix = _PREFIX.match(path)
    if not prefix:
        return RouteMatch(None, None, None, api_path=False)
    env = Environment(prefix["env"]) if prefix["env"] else None
    rest = prefix["rest"] or "/"
    wrong_method = False
    for route in ROUTES:
        found = route.pattern.match(rest)
        if not found:
            continue
        if route.method == method:
            return RouteMatch(route, found.groupdict().get("id"), env)
        wrong_method = True
    return RouteMatch(None, None, env, method_not_allowed=wrong_method)
