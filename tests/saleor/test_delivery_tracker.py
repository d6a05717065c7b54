"""Fulfillments -> Amazon Pay Delivery Tracker, on a real Saleor through staff GraphQL.

Celery is eager in Saleor's test settings, so the tasks the plugin queues after commit run
when Saleor's test client runs the request's on-commit callbacks (see shipment_helpers).
"""

from __future__ import annotations

import json

import graphene
import pytest

from saleor.order.models import Order

from saleor_amazonpay.core.transport import RequestsTransport
from saleor_amazonpay.plugin import clients, tasks
from shipment_helpers import Staff, amazon_notes, tracker_record
from transactions_fixtures import amazonpay_tx, set_flow  # noqa: F401 - amazonpay_tx is a fixture

pytestmark = pytest.mark.saleor

UPS = "1Z5R89390357567127"
UPS_2 = "1Z879E930346834440"
DHL = "3318810025"
UNKNOWN = "PKG-0001-XYZ"


@pytest.fixture
def staff(staff_client):
    return Staff(staff_client)


@pytest.fixture
def paid_order(amazonpay, checkout_with_item_and_shipping):
    result = amazonpay.pay(checkout_with_item_and_shipping)
    assert result.order is not None, result.errors
    amazonpay.calls.clear()
    return Order.objects.get(number=result.order["number"])


@pytest.fixture
def sent_bodies(amazonpay):
    """The exact request bodies the plugin sends to Amazon (path -> list of JSON bodies)."""
    bodies: "list[tuple[str, str, dict]]" = []

    class Recording(RequestsTransport):
        def send(self, request):
            bodies.append((request.method, request.url, json.loads(request.body) if request.body else None))
            return super().send(request)

    clients.transport_factory = Recording
    clients.reset()
    yield bodies
    clients.transport_factory = None
    clients.reset()


def _cp(order) -> str:
    return order.payments.get().metadata["chargePermissionId"]


def _trackers(amazonpay) -> "list[dict]":
    trackers = amazonpay.objects()["deliveryTrackers"]
    return [{k: t[k] for k in ("chargePermissionId", "deliveryDetails")} for t in trackers]


def _tracker(order, number, carrier) -> dict:
    return {"chargePermissionId": _cp(order), "deliveryDetails": [{"trackingNumber": number, "carrierCode": carrier}]}


# -- posting ------------------------------------------------------------------------------------


def test_new_fulfillment_posts_the_exact_payload(amazonpay, staff, paid_order, sent_bodies):
    fulfillment = staff.fulfill(paid_order, tracking=UPS)

    assert amazonpay.operations() == ["DeliveryTrackers"]
    [(method, url, body)] = sent_bodies
    assert method == "POST" and url.endswith("/v2/deliveryTrackers")
    assert body == {"chargePermissionId": _cp(paid_order),
                    "deliveryDetails": [{"trackingNumber": UPS, "carrierCode": "UPS"}]}
    assert _trackers(amazonpay) == [_tracker(paid_order, UPS, "UPS")]
    record = tracker_record(fulfillment)
    assert {k: record[k] for k in ("trackingNumber", "carrierCode", "chargePermissionId")} == {
        "trackingNumber": UPS, "carrierCode": "UPS", "chargePermissionId": _cp(paid_order)}
    assert record["postedAt"]
    [note] = amazon_notes(paid_order)
    assert UPS in note and "sent to Amazon" in note and "carrier UPS" in note
    assert f"#{fulfillment.composed_id}" in note


def test_staff_see_the_note_in_the_order_history(amazonpay, staff, paid_order):
    staff.fulfill(paid_order, tracking=UPS)
    events = staff.order_events(paid_order)
    notes = [e for e in events if e["type"] == "EXTERNAL_SERVICE_NOTIFICATION"]
    assert len(notes) == 1 and UPS in notes[0]["message"]


def test_tracking_update_posts_the_number(amazonpay, staff, paid_order, sent_bodies):
    fulfillment = staff.fulfill(paid_order)
    assert amazonpay.operations() == [] and amazon_notes(paid_order) == []

    staff.update_tracking(fulfillment, DHL)

    assert amazonpay.operations() == ["DeliveryTrackers"]
    assert [b for _, _, b in sent_bodies] == [_tracker(paid_order, DHL, "DHL")]
    assert _trackers(amazonpay) == [_tracker(paid_order, DHL, "DHL")]
    assert tracker_record(fulfillment)["trackingNumber"] == DHL


def test_repeated_update_with_the_same_number_posts_once(amazonpay, staff, paid_order):
    fulfillment = staff.fulfill(paid_order, tracking=UPS)
    staff.update_tracking(fulfillment, UPS)
    staff.update_tracking(fulfillment, f" {UPS} ")  # Saleor stores it as typed

    assert amazonpay.operations() == ["DeliveryTrackers"]
    assert len(_trackers(amazonpay)) == 1
    assert len(amazon_notes(paid_order)) == 1


def test_a_changed_number_posts_the_new_one(amazonpay, staff, paid_order):
    fulfillment = staff.fulfill(paid_order, tracking=UPS)
    staff.update_tracking(fulfillment, UPS_2)

    assert amazonpay.operations() == ["DeliveryTrackers", "DeliveryTrackers"]
    assert _trackers(amazonpay) == [_tracker(paid_order, UPS, "UPS"), _tracker(paid_order, UPS_2, "UPS")]
    assert tracker_record(fulfillment)["trackingNumber"] == UPS_2


def test_each_fulfillment_of_an_order_posts(amazonpay, staff, paid_order):
    line = paid_order.lines.get()
    assert line.quantity == 3
    first = staff.fulfill(paid_order, {line: 1}, tracking=UPS)
    second = staff.fulfill(paid_order, {line: 2}, tracking=DHL)

    assert _trackers(amazonpay) == [_tracker(paid_order, UPS, "UPS"), _tracker(paid_order, DHL, "DHL")]
    assert tracker_record(first)["trackingNumber"] == UPS
    assert tracker_record(second)["trackingNumber"] == DHL


def test_one_parcel_for_two_fulfillments_is_posted_once(amazonpay, staff, paid_order):
    line = paid_order.lines.get()
    first = staff.fulfill(paid_order, {line: 1}, tracking=UPS)
    second = staff.fulfill(paid_order, {line: 2})
    staff.update_tracking(second, UPS)

    assert amazonpay.operations() == ["DeliveryTrackers"]
    assert _trackers(amazonpay) == [_tracker(paid_order, UPS, "UPS")]
    record = tracker_record(second)
    assert record["trackingNumber"] == UPS and record["sameAsFulfillment"] == first.composed_id


def test_fulfillment_awaiting_approval_posts_when_approved(amazonpay, staff, paid_order, site_settings):
    site_settings.fulfillment_auto_approve = False
    site_settings.save()
    fulfillment = staff.fulfill(paid_order, tracking=UPS)
    assert fulfillment.status == "waiting_for_approval"
    assert amazonpay.operations() == []

    staff.approve(fulfillment)

    assert amazonpay.operations() == ["DeliveryTrackers"]
    assert _trackers(amazonpay) == [_tracker(paid_order, UPS, "UPS")]


# -- retries -----------------------------------------------------------------------------------


def test_throttling_or_5xx_is_retried_by_the_task(amazonpay, staff, paid_order, emulator, monkeypatch, settings):
    settings.AMAZONPAY_TASK_RETRY_BACKOFF = 120
    countdowns = []
    real = tasks.retry_countdown
    monkeypatch.setattr(tasks, "retry_countdown", lambda retries: countdowns.append(real(retries)) or countdowns[-1])
    emulator.app.add_fault("503", "DeliveryTrackers", count=1)

    fulfillment = staff.fulfill(paid_order, tracking=UPS)

    # The client does not retry an un-keyed POST after a 503; the Celery task did, once.
    assert [(c.operation, c.status) for c in amazonpay.calls] == [("DeliveryTrackers", 503), ("DeliveryTrackers", 200)]
    assert _trackers(amazonpay) == [_tracker(paid_order, UPS, "UPS")]
    assert tracker_record(fulfillment)["trackingNumber"] == UPS
    assert len(countdowns) == 1 and 60 <= countdowns[0] <= 120  # real backoff in production
    [note] = amazon_notes(paid_order)
    assert "sent to Amazon" in note


def test_the_last_failed_attempt_leaves_a_note(amazonpay, staff, paid_order, emulator, settings):
    settings.AMAZONPAY_TASK_MAX_RETRIES = 2
    emulator.app.add_fault("500", "DeliveryTrackers", count=10)

    fulfillment = staff.fulfill(paid_order, tracking=UPS)

    assert amazonpay.operations() == ["DeliveryTrackers"] * 3
    assert _trackers(amazonpay) == []
    assert tracker_record(fulfillment) is None
    [note] = amazon_notes(paid_order)
    assert "could not be sent to Amazon after 3 attempts" in note and "InternalServerError" in note
    assert "Save the tracking number again" in note

    # Saving it again once Amazon is back sends it.
    emulator.app.faults.clear()
    staff.update_tracking(fulfillment, UPS)
    assert _trackers(amazonpay) == [_tracker(paid_order, UPS, "UPS")]


def test_retry_countdown_doubles_and_is_capped(settings):
    settings.AMAZONPAY_TASK_RETRY_BACKOFF = 10
    settings.AMAZONPAY_TASK_RETRY_MAX_DELAY = 35
    for retries, ceiling in ((0, 10), (1, 20), (2, 35), (5, 35)):
        delay = tasks.retry_countdown(retries)
        assert ceiling / 2 <= delay <= ceiling
    settings.AMAZONPAY_TASK_RETRY_BACKOFF = 0
    assert tasks.retry_countdown(3) == 0


# -- carrier codes ------------------------------------------------------------------------------


def test_unknown_carrier_posts_nothing_and_tells_staff_how_to_fix_it(amazonpay, staff, paid_order):
    fulfillment = staff.fulfill(paid_order, tracking=UNKNOWN)

    assert amazonpay.operations() == []
    [note] = amazon_notes(paid_order)
    assert UNKNOWN in note and "was not sent to Amazon" in note and "carrier is unknown" in note
    assert '"amazonpay.carrierCode"' in note and "Shipping method to carrier code" in note
    assert paid_order.shipping_method_name in note

    # Saving the same number again does not repeat the note.
    staff.update_tracking(fulfillment, UNKNOWN)
    assert len(amazon_notes(paid_order)) == 1 and amazonpay.operations() == []

    # The fix the note suggests: the carrier code in the fulfillment's metadata sends it.
    staff.set_metadata(fulfillment, "amazonpay.carrierCode", "fedex")
    assert _trackers(amazonpay) == [_tracker(paid_order, UNKNOWN, "FEDEX")]
    assert "from the fulfillment metadata" in amazon_notes(paid_order)[-1]


def test_carrier_from_fulfillment_metadata_wins(amazonpay, staff, paid_order):
    amazonpay.configure(carrier_mapping=f"{paid_order.shipping_method_name} = DHL_DE")
    fulfillment = staff.fulfill(paid_order)
    staff.set_metadata(fulfillment, "amazonpay.carrierCode", "ROYAL_MAIL")
    assert amazonpay.operations() == []  # no tracking number yet

    staff.update_tracking(fulfillment, UPS)  # looks like UPS, but the merchant said otherwise

    assert _trackers(amazonpay) == [_tracker(paid_order, UPS, "ROYAL_MAIL")]
    assert tracker_record(fulfillment)["carrierCode"] == "ROYAL_MAIL"


def test_carrier_from_the_channel_mapping_by_shipping_method_name(amazonpay, staff, paid_order):
    amazonpay.configure(carrier_mapping=f"# carriers\n{paid_order.shipping_method_name.upper()} = dhl_de")
    staff.fulfill(paid_order, tracking=UNKNOWN)

    assert _trackers(amazonpay) == [_tracker(paid_order, UNKNOWN, "DHL_DE")]
    assert "from the channel's mapping" in amazon_notes(paid_order)[0]


@pytest.mark.parametrize("id_form", ["pk", "ShippingMethodType"])
def test_carrier_from_the_channel_mapping_by_shipping_method_id(amazonpay, staff, paid_order, id_form):
    pk = paid_order.shipping_method_id
    key = str(pk) if id_form == "pk" else graphene.Node.to_global_id(id_form, pk)
    amazonpay.configure(carrier_mapping=f"{paid_order.shipping_method_name} = UPS\n{key} = USPS")
    staff.fulfill(paid_order, tracking=UNKNOWN)

    assert _trackers(amazonpay) == [_tracker(paid_order, UNKNOWN, "USPS")]


def test_amazon_refusing_the_carrier_code_leaves_a_note(amazonpay, staff, paid_order, emulator):
    # Give the emulator Amazon's carrier list (here: a tiny one) so it refuses other codes.
    emulator.app.known_carriers = frozenset({"UPS", "DHL"})
    try:
        fulfillment = staff.fulfill(paid_order)
        staff.set_metadata(fulfillment, "amazonpay.carrierCode", "ACME_EXPRESS")
        staff.update_tracking(fulfillment, UNKNOWN)
    finally:
        emulator.app.known_carriers = None

    assert [(c.operation, c.status) for c in amazonpay.calls] == [("DeliveryTrackers", 400)]  # not retried
    assert _trackers(amazonpay) == []
    [note] = amazon_notes(paid_order)
    assert "did not accept" in note and "ACME_EXPRESS" in note and "InvalidParameterValue" in note


# -- left alone ------------------------------------------------------------------------------------


def test_orders_paid_otherwise_are_untouched(amazonpay, staff, order_with_lines, payment_dummy):
    amazonpay.configure(capture_on_shipment=True)
    assert order_with_lines.channel == amazonpay.channel
    staff.fulfill(order_with_lines, tracking=UPS)
    assert amazonpay.operations() == []
    assert amazon_notes(order_with_lines) == []


def test_orders_without_payment_are_untouched(amazonpay, staff, order_with_lines):
    staff.fulfill(order_with_lines, tracking=UPS)
    assert amazonpay.operations() == [] and amazon_notes(order_with_lines) == []


@pytest.mark.parametrize("config", [{"delivery_tracker_enabled": False}, {"active": False}],
                         ids=["feature-off", "plugin-inactive"])
def test_feature_off_leaves_amazon_orders_untouched(amazonpay, staff, paid_order, config):
    amazonpay.configure(**config)
    fulfillment = staff.fulfill(paid_order, tracking=UPS)
    staff.update_tracking(fulfillment, UPS_2)
    assert amazonpay.operations() == []
    assert amazon_notes(paid_order) == []
    assert tracker_record(fulfillment) is None


# -- never in the way of a fulfillment ----------------------------------------------------------


def test_a_broken_task_queue_never_fails_the_fulfillment(amazonpay, staff, paid_order, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.post_delivery_tracker_task, "delay", broker_down)
    fulfillment = staff.fulfill(paid_order, tracking=UPS)  # asserts the mutation had no errors
    assert fulfillment.tracking_number == UPS
    assert amazonpay.operations() == []


def test_a_crashing_task_never_fails_the_fulfillment(amazonpay, staff, paid_order, monkeypatch):
    from saleor_amazonpay.plugin import shipments

    def bug(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(shipments, "carrier_for", bug)
    fulfillment = staff.fulfill(paid_order, tracking=UPS)
    staff.update_tracking(fulfillment, UPS_2)
    assert amazonpay.operations() == []


# -- orders paid through the Transactions API -------------------------------------------------------


def test_transactions_api_orders_post_trackers_too(amazonpay_tx, staff, checkout_with_item_and_shipping):  # noqa: F811
    set_flow(amazonpay_tx.channel, "authorization")
    amazonpay_tx.configure(capture_on_shipment=True)
    order, item = amazonpay_tx.paid_order(checkout_with_item_and_shipping)
    assert not order.payments.exists()
    amazonpay_tx.calls.clear()

    staff.fulfill(order, tracking=UPS)

    # The tracker goes to the TransactionItem's charge permission; capture on shipment is a
    # checkoutComplete-flow feature and says so instead of charging.
    assert amazonpay_tx.operations() == ["DeliveryTrackers"]
    [tracker] = _trackers(amazonpay_tx)
    assert tracker == {"chargePermissionId": item.metadata["chargePermissionId"],
                       "deliveryDetails": [{"trackingNumber": UPS, "carrierCode": "UPS"}]}
    notes = amazon_notes(order)
    assert any("sent to Amazon" in n for n in notes)
    assert any("Transactions API" in n and "not captured" in n for n in notes)
