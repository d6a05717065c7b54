#!/usr/bin/env python3
"""checkoutComplete through Saleor's GraphQL: Amazon Pay vs Saleor's dummy gateway.

    <saleor-venv>/bin/python benchmarks/saleor_checkout.py [--checkouts 20] [--warmup 3] [--json FILE]

In-process (Django test client on ``saleor.settings``, DEBUG off, a dedicated database, see
``saleor_common.py``), with the emulator in its own process at zero added latency. Checkouts
alternate between the two gateways so that drift affects both alike. For each timed
``checkoutComplete`` it records the wall time, every SQL query (default and replica
connections) and the Amazon Pay calls; the queries run *inside* the Amazon Pay plugin's
hooks are captured apart: they are what the plugin adds to Saleor's own work.

It then drives every flow once more to count Amazon Pay API calls per step: Authorize,
AuthorizeWithCapture, Confirm, the additional payment button (ProcessOrder), and capture,
refund and void from the dashboard.

Nothing is asserted; ``benchmarks/run.py`` prints the tables (docs/performance.md).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import saleor_common as sc  # noqa: E402

_FROM_RE = re.compile(r'\b(?:FROM|INTO)\s+"?([a-z0-9_]+)"?', re.I)
_UPDATE_RE = re.compile(r'^\s*UPDATE\s+"?([a-z0-9_]+)"?', re.I)


def query_shape(sql: str) -> str:
    """``SELECT payment_payment`` etc.: verb and main table (outside subqueries)."""
    words = sql.split()
    if not words:
        return "?"
    verb = words[0].upper()
    update = _UPDATE_RE.match(sql)
    if update:
        return f"UPDATE {update.group(1)}"
    for match in _FROM_RE.finditer(sql):
        prefix = sql[:match.start()]
        if prefix.count("(") == prefix.count(")"):
            return f"{verb} {match.group(1)}"
    return verb


class Recorder:
    """Wall time, SQL and Amazon calls of one call; plugin-hook SQL and time apart."""

    def __init__(self) -> None:
        from django.db import connections

        self.connections = [connections["default"], connections["replica"]]
        self.amazon_calls: list = []
        self.hook_queries: list = []
        self.hook_seconds = 0.0
        self.hook_http_seconds = 0.0

    def _capture(self):
        from contextlib import ExitStack

        from django.test.utils import CaptureQueriesContext

        stack = ExitStack()
        contexts = [stack.enter_context(CaptureQueriesContext(c)) for c in self.connections]
        return stack, contexts

    def install_hook_probe(self) -> None:
        """Time and capture the queries of the Amazon Pay plugin's payment hooks."""
        from saleor_amazonpay.plugin import gateway

        recorder = self
        for name in ("process_payment", "confirm_payment"):
            original = getattr(gateway, name)

            @functools.wraps(original)
            def probe(settings, info, _original=original):
                stack, contexts = recorder._capture()
                calls_before = len(recorder.amazon_calls)
                started = time.perf_counter()
                try:
                    with stack:
                        return _original(settings, info)
                finally:
                    recorder.hook_seconds += time.perf_counter() - started
                    recorder.hook_http_seconds += sum(c.duration for c in recorder.amazon_calls[calls_before:])
                    for context in contexts:
                        recorder.hook_queries += [q["sql"] for q in context.captured_queries]

            setattr(gateway, name, probe)

    def measure(self, call):
        self.hook_queries, self.hook_seconds, self.hook_http_seconds = [], 0.0, 0.0
        calls_before = len(self.amazon_calls)
        stack, contexts = self._capture()
        with stack:
            started = time.perf_counter()
            data = call()
            seconds = time.perf_counter() - started
        sql = [q["sql"] for context in contexts for q in context.captured_queries]
        timing = sc.Timing(seconds, len(sql), list(self.amazon_calls[calls_before:]), sql)
        timing.hook_sql = list(self.hook_queries)
        timing.hook_seconds = self.hook_seconds
        timing.hook_http_seconds = self.hook_http_seconds
        return data, timing


def graphql_poster():
    from django.test import Client

    client = Client()

    def post(query: str, variables: dict) -> dict:
        response = client.post("/graphql/", data=json.dumps({"query": query, "variables": variables}),
                               content_type="application/json")
        return response.json()

    return post


def median_ms(values) -> float:
    return round(statistics.median(values) * 1000, 2) if values else float("nan")


def latency_comparison(storefront: sc.Storefront, checkouts: int, warmup: int) -> dict:
    dummy, amazon = [], []
    for index in range(warmup + checkouts):
        for kind in (("dummy", "amazon") if index % 2 == 0 else ("amazon", "dummy")):
            checkout_id, total = storefront.new_checkout(quantity=2)
            if kind == "dummy":
                result = storefront.pay_with_dummy(checkout_id, total)
            else:
                result = storefront.pay_with_amazon(checkout_id, total)
            if index >= warmup:
                (dummy if kind == "dummy" else amazon).append(result["timings"])

    d = [t[0] for t in dummy]
    a1 = [t[0] for t in amazon]
    a2 = [t[1] for t in amazon]
    per_checkout_amazon = [x.seconds + y.seconds for x, y in zip(a1, a2)]
    dummy_shapes = Counter(s for t in d for s in map(query_shape, t.sql))
    amazon_shapes = Counter(s for x, y in zip(a1, a2) for s in map(query_shape, x.sql + y.sql))
    hook_shapes = Counter(s for x, y in zip(a1, a2) for s in map(query_shape, x.hook_sql + y.hook_sql))
    n = len(a1)

    def per(counter, count):
        return {k: round(v / count, 2) for k, v in sorted(counter.items())}

    return {
        "checkouts_per_gateway": n,
        "warmup": warmup,
        "dummy_complete_ms": {"median": median_ms([t.seconds for t in d]),
                              "p90": round(sc.percentile([t.seconds for t in d], 0.9) * 1000, 2)},
        "amazon_complete1_ms": {"median": median_ms([t.seconds for t in a1]),
                                "p90": round(sc.percentile([t.seconds for t in a1], 0.9) * 1000, 2)},
        "amazon_complete2_ms": {"median": median_ms([t.seconds for t in a2]),
                                "p90": round(sc.percentile([t.seconds for t in a2], 0.9) * 1000, 2)},
        "amazon_checkout_ms": {"median": median_ms(per_checkout_amazon),
                               "p90": round(sc.percentile(per_checkout_amazon, 0.9) * 1000, 2)},
        "ratio_per_call_order_creating": round(statistics.median([t.seconds for t in a2])
                                               / statistics.median([t.seconds for t in d]), 3),
        "ratio_per_call_first": round(statistics.median([t.seconds for t in a1])
                                      / statistics.median([t.seconds for t in d]), 3),
        "ratio_per_checkout": round(statistics.median(per_checkout_amazon)
                                    / statistics.median([t.seconds for t in d]), 3),
        "amazon_http_ms_per_checkout": median_ms([sum(c.duration for c in x.amazon_calls + y.amazon_calls)
                                                 for x, y in zip(a1, a2)]),
        # Saleor's own share of each call: wall time minus the time inside the plugin's hook.
        "amazon_complete1_outside_plugin_ms": median_ms([t.seconds - t.hook_seconds for t in a1]),
        "amazon_complete2_outside_plugin_ms": median_ms([t.seconds - t.hook_seconds for t in a2]),
        "amazon_complete1_plugin_ms": median_ms([t.hook_seconds for t in a1]),
        "amazon_complete2_plugin_ms": median_ms([t.hook_seconds for t in a2]),
        "plugin_hook_ms_per_checkout": median_ms([x.hook_seconds + y.hook_seconds for x, y in zip(a1, a2)]),
        "plugin_own_ms_per_checkout": median_ms([(x.hook_seconds - x.hook_http_seconds)
                                                + (y.hook_seconds - y.hook_http_seconds) for x, y in zip(a1, a2)]),
        "queries": {
            "dummy_complete": statistics.median([t.queries for t in d]),
            "amazon_complete1": statistics.median([t.queries for t in a1]),
            "amazon_complete2": statistics.median([t.queries for t in a2]),
            "amazon_plugin_hooks_per_checkout": statistics.median([len(x.hook_sql) + len(y.hook_sql)
                                                                   for x, y in zip(a1, a2)]),
            "amazon_plugin_hook_complete1": statistics.median([len(x.hook_sql) for x in a1]),
            "amazon_plugin_hook_complete2": statistics.median([len(y.hook_sql) for y in a2]),
        },
        "plugin_hook_query_shapes_per_checkout": per(hook_shapes, n),
        "query_shapes_difference_per_checkout": {
            k: round((amazon_shapes[k] - dummy_shapes[k]) / n, 2)
            for k in sorted(set(amazon_shapes) | set(dummy_shapes)) if amazon_shapes[k] != dummy_shapes[k]},
        "amazon_calls_per_checkout": {
            "complete1": Counter(c.operation for x in a1 for c in x.amazon_calls if c.attempt == 1).most_common(),
            "complete2": Counter(c.operation for y in a2 for c in y.amazon_calls if c.attempt == 1).most_common(),
        },
    }


def api_calls_per_flow(storefront: sc.Storefront, recorder: Recorder, emulator: sc.EmulatorProcess) -> list:
    """Amazon Pay API calls made at each step of each flow (happy path)."""
    from django.db import transaction

    from saleor.order.models import Order
    from saleor.payment import gateway as saleor_gateway
    from saleor.plugins.manager import get_plugins_manager

    from saleor_amazonpay.plugin import clients

    rows = []

    def ops(since: int) -> "list[str]":
        return [c.operation for c in recorder.amazon_calls[since:]]

    def staff(action: str, payment, amount=None) -> None:
        manager = get_plugins_manager(allow_replica=False)
        with transaction.atomic():
            if action == "capture":
                saleor_gateway.capture(payment, manager, channel_slug=sc.CHANNEL, amount=amount)
            elif action == "refund":
                saleor_gateway.refund(payment, manager, channel_slug=sc.CHANNEL, amount=amount)
            else:
                saleor_gateway.void(payment, manager, channel_slug=sc.CHANNEL)

    for intent, after in (("Authorize", ("capture", "refund")), ("Authorize", ("void",)),
                          ("AuthorizeWithCapture", ("refund",)), ("Confirm", ("capture",))):
        sc.configure_plugins(emulator.merchant, emulator.url, payment_intent=intent)
        clients.observers[:] = [recorder.amazon_calls.append]
        checkout_id, total = storefront.new_checkout()
        mark = len(recorder.amazon_calls)
        button = storefront.button(checkout_id)
        button_ops = ops(mark)
        session_id = storefront.buyer_signs_in(button)
        storefront.payment_create(checkout_id, sc.AMAZON_GATEWAY, session_id, total)
        mark = len(recorder.amazon_calls)
        first, _ = storefront.complete(checkout_id)
        first_ops = ops(mark)
        returned = storefront.buyer_returns(first["confirmationData"])
        mark = len(recorder.amazon_calls)
        second, _ = storefront.complete(checkout_id, {"amazonCheckoutSessionId": returned})
        confirm_ops = ops(mark)
        row = {"flow": f"{intent} (then {', '.join(after)})", "button": button_ops, "checkoutComplete 1 (process)": first_ops,
               "checkoutComplete 2 (confirm)": confirm_ops}
        payment = Order.objects.get(number=second["order"]["number"]).payments.get()
        for action in after:
            mark = len(recorder.amazon_calls)
            staff(action, payment)
            payment.refresh_from_db()
            row[action] = ops(mark)
        rows.append(row)

    # The additional payment button: amount and address fixed on Amazon, one checkoutComplete.
    sc.configure_plugins(emulator.merchant, emulator.url, payment_intent="Authorize")
    clients.observers[:] = [recorder.amazon_calls.append]
    checkout_id, total = storefront.new_checkout()
    data = storefront.gql("""
      mutation Init($channel: String!, $data: JSONString) {
        paymentInitialize(gateway: "saleor.payments.amazonpay", channel: $channel, paymentData: $data) {
          initializedPayment { data } errors { field code message } } }""",
                          {"channel": sc.CHANNEL, "data": json.dumps({"action": "buttonConfig",
                                                                      "checkoutId": checkout_id})},
                          "paymentInitialize")["initializedPayment"]["data"]
    options = json.loads(data) if isinstance(data, str) else data
    button = dict(options["createCheckoutSessionConfig"], merchantId=options["merchantId"])
    session_id = storefront.buyer_signs_in(button)
    storefront.payment_create(checkout_id, sc.AMAZON_GATEWAY, session_id, total)
    mark = len(recorder.amazon_calls)
    result, _ = storefront.complete(checkout_id)
    rows.append({"flow": "additional payment button (ProcessOrder)", "button": [],
                 "checkoutComplete 1 (process)": ops(mark), "order": bool(result["order"])})
    return rows


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkouts", type=int, default=20, help="timed checkouts per gateway (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed checkouts per gateway first (default 3)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = parser.parse_args(argv)

    how = sc.ensure_database()
    sc.setup_django()
    ids = sc.populate()
    from saleor_amazonpay.plugin import clients

    recorder = Recorder()
    recorder.install_hook_probe()
    with sc.EmulatorProcess() as emulator:
        sc.configure_plugins(emulator.merchant, emulator.url)
        clients.observers[:] = [recorder.amazon_calls.append]
        storefront = sc.Storefront(graphql_poster(), emulator.url, ids, measure=recorder.measure)
        started = time.perf_counter()
        latency = latency_comparison(storefront, args.checkouts, args.warmup)
        flows = api_calls_per_flow(storefront, recorder, emulator)
        elapsed = time.perf_counter() - started
    results = {"database": how, "machine": sc.machine(), "seconds": round(elapsed, 1),
               "latency": latency, "api_calls": flows}
    text = json.dumps(results, indent=2, default=str)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
