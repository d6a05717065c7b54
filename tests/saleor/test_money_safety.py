"""Retries, lost answers and repeated calls: every checkout completes once and charges once."""

from __future__ import annotations

import json

import pytest

from saleor.order.models import Order

from saleor_amazonpay.core import BUYER_MESSAGE

pytestmark = pytest.mark.saleor


def _to_confirm_step(amazonpay, checkout, **buyer):
    session_id = amazonpay.buyer_signs_in(checkout, **buyer)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    first = amazonpay.complete(checkout)
    assert first.data["confirmationNeeded"], first.errors
    returned = amazonpay.buyer_returns_from_amazon(first.data["confirmationData"])
    amazonpay.calls.clear()
    return returned


def _one_completed_charge(amazonpay):
    objects = amazonpay.objects()
    assert len(objects["charges"]) == 1, objects["charges"]
    assert len(objects["chargePermissions"]) == 1
    [session] = objects["checkoutSessions"]
    assert session["statusDetails"]["state"] == "Completed"
    return objects["charges"][0]


def test_lost_answer_after_complete_committed_converges_on_the_completed_session(
    amazonpay, checkout_with_item_and_shipping, emulator
):
    checkout = checkout_with_item_and_shipping
    session_id = _to_confirm_step(amazonpay, checkout)
    emulator.app.add_fault("drop-response", "CompleteCheckoutSession")

    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": session_id})

    assert result.order is not None, result.errors
    charge = _one_completed_charge(amazonpay)
    payment = Order.objects.get(number=result.order["number"]).payments.get()
    assert payment.metadata["chargeId"] == charge["chargeId"]
    assert payment.transactions.filter(kind="auth", is_success=True).count() == 1
    # Read before deciding: no second Complete was sent.
    assert amazonpay.operations() == ["CompleteCheckoutSession", "GetCheckoutSession", "GetCharge"]


def test_complete_throttled_or_failing_before_processing_is_retried_once(
    amazonpay, checkout_with_item_and_shipping, emulator
):
    checkout = checkout_with_item_and_shipping
    session_id = _to_confirm_step(amazonpay, checkout)
    emulator.app.add_fault("503", "CompleteCheckoutSession")

    result = amazonpay.complete(checkout, {"amazonCheckoutSessionId": session_id})

    assert result.order is not None, result.errors
    _one_completed_charge(amazonpay)
    assert amazonpay.operations() == ["CompleteCheckoutSession", "GetCheckoutSession", "CompleteCheckoutSession"]


def test_unknown_outcome_fails_safely_then_the_retry_converges(amazonpay, checkout_with_item_and_shipping, emulator):
    checkout = checkout_with_item_and_shipping
    session_id = _to_confirm_step(amazonpay, checkout)
    # Complete commits but its answer is lost, and Amazon stays unreachable for the read.
    emulator.app.add_fault("drop-response", "CompleteCheckoutSession")
    emulator.app.add_fault("503", "GetCheckoutSession", count=10)

    first = amazonpay.complete(checkout, {"amazonCheckoutSessionId": session_id})

    assert first.order is None and [e["message"] for e in first.errors] == [BUYER_MESSAGE]
    emulator.app.faults.clear()
    # The buyer (or the storefront) retries: Amazon refuses a second Complete, the
    # plugin reads the session, finds it completed and creates the order. Nothing is
    # canceled and nothing is charged twice.
    second = amazonpay.complete(checkout, {"amazonCheckoutSessionId": session_id})

    assert second.order is not None, second.errors
    _one_completed_charge(amazonpay)
    assert Order.objects.count() == 1


def test_checkout_complete_twice_returns_the_same_order_with_one_charge(amazonpay, checkout_with_item_and_shipping):
    checkout = checkout_with_item_and_shipping
    session_id = _to_confirm_step(amazonpay, checkout)
    first = amazonpay.complete(checkout, {"amazonCheckoutSessionId": session_id})
    second = amazonpay.complete(checkout, {"amazonCheckoutSessionId": session_id})
    assert first.order is not None and second.order is not None
    assert first.order["id"] == second.order["id"]
    _one_completed_charge(amazonpay)
    assert amazonpay.operations().count("CompleteCheckoutSession") == 1


def test_update_is_retried_on_throttling_without_a_second_session(amazonpay, checkout_with_item_and_shipping, emulator):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    emulator.app.add_fault("429", "UpdateCheckoutSession")
    amazonpay.calls.clear()
    first = amazonpay.complete(checkout)
    assert first.data["confirmationNeeded"], first.errors
    assert amazonpay.operations() == ["GetCheckoutSession", "UpdateCheckoutSession", "UpdateCheckoutSession"]
    assert json.loads(first.data["confirmationData"])["checkoutSessionId"] == session_id
