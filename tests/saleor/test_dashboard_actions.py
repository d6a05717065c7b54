"""After checkout: capture, refund and void from the dashboard (staff GraphQL)."""

from __future__ import annotations

from decimal import Decimal

import graphene
import pytest

from saleor.graphql.tests.utils import get_graphql_content
from saleor.order.models import Order
from saleor.payment import ChargeStatus

pytestmark = pytest.mark.saleor

CAPTURE = """
mutation Capture($id: ID!, $amount: PositiveDecimal) {
  paymentCapture(paymentId: $id, amount: $amount) { payment { chargeStatus capturedAmount { amount } }
    errors { code message } }
}
"""
REFUND = """
mutation Refund($id: ID!, $amount: PositiveDecimal) {
  paymentRefund(paymentId: $id, amount: $amount) { payment { chargeStatus capturedAmount { amount } }
    errors { code message } }
}
"""
VOID = """
mutation Void($id: ID!) {
  paymentVoid(paymentId: $id) { payment { chargeStatus isActive } errors { code message } }
}
"""
ORDER_PAYMENTS = """
query Order($id: ID!) {
  order(id: $id) { payments { id pspReference metadata { key value } privateMetadata { key value }
    transactions { kind isSuccess token } } }
}
"""


def _paid_order(amazonpay, checkout, intent="Authorize"):
    amazonpay.configure(payment_intent=intent)
    result = amazonpay.pay(checkout)
    assert result.order is not None, result.errors
    order = Order.objects.get(number=result.order["number"])
    return order, order.payments.get()


def _gql(client, query, variables, field):
    return get_graphql_content(client.post_graphql(query, variables))["data"][field]


def _pid(payment):
    return graphene.Node.to_global_id("Payment", payment.pk)


def _charges(amazonpay):
    return {c["chargeId"]: c for c in amazonpay.objects()["charges"]}


def test_full_capture_of_an_authorization(amazonpay, staff_client, checkout_with_item_and_shipping):
    order, payment = _paid_order(amazonpay, checkout_with_item_and_shipping)
    data = _gql(staff_client, CAPTURE, {"id": _pid(payment)}, "paymentCapture")
    assert not data["errors"], data["errors"]
    assert data["payment"]["chargeStatus"] == "FULLY_CHARGED"
    charge = _charges(amazonpay)[payment.metadata["chargeId"]]
    assert charge["statusDetails"]["state"] == "Captured"
    assert Decimal(charge["captureAmount"]["amount"]) == payment.total


def test_partial_capture_then_partial_refunds(amazonpay, staff_client, checkout_with_item_and_shipping):
    order, payment = _paid_order(amazonpay, checkout_with_item_and_shipping)
    part = (payment.total / 2).quantize(Decimal("0.01"))
    data = _gql(staff_client, CAPTURE, {"id": _pid(payment), "amount": str(part)}, "paymentCapture")
    assert not data["errors"], data["errors"]
    assert data["payment"]["chargeStatus"] == "PARTIALLY_CHARGED"
    assert Decimal(str(data["payment"]["capturedAmount"]["amount"])) == part
    charge = _charges(amazonpay)[payment.metadata["chargeId"]]
    assert Decimal(charge["captureAmount"]["amount"]) == part

    for amount in (Decimal("1.00"), Decimal("2.00")):
        refunded = _gql(staff_client, REFUND, {"id": _pid(payment), "amount": str(amount)}, "paymentRefund")
        assert not refunded["errors"], refunded["errors"]
    refunds = amazonpay.objects()["refunds"]
    assert sorted(Decimal(r["refundAmount"]["amount"]) for r in refunds) == [Decimal("1.00"), Decimal("2.00")]
    assert {r["chargeId"] for r in refunds} == {charge["chargeId"]}
    payment.refresh_from_db()
    assert payment.captured_amount == part - Decimal("3.00")
    assert payment.charge_status == ChargeStatus.PARTIALLY_REFUNDED


def test_refund_in_full_after_authorize_with_capture(amazonpay, staff_client, checkout_with_item_and_shipping):
    order, payment = _paid_order(amazonpay, checkout_with_item_and_shipping, "AuthorizeWithCapture")
    data = _gql(staff_client, REFUND, {"id": _pid(payment)}, "paymentRefund")
    assert not data["errors"], data["errors"]
    assert data["payment"]["chargeStatus"] == "FULLY_REFUNDED"
    [refund] = amazonpay.objects()["refunds"]
    assert Decimal(refund["refundAmount"]["amount"]) == payment.total
    assert refund["chargeId"] == payment.metadata["chargeId"]


def test_void_cancels_the_charge_and_closes_the_permission(amazonpay, staff_client, checkout_with_item_and_shipping):
    order, payment = _paid_order(amazonpay, checkout_with_item_and_shipping)
    data = _gql(staff_client, VOID, {"id": _pid(payment)}, "paymentVoid")
    assert not data["errors"], data["errors"]
    assert data["payment"]["isActive"] is False
    objects = amazonpay.objects()
    [charge] = objects["charges"]
    [permission] = objects["chargePermissions"]
    assert charge["statusDetails"]["state"] == "Canceled"
    assert permission["statusDetails"]["state"] == "Closed"


def test_void_is_refused_once_money_was_captured(amazonpay, staff_client, checkout_with_item_and_shipping):
    order, payment = _paid_order(amazonpay, checkout_with_item_and_shipping)
    part = (payment.total / 2).quantize(Decimal("0.01"))
    _gql(staff_client, CAPTURE, {"id": _pid(payment), "amount": str(part)}, "paymentCapture")
    ORDER_VOID = "mutation V($id: ID!) { orderVoid(id: $id) { errors { code message } } }"
    data = _gql(staff_client, ORDER_VOID, {"id": graphene.Node.to_global_id("Order", order.pk)}, "orderVoid")
    assert data["errors"] and "refund" in data["errors"][0]["message"].lower()
    [permission] = amazonpay.objects()["chargePermissions"]
    assert permission["statusDetails"]["state"] != "Closed"


def test_confirm_intent_is_charged_later_on_the_charge_permission(
    amazonpay, staff_client, checkout_with_item_and_shipping
):
    order, payment = _paid_order(amazonpay, checkout_with_item_and_shipping, "Confirm")
    assert amazonpay.objects()["charges"] == []
    data = _gql(staff_client, CAPTURE, {"id": _pid(payment)}, "paymentCapture")
    assert not data["errors"], data["errors"]
    [charge] = amazonpay.objects()["charges"]
    assert charge["chargePermissionId"] == payment.metadata["chargePermissionId"]
    assert charge["statusDetails"]["state"] == "Captured"
    payment.refresh_from_db()
    assert payment.metadata["chargeId"] == charge["chargeId"]
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED


def test_amazon_errors_reach_staff_with_the_reason(amazonpay, staff_client, checkout_with_item_and_shipping, emulator):
    order, payment = _paid_order(amazonpay, checkout_with_item_and_shipping)
    emulator.app.add_fault("500", "CaptureCharge", count=10)
    data = _gql(staff_client, CAPTURE, {"id": _pid(payment)}, "paymentCapture")
    assert data["errors"]
    assert "Amazon Pay" in data["errors"][0]["message"] and "InternalServerError" in data["errors"][0]["message"]
    emulator.app.faults.clear()
    # Nothing was captured, and the retry uses the same idempotency key: one capture.
    retry = _gql(staff_client, CAPTURE, {"id": _pid(payment)}, "paymentCapture")
    assert not retry["errors"], retry["errors"]
    assert [c["statusDetails"]["state"] for c in amazonpay.objects()["charges"]] == ["Captured"]


def test_capture_after_a_lost_answer_is_not_doubled(amazonpay, staff_client, checkout_with_item_and_shipping, emulator):
    order, payment = _paid_order(amazonpay, checkout_with_item_and_shipping)
    # Amazon captures but every answer is lost until the client gives up: the plugin
    # reads the charge before failing, sees it captured, and records the capture.
    emulator.app.add_fault("drop-response", "CaptureCharge", count=4)
    data = _gql(staff_client, CAPTURE, {"id": _pid(payment)}, "paymentCapture")
    assert not data["errors"], data["errors"]
    assert data["payment"]["chargeStatus"] == "FULLY_CHARGED"
    emulator.app.faults.clear()
    [charge] = amazonpay.objects()["charges"]
    assert Decimal(charge["captureAmount"]["amount"]) == payment.total
    assert charge["statusDetails"]["state"] == "Captured"
    assert amazonpay.operations().count("GetCharge") >= 1


def test_staff_read_the_amazon_ids_in_payment_metadata(amazonpay, staff_client, checkout_with_item_and_shipping):
    order, payment = _paid_order(amazonpay, checkout_with_item_and_shipping)
    data = _gql(staff_client, ORDER_PAYMENTS, {"id": graphene.Node.to_global_id("Order", order.pk)}, "order")
    [p] = data["payments"]
    metadata = {m["key"]: m["value"] for m in p["metadata"]}
    assert set(metadata) >= {"checkoutSessionId", "chargePermissionId", "chargeId"}
    assert p["pspReference"] == metadata["chargeId"]
    assert [t["kind"] for t in p["transactions"]] == ["ACTION_TO_CONFIRM", "AUTH"]
    assert p["transactions"][0]["token"] == metadata["checkoutSessionId"]


def test_capture_after_the_authorization_expired_charges_the_permission_again(
    amazonpay, staff_client, checkout_with_item_and_shipping, emulator
):
    order, payment = _paid_order(amazonpay, checkout_with_item_and_shipping)
    authorization = payment.metadata["chargeId"]
    emulator.app.advance_clock(31 * 24 * 3600)  # Amazon cancels unused authorizations after 30 days
    assert _charges(amazonpay)[authorization]["statusDetails"]["reasonCode"] == "ExpiredUnused"
    data = _gql(staff_client, CAPTURE, {"id": _pid(payment)}, "paymentCapture")
    assert not data["errors"], data["errors"]
    charges = _charges(amazonpay)
    [new_charge] = [c for c in charges.values() if c["chargeId"] != authorization]
    assert new_charge["statusDetails"]["state"] == "Captured"
    assert Decimal(new_charge["captureAmount"]["amount"]) == payment.total
    payment.refresh_from_db()
    assert payment.metadata["chargeId"] == new_charge["chargeId"]
