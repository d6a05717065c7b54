"""A real browser buys on a real Saleor: the demo storefront, the plugin, the emulator.

Chromium (Debian's, driven by Playwright) opens the demo storefront
(``saleor_amazonpay.storefront``), which talks to Saleor's GraphQL API served over HTTP by
pytest-django's ``live_server``. It clicks through the whole purchase: product, checkout,
the Amazon Pay button (the emulator's ``checkout.js``, because the channel's API base URL
override points at the emulator), Amazon's sign-in page, the review page, Amazon's
confirmation, the result page, and asserts the order in the page, in Saleor's database and
at "Amazon". Screenshots of every step go to ``artifacts/e2e/``.

Skipped, with the reason, without the playwright package or Chromium (see
``browser_support.py``); the whole folder is skipped without Saleor (see conftest.py).

``live_server`` makes these tests transactional (TransactionTestCase semantics): the data
is committed so that the server's threads see it, and the tables are flushed afterwards.
"""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from browser_support import CHROMIUM_ARGS, artifacts_dir, chromium_path, skip_reason

# Transactional: the live server's threads must see committed data. The marker also makes
# pytest-django run these tests after the other (non-transactional) database tests.
pytestmark = [pytest.mark.saleor, pytest.mark.django_db(transaction=True)]

_SKIP = skip_reason()
if _SKIP:
    pytest.skip(_SKIP, allow_module_level=True)

from django.conf import settings as django_settings  # noqa: E402
from django.db import connections  # noqa: E402

from saleor.order.models import Order  # noqa: E402
from saleor.payment import ChargeStatus, TransactionKind  # noqa: E402

from saleor_amazonpay.storefront import StorefrontServer  # noqa: E402

try:  # The Transactions API flow (docs/transactions-api.md) and its fixtures.
    from transactions_fixtures import amazonpay_tx, set_flow  # noqa: E402, F401
except ImportError:  # pragma: no cover - before the Transactions API flow existed
    amazonpay_tx = set_flow = None

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module", autouse=True)
def fresh_replica_mirror_afterwards():
    """After this module, give the tests that follow a clean ``replica`` mirror.

    A transactional test ends with Django flushing every database alias, ``replica``
    included: in this thread that alias is Saleor's ``FakeDbReplicaConnection``, a wrapper
    of ``default``, and the flush's ``atomic`` leaves transaction flags
    (``in_atomic_block``, ``needs_rollback``, ...) on the wrapper itself, shadowing those of
    ``default``. The next non-transactional test would then fail at teardown with
    "An error occurred in the current transaction". A new wrapper has no such flags.
    """
    yield
    from saleor.tests.utils import FakeDbReplicaConnection

    alias = django_settings.DATABASE_CONNECTION_REPLICA_NAME
    mirror = connections[alias]
    if isinstance(mirror, FakeDbReplicaConnection):
        connections[alias] = FakeDbReplicaConnection(mirror.replica_conn)


@pytest.fixture
def replica_on_test_db():
    """The live server answers from its own threads, which open real connections: the
    ``replica`` alias (a mirror of ``default`` in the test thread only) must name the test
    database there too."""
    alias = django_settings.DATABASE_CONNECTION_REPLICA_NAME
    saved = connections.settings[alias].get("NAME")
    connections.settings[alias]["NAME"] = connections["default"].settings_dict["NAME"]
    yield
    connections.settings[alias]["NAME"] = saved


@pytest.fixture
def saleor_url(replica_on_test_db, live_server):
    url = f"{live_server.url}/graphql/"
    # Saleor really answers over HTTP (and the plugin's gateway is installed).
    response = requests.post(url, json={"query": "{ shop { name } }"}, timeout=60)
    assert response.status_code == 200, response.text
    return url


@pytest.fixture
def storefront(saleor_url, amazonpay, channel_USD):
    """The demo storefront for channel_USD, and the channel's return URLs pointing at it."""
    with StorefrontServer(saleor_url, channel_USD.slug, port=0) as shop:
        amazonpay.configure(checkout_review_return_url=shop.review_url,
                            checkout_result_return_url=shop.result_url)
        yield shop


@pytest.fixture
def browser_page(monkeypatch, storefront):
    """A fresh Chromium page; console messages and page errors are collected."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in this thread: let the test still use
    # Django's ORM for its assertions.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 900})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.set_default_navigation_timeout(TIMEOUT_MS)
            page.console_lines = []
            page.page_errors = []
            page.on("console", lambda m: page.console_lines.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: page.page_errors.append(str(e)))
            yield page
        finally:
            browser.close()


class Shots:
    """Numbered screenshots: artifacts/e2e/<flow>-NN-<step>.png."""

    def __init__(self, page, prefix: str) -> None:
        self.page, self.prefix, self.count, self.paths = page, prefix, 0, []
        self.folder = artifacts_dir()
        for old in self.folder.glob(f"{prefix}-*"):
            old.unlink()

    def take(self, step: str):
        self.count += 1
        path = self.folder / f"{self.prefix}-{self.count:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.paths.append(path)
        return path

    def dump(self, name: str = "failure", screenshot: bool = True) -> None:
        """The page's HTML and console log (and a screenshot) next to the screenshots."""
        try:
            if screenshot:
                self.take(name)
            (self.folder / f"{self.prefix}-{name}.html").write_text(self.page.content(), encoding="utf-8")
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        log = "\n".join(self.page.console_lines + [f"pageerror: {e}" for e in self.page.page_errors])
        (self.folder / f"{self.prefix}-console.log").write_text(log + "\n", encoding="utf-8")


def _session_id(url: str) -> str:
    return parse_qs(urlsplit(url).query)["amazonCheckoutSessionId"][0]


def buy_with_amazon_pay(page, storefront, shots: Shots, flow: str, instrument: str = "1111") -> dict:
    """Click through the whole purchase; return what the result page shows."""
    # 1. The shop lists the channel's product; choose the flow, buy.
    page.goto(f"{storefront.url}/?flow={flow}")
    page.wait_for_selector("#buy-0")
    page.check(f"input[name=flow][value={flow}]")
    shots.take("products")
    page.click("#buy-0")

    # 2. Checkout: the summary and the Amazon Pay button from the plugin's configuration.
    page.wait_for_url(f"{storefront.url}/checkout")
    button = page.wait_for_selector("#AmazonPayButton button")
    assert "/_emulator/checkout.js" in page.inner_text("#button-script")
    shots.take("checkout-button")
    button.click()

    # 3. Amazon (the emulator's hosted page): sign in, pick address and card, continue.
    page.wait_for_selector("#amazonpay-approve")
    page.check(f"#instrument-{instrument}")
    shots.take("amazon-sign-in")
    page.click("#amazonpay-approve")

    # 4. Review: the buyer's Amazon details fill the checkout; place the order.
    page.wait_for_url(f"{storefront.review_url}?*")
    session_id = _session_id(page.url)
    page.wait_for_selector("#place-order:not([disabled])")
    assert "CHICAGO" in page.inner_text("#shipping-address").upper()  # Saleor normalises it
    assert page.inner_text("#amazon-payment-descriptor").endswith(f"****{instrument}")
    shots.take("review")
    page.click("#place-order")

    # 5. Amazon confirms (a redirect), then the result page completes the checkout.
    page.wait_for_url(f"{storefront.result_url}?*")
    assert _session_id(page.url) == session_id
    page.wait_for_selector("#order:not([hidden]), #error:not([hidden])")
    shots.take("result")
    return {
        "session_id": session_id,
        "number": page.inner_text("#order-number").strip(),
        "status": page.inner_text("#order-status").strip(),
        "payment_status": page.inner_text("#order-payment-status").strip(),
        "total": page.inner_text("#order-total").strip(),
        "shown_session_id": page.inner_text("#amazon-checkout-session-id").strip(),
        "charge_id": page.inner_text("#amazon-charge-id").strip(),
        "log": page.inner_text("#log"),
        "staff_note": page.inner_text("#staff-note"),
        "error": page.inner_text("#error").strip(),
    }


def test_buyer_pays_with_amazon_pay_through_checkout_complete(browser_page, storefront, amazonpay, product):
    page = browser_page
    shots = Shots(page, "checkout-complete")
    try:
        shown = buy_with_amazon_pay(page, storefront, shots, "checkoutComplete")
        assert not page.page_errors, page.page_errors
    except Exception:
        shots.dump()
        raise
    shots.dump("final", screenshot=False)

    # The page shows the order, the Amazon session id and the charge id (pspReference).
    assert not shown["error"], shown["error"]
    order = Order.objects.get(number=shown["number"])
    assert shown["status"] == order.status.upper() == "UNFULFILLED"
    assert shown["total"] == f"{order.total_gross_amount:.2f} USD"
    assert shown["shown_session_id"] == shown["session_id"]
    assert "chargePermissionId" in shown["staff_note"]
    for operation in ("checkoutCreate", "checkoutDeliveryMethodUpdate", "availablePaymentGateways",
                      "paymentInitialize", "checkoutShippingAddressUpdate", "checkoutPaymentCreate",
                      "checkoutComplete"):
        assert operation in shown["log"], shown["log"]

    # Saleor: an Amazon Pay payment, authorized (intent Authorize), with Amazon's ids.
    payment = order.payments.get()
    assert payment.gateway == "saleor.payments.amazonpay"
    assert payment.charge_status == ChargeStatus.NOT_CHARGED
    assert payment.transactions.filter(kind=TransactionKind.AUTH, is_success=True).exists()
    assert payment.metadata["checkoutSessionId"] == shown["session_id"]
    assert shown["charge_id"] == payment.psp_reference == payment.metadata["chargeId"]
    assert order.shipping_address.city.upper() == "CHICAGO"  # from Amazon, through the review page
    assert order.user_email == "buyer@example.com"

    # Amazon (the emulator): the session completed for the order's total, charge authorized.
    objects = amazonpay.objects()
    [session] = objects["checkoutSessions"]
    assert session["checkoutSessionId"] == shown["session_id"]
    assert session["statusDetails"]["state"] == "Completed"
    assert Decimal(session["paymentDetails"]["chargeAmount"]["amount"]) == order.total_gross_amount
    [charge] = objects["charges"]
    assert charge["chargeId"] == payment.metadata["chargeId"]
    assert charge["statusDetails"]["state"] == "Authorized"
    assert payment.metadata["chargePermissionId"] == session["chargePermissionId"]
    print(json.dumps({"order": shown["number"], "screenshots": [str(p) for p in shots.paths]}, indent=2))


@pytest.mark.skipif(amazonpay_tx is None, reason="the Transactions API flow (tests/saleor/transactions_fixtures.py) "
                                                "is not in this checkout")
def test_buyer_pays_with_amazon_pay_through_the_transactions_api(browser_page, storefront, amazonpay_tx, product,
                                                                 channel_USD):
    set_flow(channel_USD, "authorization")
    page = browser_page
    shots = Shots(page, "transactions")
    try:
        shown = buy_with_amazon_pay(page, storefront, shots, "transactions")
        assert not page.page_errors, page.page_errors
    except Exception:
        shots.dump()
        raise
    shots.dump("final", screenshot=False)

    assert not shown["error"], shown["error"]
    order = Order.objects.get(number=shown["number"])
    assert shown["status"] == order.status.upper() == "UNFULFILLED"
    assert shown["total"] == f"{order.total_gross_amount:.2f} USD"
    assert shown["shown_session_id"] == shown["session_id"]
    for operation in ("checkoutCreate", "paymentGatewayInitialize", "paymentInitialize", "transactionInitialize",
                      "transactionProcess", "checkoutComplete"):
        assert operation in shown["log"], shown["log"]
    assert "checkoutPaymentCreate" not in shown["log"]

    # Saleor: no legacy payment; one Amazon Pay transaction holding the authorized total.
    assert not order.payments.exists()
    item = order.payment_transactions.get()
    assert item.authorized_value == order.total_gross_amount and item.charged_value == 0
    assert item.metadata["checkoutSessionId"] == shown["session_id"]
    assert shown["charge_id"] == item.psp_reference == item.metadata["chargeId"]
    assert order.shipping_address.city.upper() == "CHICAGO"

    [session] = amazonpay_tx.objects()["checkoutSessions"]
    assert session["statusDetails"]["state"] == "Completed"
    [charge] = amazonpay_tx.objects()["charges"]
    assert charge["chargeId"] == item.metadata["chargeId"]
    assert charge["statusDetails"]["state"] == "Authorized"


def test_a_declined_payment_shows_the_buyer_message_and_creates_no_order(browser_page, storefront, amazonpay,
                                                                        product):
    """Visa …3434: Amazon declines at confirmation; the result page says so, nothing is charged."""
    from saleor_amazonpay.core import BUYER_MESSAGE

    page = browser_page
    shots = Shots(page, "declined")
    try:
        shown = buy_with_amazon_pay(page, storefront, shots, "checkoutComplete", instrument="3434")
        assert not page.page_errors, page.page_errors
    except Exception:
        shots.dump()
        raise
    shots.dump("final", screenshot=False)

    assert shown["error"] == BUYER_MESSAGE
    assert page.is_visible("#back-to-checkout") and not page.is_visible("#order")
    assert not Order.objects.exists()
    [session] = amazonpay.objects()["checkoutSessions"]
    assert session["statusDetails"]["state"] == "Canceled"
    assert amazonpay.objects()["charges"] == []
