"""Concurrency with real database transactions: racing buyers never charge twice.

These tests use ``@pytest.mark.django_db(transaction=True)``: every GraphQL request runs in
its own thread with its own PostgreSQL connection and real commits, so Saleor's row locks
(``select_for_update`` on the checkout and the payment) are what keeps the racing requests
apart, as in production. The replica alias must point at the test database for the worker
threads' connections (the main thread's replica is Saleor's fake mirror).

The same property against a Saleor server under uvicorn, with many buyers at once, is
measured by ``benchmarks/saleor_server.py`` (docs/performance.md).
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from saleor.checkout.fetch import fetch_checkout_info
from saleor.checkout.models import Checkout, CheckoutMetadata
from saleor.checkout.tests.utils import add_variant_to_checkout
from saleor.graphql.tests.fixtures import ApiClient
from saleor.order.models import Order
from saleor.payment.models import Payment
from saleor.plugins.manager import get_plugins_manager
from saleor.warehouse.models import Stock

from amazonpay_fixtures import Storefront
from test_reliability_faults import violations

pytestmark = [pytest.mark.saleor, pytest.mark.django_db(transaction=True)]

RACERS = 6
BUYERS = 6


@pytest.fixture
def threaded_db(transactional_db):
    """Worker threads open real connections: point the replica at the test database."""
    replica = connections.settings["replica"]
    original = replica["NAME"]
    replica["NAME"] = connections["default"].settings_dict["NAME"]
    yield
    replica["NAME"] = original


def _in_threads(work, count: int, timeout: float = 120.0) -> list:
    """Run ``work(i)`` in ``count`` threads released at once; return results (or exceptions)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a request hung: deadlock?"
    return results


def _storefront(amazonpay) -> Storefront:
    """A storefront with its own test client (one per thread)."""
    return Storefront(ApiClient(user=None), amazonpay.emulator, amazonpay.merchant, amazonpay.channel,
                      amazonpay.calls)


def test_parallel_confirmations_of_one_checkout_make_one_order_and_one_charge(
    threaded_db, amazonpay, checkout_with_item_and_shipping
):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]
    first = amazonpay.complete(checkout)
    assert first.data["confirmationNeeded"], first.errors
    returned = amazonpay.buyer_returns_from_amazon(first.data["confirmationData"])
    amazonpay.calls.clear()

    # The buyer double-clicks "place order" and the storefront retries: RACERS requests at once.
    results = _in_threads(
        lambda i: _storefront(amazonpay).complete(checkout, {"amazonCheckoutSessionId": returned}), RACERS)

    crashed = [r for r in results if isinstance(r, BaseException)]
    assert not crashed, crashed
    orders = {r.order["id"] for r in results if r.order}
    errors = [e for r in results for e in r.errors]
    assert len(orders) == 1, (orders, errors)
    # A loser either gets the same order or is told the checkout is being completed;
    # never a payment error.
    assert all(e["code"] != "PAYMENT_ERROR" for e in errors), errors
    assert Order.objects.count() == 1
    objects = amazonpay.objects()
    assert len(objects["charges"]) == 1 and len(objects["chargePermissions"]) == 1
    assert amazonpay.operations().count("CompleteCheckoutSession") == 1
    assert violations(objects, final=True) == []


def test_parallel_first_steps_of_one_checkout_update_one_session(
    threaded_db, amazonpay, checkout_with_item_and_shipping
):
    checkout = checkout_with_item_and_shipping
    session_id = amazonpay.buyer_signs_in(checkout)
    assert not amazonpay.payment_create(checkout, session_id)["errors"]

    results = _in_threads(lambda i: _storefront(amazonpay).complete(checkout), RACERS)

    crashed = [r for r in results if isinstance(r, BaseException)]
    assert not crashed, crashed
    redirects = {json.loads(r.data["confirmationData"])["checkoutSessionId"]
                 for r in results if r.data.get("confirmationNeeded")}
    assert redirects == {session_id}
    assert Order.objects.count() == 0
    # The buyer returns once and the checkout completes normally.
    returned = amazonpay.buyer_returns_from_amazon(
        next(r.data["confirmationData"] for r in results if r.data.get("confirmationNeeded")))
    done = amazonpay.complete(checkout, {"amazonCheckoutSessionId": returned})
    assert done.order is not None, done.errors
    assert len(amazonpay.objects()["charges"]) == 1


def _more_checkouts(base: Checkout, count: int, checkout_delivery) -> "list[Checkout]":
    """``count`` checkouts like ``base`` (same lines, address and shipping method)."""
    manager = get_plugins_manager(allow_replica=False)
    lines = [(line.variant, line.quantity) for line in base.lines.all()]
    Stock.objects.update(quantity=10_000)
    made = []
    for index in range(count):
        address = base.shipping_address
        address.pk = None
        address.save()
        checkout = Checkout.objects.create(
            currency=base.currency, channel=base.channel, email=f"buyer{index}@example.com",
            price_expiration=timezone.now(), shipping_address=address, billing_address=address,
        )
        checkout.set_country("US", commit=True)
        CheckoutMetadata.objects.create(checkout=checkout)
        info = fetch_checkout_info(checkout, [], manager)
        for variant, quantity in lines:
            add_variant_to_checkout(info, variant, quantity)
        checkout.assigned_delivery = checkout_delivery(checkout)
        checkout.save()
        made.append(checkout)
    return made


def test_many_buyers_at_once_each_get_one_order_and_one_charge(
    threaded_db, amazonpay, checkout_with_item_and_shipping, checkout_delivery
):
    checkouts = _more_checkouts(checkout_with_item_and_shipping, BUYERS, checkout_delivery)

    results = _in_threads(lambda i: _storefront(amazonpay).pay(checkouts[i]), BUYERS)

    crashed = [r for r in results if isinstance(r, BaseException)]
    assert not crashed, crashed
    assert all(r.order is not None and not r.errors for r in results), [r.errors for r in results]
    assert Order.objects.count() == BUYERS
    objects = amazonpay.objects()
    charges = objects["charges"]
    assert len(charges) == BUYERS
    per_order = {p.order_id: p.metadata["chargeId"] for p in Payment.objects.filter(order__isnull=False)}
    assert len(per_order) == BUYERS and set(per_order.values()) == {c["chargeId"] for c in charges}
    totals = {Decimal(str(r.order["total"]["gross"]["amount"])) for r in results}
    assert {Decimal(c["chargeAmount"]["amount"]) for c in charges} == totals
    assert violations(objects, final=True) == []
