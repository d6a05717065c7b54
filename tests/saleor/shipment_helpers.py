"""Staff-side GraphQL helpers for the shipment tests (fulfill, update tracking, metadata).

The test database transaction never commits, and Saleor fires fulfillment hooks (and the
plugin queues its Celery tasks, eager in Saleor's test settings) only on commit. Saleor's
test ``ApiClient.post_graphql`` already runs each request inside
``TestCase.captureOnCommitCallbacks(execute=True)``, so the callbacks run when the request
ends. Do not wrap it in ``django_capture_on_commit_callbacks(execute=True)`` as well: the
outer block would run every callback a second time.
"""

from __future__ import annotations

import json

import graphene

from saleor.graphql.tests.utils import get_graphql_content
from saleor.order import OrderEvents
from saleor.order.models import Fulfillment, Order

FULFILL = """
mutation Fulfill($order: ID!, $input: OrderFulfillInput!) {
  orderFulfill(order: $order, input: $input) {
    fulfillments { id status trackingNumber }
    errors { field code message }
  }
}
"""
UPDATE_TRACKING = """
mutation Track($id: ID!, $number: String) {
  orderFulfillmentUpdateTracking(id: $id, input: {trackingNumber: $number, notifyCustomer: false}) {
    fulfillment { id trackingNumber }
    errors { field code message }
  }
}
"""
APPROVE = """
mutation Approve($id: ID!) {
  orderFulfillmentApprove(id: $id, notifyCustomer: false) {
    fulfillment { id status }
    errors { field code message }
  }
}
"""
UPDATE_METADATA = """
mutation Meta($id: ID!, $input: [MetadataInput!]!) {
  updateMetadata(id: $id, input: $input) { errors { field code message } }
}
"""
ORDER_EVENTS = """
query Events($id: ID!) { order(id: $id) { events { type message } } }
"""


class Staff:
    """The dashboard, as a staff member with MANAGE_ORDERS."""

    def __init__(self, client):
        self.client = client

    def _run(self, query: str, variables: dict, field: str) -> dict:
        response = self.client.post_graphql(query, variables)  # runs the on-commit callbacks
        data = get_graphql_content(response)["data"][field]
        assert not data["errors"], data["errors"]
        return data

    def fulfill(self, order: Order, quantities: "dict | None" = None, tracking: "str | None" = None) -> Fulfillment:
        """Fulfill ``{order line: quantity}`` (default: everything) from the lines' warehouses."""
        lines = []
        for line in order.lines.all():
            quantity = quantities.get(line) if quantities is not None else line.quantity_unfulfilled
            if not quantity:
                continue
            warehouse = line.variant.stocks.first().warehouse
            lines.append({"orderLineId": graphene.Node.to_global_id("OrderLine", line.pk),
                          "stocks": [{"quantity": quantity,
                                      "warehouse": graphene.Node.to_global_id("Warehouse", warehouse.pk)}]})
        payload = {"lines": lines, "notifyCustomer": False}
        if tracking is not None:
            payload["trackingNumber"] = tracking
        data = self._run(FULFILL, {"order": graphene.Node.to_global_id("Order", order.pk), "input": payload},
                         "orderFulfill")
        [fulfillment] = data["fulfillments"]
        return Fulfillment.objects.get(pk=graphene.Node.from_global_id(fulfillment["id"])[1])

    def update_tracking(self, fulfillment: Fulfillment, number: str) -> None:
        self._run(UPDATE_TRACKING, {"id": graphene.Node.to_global_id("Fulfillment", fulfillment.pk),
                                    "number": number}, "orderFulfillmentUpdateTracking")

    def approve(self, fulfillment: Fulfillment) -> None:
        self._run(APPROVE, {"id": graphene.Node.to_global_id("Fulfillment", fulfillment.pk)},
                  "orderFulfillmentApprove")

    def set_metadata(self, fulfillment: Fulfillment, key: str, value: str) -> None:
        self._run(UPDATE_METADATA, {"id": graphene.Node.to_global_id("Fulfillment", fulfillment.pk),
                                    "input": [{"key": key, "value": value}]}, "updateMetadata")

    def order_events(self, order: Order) -> "list[dict]":
        response = self.client.post_graphql(ORDER_EVENTS, {"id": graphene.Node.to_global_id("Order", order.pk)})
        return get_graphql_content(response)["data"]["order"]["events"]


def amazon_notes(order: Order) -> "list[str]":
    """Messages of the plugin's order notes, oldest first."""
    events = order.events.filter(type=OrderEvents.EXTERNAL_SERVICE_NOTIFICATION).order_by("pk")
    return [e.parameters.get("message", "") for e in events]


def tracker_record(fulfillment: Fulfillment) -> "dict | None":
    fulfillment.refresh_from_db()
    raw = (fulfillment.private_metadata or {}).get("amazonpay.deliveryTracker")
    return json.loads(raw) if raw else None
