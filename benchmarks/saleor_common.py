"""Shared plumbing of the Saleor benchmarks (run with the Python of a Saleor environment).

* a dedicated benchmark database (``bench_saleor_amazonpay`` by default), created from the
  migrated test database as a template (``createdb -T``), or migrated when no template
  exists, then populated with the minimum a checkout needs: site settings, a USD channel,
  a warehouse, a shipping zone and method, a product with stock;
* the environment for ``saleor.settings`` (production-like: DEBUG off, no telemetry, loopback
  only) used both in-process (``django.setup()``) and for uvicorn;
* the Amazon Pay emulator in its own process (``benchmarks/emulator_process.py``), so that
  "Amazon" does not compete with Saleor for the GIL;
* a storefront/buyer driver speaking GraphQL (to a Django test client or over HTTP) and the
  emulator's buyer pages.

Nothing here is a test; the numbers are printed by ``benchmarks/run.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import requests

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_saleor_amazonpay"
CHANNEL = "bench-usd"
AMAZON_GATEWAY = "saleor.payments.amazonpay"
DUMMY_GATEWAY = "mirumee.payments.dummy"
REVIEW_URL = "https://shop.example.com/checkout/review"
RESULT_URL = "https://shop.example.com/checkout/result"
ADDRESS = {"firstName": "Bench", "lastName": "Buyer", "streetAddress1": "10 Ditka Ave", "city": "Chicago",
           "postalCode": "60602", "country": "US", "countryArea": "IL", "phone": "+13125550100"}


def database_url() -> str:
    return os.environ.get("SALEOR_AMAZONPAY_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)


def template_database() -> str:
    """The migrated test database of the Saleor-backed tests (``test_<name>``)."""
    explicit = os.environ.get("SALEOR_AMAZONPAY_BENCH_TEMPLATE")
    if explicit:
        return explicit
    test_url = os.environ.get("SALEOR_AMAZONPAY_TEST_DATABASE_URL",
                              "postgres://postgres@127.0.0.1:5432/saleor_amazonpay")
    return "test_" + urlsplit(test_url).path.lstrip("/")


# -- environment ------------------------------------------------------------------------------


def _jwt_key() -> str:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / "saleor-amazonpay-bench-jwt.pem"
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
    return path.read_text()


def saleor_environment(db_url: "str | None" = None) -> "dict[str, str]":
    """``saleor.settings`` as in production, on loopback: DEBUG off, no telemetry, no broker
    (Celery tasks run eagerly), the plugin found through its entry point."""
    env = {
        "DJANGO_SETTINGS_MODULE": "saleor.settings",
        "DATABASE_URL": db_url or database_url(),
        "SECRET_KEY": "saleor-amazonpay-benchmark-only",
        "DEBUG": "False",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "ALLOWED_CLIENT_HOSTS": "http://127.0.0.1,http://localhost",
        "SEND_USAGE_TELEMETRY": "False",
        "PLAYGROUND_ENABLED": "False",
        "RSA_PRIVATE_KEY": _jwt_key(),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("DATABASE_URL_REPLICA", "CELERY_BROKER_URL", "SENTRY_DSN", "OBSERVABILITY_BROKER_URL"):
        env[name] = ""
    return env


def setup_django(db_url: "str | None" = None) -> None:
    env = saleor_environment(db_url)
    for name, value in env.items():
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    import django

    django.setup()


# -- database ---------------------------------------------------------------------------------


def _admin_connection(db_url: str):
    import psycopg

    parts = urlsplit(db_url)
    return psycopg.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                           user=parts.username or "postgres", password=parts.password, dbname="postgres",
                           autocommit=True)


def ensure_database(db_url: "str | None" = None, out: Callable[[str], Any] = print) -> str:
    """Create the benchmark database if missing: from the migrated test database as a
    template (fast), else empty and migrated. Returns how it was obtained."""
    db_url = db_url or database_url()
    name = urlsplit(db_url).path.lstrip("/")
    with _admin_connection(db_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return "existing"
        template = template_database()
        has_template = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone()
        if has_template:
            for attempt in range(10):
                try:
                    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                    out(f"created database {name} from template {template}")
                    return f"template {template}"
                except Exception as exc:  # noqa: BLE001 - "being accessed by other users": retry
                    if "being accessed" not in str(exc) or attempt == 9:
                        raise
                    time.sleep(2)
        conn.execute(f'CREATE DATABASE "{name}"')
    out(f"created database {name}; migrating (this takes a few minutes)")
    env = dict(os.environ, **{k: v for k, v in saleor_environment(db_url).items() if v})
    subprocess.run([sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"], env=env, check=True)
    return "migrated"


def populate() -> dict:
    """Idempotently create the data a checkout needs; returns ids for the storefront."""
    import datetime
    from decimal import Decimal

    import graphene
    from django.conf import settings
    from django.contrib.sites.models import Site
    from django.db import transaction

    from saleor.account.models import Address
    from saleor.channel.models import Channel
    from saleor.product.models import (
        Category,
        Product,
        ProductChannelListing,
        ProductType,
        ProductVariant,
        ProductVariantChannelListing,
    )
    from saleor.shipping import ShippingMethodType
    from saleor.shipping.models import ShippingMethodChannelListing, ShippingZone
    from saleor.site.models import SiteSettings
    from saleor.tax import TaxCalculationStrategy
    from saleor.tax.models import TaxClass, TaxConfiguration
    from saleor.warehouse.models import Stock, Warehouse

    with transaction.atomic():
        site, _ = Site.objects.get_or_create(pk=settings.SITE_ID, defaults={"domain": "localhost", "name": "bench"})
        SiteSettings.objects.get_or_create(site=site, defaults={
            "default_mail_sender_name": "Bench", "default_mail_sender_address": "bench@example.com",
            "use_legacy_shipping_zone_stock_availability": True})
        channel, _ = Channel.objects.get_or_create(slug=CHANNEL, defaults={
            "name": "Benchmark USD", "currency_code": "USD", "default_country": "US", "is_active": True})
        TaxConfiguration.objects.get_or_create(channel=channel, defaults={
            "charge_taxes": False, "tax_calculation_strategy": TaxCalculationStrategy.FLAT_RATES})
        tax_class, _ = TaxClass.objects.get_or_create(name="Bench default")
        zone, created = ShippingZone.objects.get_or_create(name="Bench US", defaults={"countries": ["US"]})
        zone.channels.add(channel)
        method = zone.shipping_methods.first()
        if method is None:
            method = zone.shipping_methods.create(name="Bench ground", type=ShippingMethodType.PRICE_BASED,
                                                  shipping_zone=zone, tax_class=tax_class)
        ShippingMethodChannelListing.objects.get_or_create(
            channel=channel, shipping_method=method,
            defaults={"currency": "USD", "minimum_order_price_amount": Decimal(0), "price_amount": Decimal(10)})
        warehouse = Warehouse.objects.filter(slug="bench-warehouse").first()
        if warehouse is None:
            address = Address.objects.create(**{
                "first_name": "Bench", "last_name": "Warehouse", "street_address_1": "10 Ditka Ave",
                "city": "CHICAGO", "postal_code": "60602", "country": "US", "country_area": "IL"})
            warehouse = Warehouse.objects.create(address=address, name="Bench warehouse", slug="bench-warehouse",
                                                 email="bench@example.com")
        warehouse.shipping_zones.add(zone)
        warehouse.channels.add(channel)
        product_type, _ = ProductType.objects.get_or_create(slug="bench-type", defaults={
            "name": "Bench type", "has_variants": False, "is_shipping_required": True})
        category = Category.objects.filter(slug="bench-category").first() or Category.objects.create(
            name="Bench category", slug="bench-category")
        product, _ = Product.objects.get_or_create(slug="bench-product", defaults={
            "name": "Bench product", "product_type": product_type, "category": category, "tax_class": tax_class})
        ProductChannelListing.objects.get_or_create(product=product, channel=channel, defaults={
            "is_published": True, "visible_in_listings": True, "currency": "USD",
            "discounted_price_amount": Decimal("12.50"),
            "available_for_purchase_at": datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)})
        variant, _ = ProductVariant.objects.get_or_create(product=product, sku="bench-1")
        ProductVariantChannelListing.objects.get_or_create(variant=variant, channel=channel, defaults={
            "currency": "USD", "price_amount": Decimal("12.50"), "discounted_price_amount": Decimal("12.50")})
        Stock.objects.update_or_create(warehouse=warehouse, product_variant=variant,
                                       defaults={"quantity": 1_000_000, "quantity_allocated": 0})
    return {
        "channel": CHANNEL,
        "variant_id": graphene.Node.to_global_id("ProductVariant", variant.pk),
        "shipping_method_id": graphene.Node.to_global_id("ShippingMethod", method.pk),
    }


def configure_plugins(merchant: dict, emulator_url: str, **overrides) -> None:
    """Amazon Pay (against the emulator) and Saleor's dummy gateway, both active in the channel."""
    from saleor.channel.models import Channel
    from saleor.plugins.models import PluginConfiguration

    from saleor_amazonpay.plugin import clients
    from saleor_amazonpay.plugin.consts import PLUGIN_ID, PLUGIN_NAME

    channel = Channel.objects.get(slug=CHANNEL)
    values = {
        "merchant_id": merchant["merchant_id"], "store_id": merchant["store_id"],
        "public_key_id": merchant["public_key_id"], "private_key": merchant["private_key"],
        "region": "na", "sandbox": True, "payment_intent": "Authorize", "can_handle_pending_authorization": False,
        "checkout_review_return_url": REVIEW_URL, "checkout_result_return_url": RESULT_URL,
        "supported_currencies": "USD", "merchant_store_name": "Benchmark Store", "api_base_url": emulator_url,
    }
    values.update(overrides)
    PluginConfiguration.objects.update_or_create(identifier=PLUGIN_ID, channel=channel, defaults={
        "name": PLUGIN_NAME, "active": True, "configuration": [{"name": k, "value": v} for k, v in values.items()]})
    PluginConfiguration.objects.update_or_create(identifier=DUMMY_GATEWAY, channel=channel, defaults={
        "name": "Dummy", "active": True, "configuration": [
            {"name": "Store customers card", "value": False},
            {"name": "Automatic payment capture", "value": False},
            {"name": "Supported currencies", "value": "USD"}]})
    clients.reset()


# -- the emulator in its own process -------------------------------------------------------------


class EmulatorProcess:
    """``benchmarks/emulator_process.py``: prints one JSON line (url, merchant), serves until
    its stdin closes."""

    def __init__(self, python: "str | None" = None) -> None:
        self.process = subprocess.Popen([python or sys.executable, str(BENCH_DIR / "emulator_process.py")],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process did not start")
        info = json.loads(line)
        self.url: str = info["url"]
        self.merchant: dict = info["merchant"]
        self.session = requests.Session()

    def admin(self, method: str, path: str, **kwargs) -> Any:
        response = self.session.request(method, f"{self.url}/_emulator/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def set_latency(self, seconds: float) -> None:
        self.admin("DELETE", "faults")
        if seconds > 0:
            self.admin("POST", "faults", json={"operation": "*", "fault": "latency", "latency": seconds,
                                               "count": 1_000_000})

    def objects(self) -> dict:
        return self.admin("GET", f"objects?merchantId={self.merchant['merchant_id']}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> "EmulatorProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# -- the storefront and the buyer -------------------------------------------------------------------

CHECKOUT_CREATE = """
mutation Create($input: CheckoutCreateInput!) {
  checkoutCreate(input: $input) { checkout { id } errors { field code message } }
}"""
DELIVERY = """
mutation Delivery($id: ID!, $method: ID) {
  checkoutDeliveryMethodUpdate(id: $id, deliveryMethodId: $method) {
    checkout { totalPrice { gross { amount currency } } } errors { field code message }
  }
}"""
GATEWAYS = """
query Gateways($id: ID!) {
  checkout(id: $id) { availablePaymentGateways { id config { field value } } }
}"""
PAYMENT_CREATE = """
mutation PaymentCreate($id: ID!, $gateway: String!, $token: String, $amount: PositiveDecimal) {
  checkoutPaymentCreate(id: $id, input: {gateway: $gateway, token: $token, amount: $amount}) {
    payment { id } errors { field code message }
  }
}"""
COMPLETE = """
mutation Complete($id: ID!, $paymentData: JSONString) {
  checkoutComplete(id: $id, paymentData: $paymentData) {
    order { id number total { gross { amount } } } confirmationNeeded confirmationData
    errors { field code message }
  }
}"""


class GraphQLError(RuntimeError):
    pass


@dataclass
class Timing:
    """Wall time of one GraphQL call, its DB query count and the Amazon calls it made."""

    seconds: float
    queries: "int | None" = None
    amazon_calls: "list | None" = None
    sql: "list | None" = None


class Storefront:
    """Drives one buyer's checkout through Saleor's GraphQL API.

    ``post(query, variables) -> dict`` is either a Django test client (in-process) or an HTTP
    session against uvicorn; ``measure`` wraps the timed calls (checkoutComplete).
    """

    def __init__(self, post: Callable[[str, dict], dict], emulator_url: str, ids: dict,
                 measure: "Callable[[Callable[[], dict]], tuple[dict, Timing]] | None" = None) -> None:
        self.post = post
        self.emulator_url = emulator_url
        self.ids = ids
        self.http = requests.Session()
        self.measure = measure or _wall_clock

    def gql(self, query: str, variables: dict, name: str) -> dict:
        data = self.post(query, variables)
        if data.get("errors"):
            raise GraphQLError(f"{name}: {data['errors']}")
        result = data["data"][name]
        if isinstance(result, dict) and result.get("errors"):
            raise GraphQLError(f"{name}: {result['errors']}")
        return result

    def new_checkout(self, email: str = "bench.buyer@example.com", quantity: int = 2) -> "tuple[str, str]":
        created = self.gql(CHECKOUT_CREATE, {"input": {
            "channel": self.ids["channel"], "email": email,
            "lines": [{"variantId": self.ids["variant_id"], "quantity": quantity}],
            "shippingAddress": ADDRESS, "billingAddress": ADDRESS}}, "checkoutCreate")
        checkout_id = created["checkout"]["id"]
        delivered = self.gql(DELIVERY, {"id": checkout_id, "method": self.ids["shipping_method_id"]},
                             "checkoutDeliveryMethodUpdate")
        return checkout_id, str(delivered["checkout"]["totalPrice"]["gross"]["amount"])

    def button(self, checkout_id: str) -> dict:
        gateways = self.gql(GATEWAYS, {"id": checkout_id}, "checkout")["availablePaymentGateways"]
        [amazon] = [g for g in gateways if g["id"] == AMAZON_GATEWAY]
        config = {c["field"]: c["value"] for c in amazon["config"]}
        return dict(json.loads(config["createCheckoutSessionConfig"]), merchantId=config["merchantId"])

    def buyer_signs_in(self, button: dict, instrument: str = "1111") -> str:
        response = self.http.post(f"{self.emulator_url}/_emulator/buyer/signin", json=button, timeout=30)
        response.raise_for_status()
        session_id = response.json()["checkoutSessionId"]
        approved = self.http.post(f"{self.emulator_url}/_emulator/buyer/approve", timeout=30, json={
            "checkoutSessionId": session_id, "address": "US", "instrument": instrument})
        approved.raise_for_status()
        return session_id

    def buyer_returns(self, confirmation_data: str) -> str:
        redirect = json.loads(confirmation_data)["amazonPayRedirectUrl"]
        response = self.http.get(redirect, allow_redirects=False, timeout=30)
        if response.status_code not in (302, 303):
            raise GraphQLError(f"amazonPayRedirectUrl answered {response.status_code}")
        return parse_qs(urlsplit(response.headers["Location"]).query)["amazonCheckoutSessionId"][0]

    def payment_create(self, checkout_id: str, gateway: str, token: str, amount: str) -> None:
        self.gql(PAYMENT_CREATE, {"id": checkout_id, "gateway": gateway, "token": token, "amount": amount},
                 "checkoutPaymentCreate")

    def complete(self, checkout_id: str, payment_data: "dict | None" = None) -> "tuple[dict, Timing]":
        variables: dict = {"id": checkout_id}
        if payment_data is not None:
            variables["paymentData"] = json.dumps(payment_data)
        data, timing = self.measure(lambda: self.post(COMPLETE, variables))
        if data.get("errors"):
            raise GraphQLError(f"checkoutComplete: {data['errors']}")
        result = data["data"]["checkoutComplete"]
        if result["errors"]:
            raise GraphQLError(f"checkoutComplete: {result['errors']}")
        return result, timing

    # whole journeys -------------------------------------------------------------------------

    def pay_with_amazon(self, checkout_id: str, total: str) -> dict:
        """Returns {"order", "timings": [first complete, second complete]}."""
        session_id = self.buyer_signs_in(self.button(checkout_id))
        self.payment_create(checkout_id, AMAZON_GATEWAY, session_id, total)
        first, t1 = self.complete(checkout_id)
        if not first["confirmationNeeded"]:
            raise GraphQLError("the first checkoutComplete did not ask for confirmation")
        returned = self.buyer_returns(first["confirmationData"])
        second, t2 = self.complete(checkout_id, {"amazonCheckoutSessionId": returned})
        if not second["order"]:
            raise GraphQLError("no order after the buyer's return")
        return {"order": second["order"], "timings": [t1, t2], "session_id": session_id}

    def pay_with_dummy(self, checkout_id: str, total: str) -> dict:
        self.payment_create(checkout_id, DUMMY_GATEWAY, "not-charged", total)  # authorize only
        result, timing = self.complete(checkout_id)
        if not result["order"]:
            raise GraphQLError("no order from the dummy gateway")
        return {"order": result["order"], "timings": [timing]}


def _wall_clock(call: Callable[[], dict]) -> "tuple[dict, Timing]":
    started = time.perf_counter()
    data = call()
    return data, Timing(time.perf_counter() - started)


def percentile(values: "list[float]", fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
