"""Handlers of the Amazon Pay API operations: validate the body, apply the store's rule,
render Amazon's response shape and status code.

Handlers run after the envelope checks (see app.py), inside the store lock, with the
authenticated merchant in ``ctx``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..core.models import Price
from . import validation
from .merchants import Merchant
from .objects import Owner
from .store import Store
from .wire import Request, Response, json_response


@dataclass
class ApiContext:
    request: Request
    merchant: Merchant
    owner: Owner
    object_id: "str | None"
    body: Any
    simulation_code: "str | None"
    store: Store
    #: Where the emulator is reachable by the buyer's browser (amazonPayRedirectUrl).
    base_url: str
    known_carriers: "frozenset[str] | None" = None


def _session(ctx: ApiContext, status: int, session) -> Response:
    return json_response(status, session.to_api(ctx.base_url))


def _cp(ctx: ApiContext, status: int, cp) -> Response:
    return json_response(status, cp.to_api(ctx.store.balance(cp)))


# -- Checkout Session -------------------------------------------------------------------------

def create_checkout_session(ctx: ApiContext) -> Response:
    fields = validation.create_checkout_session(ctx.body)
    session = ctx.store.create_checkout_session(ctx.merchant, ctx.owner.environment, fields, source="api")
    return _session(ctx, 201, session)


def get_checkout_session(ctx: ApiContext) -> Response:
    return _session(ctx, 200, ctx.store.get_checkout_session(ctx.object_id or "", ctx.owner))


def update_checkout_session(ctx: ApiContext) -> Response:
    changes = validation.update_checkout_session(ctx.body)
    session = ctx.store.get_checkout_session(ctx.object_id or "", ctx.owner)
    return _session(ctx, 200, ctx.store.update_checkout_session(session, ctx.merchant, changes))


def complete_checkout_session(ctx: ApiContext) -> Response:
    fields = validation.complete_checkout_session(ctx.body)
    session = ctx.store.get_checkout_session(ctx.object_id or "", ctx.owner)
    session, status = ctx.store.complete_checkout_session(
        session, fields["chargeAmount"], fields["totalOrderAmount"], ctx.simulation_code
    )
    return _session(ctx, status, session)


# -- Charge Permission ------------------------------------------------------------------------

def get_charge_permission(ctx: ApiContext) -> Response:
    return _cp(ctx, 200, ctx.store.get_charge_permission(ctx.object_id or "", ctx.owner))


def update_charge_permission(ctx: ApiContext) -> Response:
    changes = validation.update_charge_permission(ctx.body)
    cp = ctx.store.get_charge_permission(ctx.object_id or "", ctx.owner)
    return _cp(ctx, 200, ctx.store.update_charge_permission(cp, changes))


def close_charge_permission(ctx: ApiContext) -> Response:
    fields = validation.close_charge_permission(ctx.body)
    cp = ctx.store.get_charge_permission(ctx.object_id or "", ctx.owner)
    cp = ctx.store.close_charge_permission(cp, fields["closureReason"], fields["cancelPendingCharges"],
                                           ctx.simulation_code)
    return _cp(ctx, 200, cp)


# -- Charge -----------------------------------------------------------------------------------

def create_charge(ctx: ApiContext) -> Response:
    fields = validation.create_charge(ctx.body)
    cp = ctx.store.get_charge_permission(fields["chargePermissionId"], ctx.owner)
    charge = ctx.store.create_charge(
        cp, fields["chargeAmount"], capture_now=fields["captureNow"],
        can_handle_pending_authorization=fields["canHandlePendingAuthorization"],
        soft_descriptor=fields["softDescriptor"], merchant_metadata=fields["merchantMetadata"],
        provider_metadata=fields["providerMetadata"], simulation_code=ctx.simulation_code,
    )
    return json_response(201, charge.to_api())


def get_charge(ctx: ApiContext) -> Response:
    return json_response(200, ctx.store.get_charge(ctx.object_id or "", ctx.owner).to_api())


def capture_charge(ctx: ApiContext) -> Response:
    fields = validation.capture_charge(ctx.body)
    charge = ctx.store.get_charge(ctx.object_id or "", ctx.owner)
    charge = ctx.store.capture_charge(charge, fields["captureAmount"], fields["softDescriptor"])
    return json_response(200, charge.to_api())


def cancel_charge(ctx: ApiContext) -> Response:
    fields = validation.cancel_charge(ctx.body)
    charge = ctx.store.get_charge(ctx.object_id or "", ctx.owner)
    return json_response(200, ctx.store.cancel_charge(charge, fields["cancellationReason"]).to_api())


# -- Refund -----------------------------------------------------------------------------------

def create_refund(ctx: ApiContext) -> Response:
    fields = validation.create_refund(ctx.body)
    charge = ctx.store.get_charge(fields["chargeId"], ctx.owner)
    refund = ctx.store.create_refund(charge, fields["refundAmount"], fields["softDescriptor"], ctx.simulation_code)
    return json_response(201, refund.to_api())


def get_refund(ctx: ApiContext) -> Response:
    return json_response(200, ctx.store.get_refund(ctx.object_id or "", ctx.owner).to_api())


# -- Delivery trackers ------------------------------------------------------------------------

def delivery_trackers(ctx: ApiContext) -> Response:
    fields = validation.delivery_tracker(ctx.body, ctx.known_carriers)
    ctx.store.add_delivery_tracker(
        ctx.owner, tracking_number=fields["trackingNumber"], carrier_code=fields["carrierCode"],
        charge_permission_id=fields["chargePermissionId"], amazon_order_reference_id=fields["amazonOrderReferenceId"],
    )
    # Amazon answers 200 and echoes the request body.
    return json_response(200, ctx.body)


HANDLERS: "dict[str, Callable[[ApiContext], Response]]" = {
    "CreateCheckoutSession": create_checkout_session,
    "GetCheckoutSession": get_checkout_session,
    "UpdateCheckoutSession": update_checkout_session,
    "CompleteCheckoutSession": complete_checkout_session,
    "GetChargePermission": get_charge_permission,
    "UpdateChargePermission": update_charge_permission,
    "CloseChargePermission": close_charge_permission,
    "CreateCharge": create_charge,
    "GetCharge": get_charge,
    "CaptureCharge": capture_charge,
    "CancelCharge": cancel_charge,
    "CreateRefund": create_refund,
    "GetRefund": get_refund,
    "DeliveryTrackers": delivery_trackers,
}

__all__ = ["ApiContext", "HANDLERS", "Price"]
