#!/usr/bin/env python3
"""Many buyers at once against a Saleor server under uvicorn, Amazon Pay at 300 ms.

    <saleor-venv>/bin/python benchmarks/saleor_server.py [--latency 0.3] [--buyers 1,8]
        [--per-buyer 3] [--workers 1] [--json FILE]

Starts ``uvicorn saleor.asgi:application`` on 127.0.0.1 (``saleor.settings``, DEBUG off, the
benchmark database of ``saleor_common.py``, the plugin found through its entry point and
configured by PluginConfiguration rows) and the emulator in its own process. Then, for each
scenario, N buyer threads pay pre-created checkouts over HTTP, each the way a browser would:
button config, sign-in and approval on the emulator's pages, ``checkoutPaymentCreate``,
``checkoutComplete``, the redirect through Amazon, ``checkoutComplete`` again.

Scenarios: Amazon Pay with every API call delayed by ``--latency`` (a realistic Amazon
round trip) with 1 and with N buyers; Amazon Pay without latency (Saleor's own CPU
ceiling for this flow); the dummy gateway with 1 and N buyers (Saleor's ceiling for a
one-call checkout).

After each scenario it checks, from the database and the emulator: one order per checkout,
exactly one Amazon charge per order (the one the order records, for its total), no GraphQL
error, no request that hung, no deadlock or traceback in the server log.
Nothing is asserted; ``benchmarks/run.py`` prints the table (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402

import saleor_common as sc  # noqa: E402

REQUEST_TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, workers: int, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / "uvicorn.log"
        env = dict(os.environ)
        for name, value in sc.saleor_environment().items():
            if value:
                env[name] = value
            else:
                env.pop(name, None)
        command = [sys.executable, "-m", "uvicorn", "saleor.asgi:application", "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", str(workers), "--lifespan", "off",
                   "--no-access-log", "--log-level", "warning"]
        self.command = " ".join(["uvicorn", *command[3:]])
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/health/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("uvicorn did not become healthy in 120 s")

    def poster(self):
        session = requests.Session()

        def post(query: str, variables: dict) -> dict:
            response = session.post(f"{self.url}/graphql/", json={"query": query, "variables": variables},
                                    timeout=REQUEST_TIMEOUT)
            response.raise_for_status()
            return response.json()

        return post

    def problems_in_log(self) -> "list[str]":
        text = self.log_path.read_text(errors="replace")
        return [line.strip() for line in text.splitlines()
                if any(word in line.lower() for word in ("deadlock", "traceback", "error"))
                and "deprecat" not in line.lower()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()


def run_scenario(server: Server, emulator: sc.EmulatorProcess, ids: dict, *, gateway: str, latency: float,
                 buyers: int, per_buyer: int) -> dict:
    from saleor.order.models import Order

    emulator.set_latency(0)
    setup = sc.Storefront(server.poster(), emulator.url, ids)
    checkouts = [setup.new_checkout(email=f"buyer{i}@bench.example") for i in range(buyers * per_buyer)]
    emulator.set_latency(latency)
    charges_before = {c["chargeId"] for c in emulator.objects()["charges"]}
    results: list = [None] * len(checkouts)
    errors: list = []
    lock = threading.Lock()

    def buyer(index: int) -> None:
        storefront = sc.Storefront(server.poster(), emulator.url, ids)
        for position in range(index, len(checkouts), buyers):
            checkout_id, total = checkouts[position]
            started = time.perf_counter()
            try:
                if gateway == "amazon":
                    paid = storefront.pay_with_amazon(checkout_id, total)
                else:
                    paid = storefront.pay_with_dummy(checkout_id, total)
            except Exception as error:  # noqa: BLE001 - reported
                with lock:
                    errors.append(f"{type(error).__name__}: {str(error)[:300]}")
                continue
            results[position] = {"order": paid["order"], "total": total,
                                 "seconds": time.perf_counter() - started,
                                 "complete_seconds": [t.seconds for t in paid["timings"]]}

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=buyers) as pool:
        list(pool.map(buyer, range(buyers)))
    wall = time.perf_counter() - started
    emulator.set_latency(0)

    done = [r for r in results if r]
    problems = list(errors)
    numbers = [r["order"]["number"] for r in done]
    orders = {str(o.number): o for o in Order.objects.filter(number__in=numbers).prefetch_related("payments")}
    if len(orders) != len(done):
        problems.append(f"{len(done)} checkouts paid but {len(orders)} orders found")
    if gateway == "amazon":
        charges = [c for c in emulator.objects()["charges"] if c["chargeId"] not in charges_before]
        by_id = {c["chargeId"]: c for c in charges}
        recorded = []
        for result in done:
            order = orders.get(str(result["order"]["number"]))
            payments = [p for p in order.payments.all() if p.gateway == sc.AMAZON_GATEWAY] if order else []
            charge_id = payments[0].metadata.get("chargeId") if len(payments) == 1 else None
            charge = by_id.get(charge_id)
            if charge is None:
                problems.append(f"order {result['order']['number']} records no charge of this run")
                continue
            recorded.append(charge_id)
            if charge["chargeAmount"]["amount"] != f"{float(result['total']):.2f}":
                problems.append(f"charge {charge_id} is {charge['chargeAmount']['amount']}, order {result['total']}")
        if len(charges) != len(done) or len(set(recorded)) != len(done):
            problems.append(f"{len(charges)} charges for {len(done)} orders ({len(set(recorded))} recorded)")
    completes = [s for r in done for s in r["complete_seconds"]]
    return {
        "gateway": gateway, "latency_s": latency, "buyers": buyers, "checkouts": len(checkouts),
        "paid": len(done), "wall_s": round(wall, 2),
        "checkouts_per_s": round(len(done) / wall, 3) if wall else None,
        "checkout_s_median": round(statistics.median([r["seconds"] for r in done]), 3) if done else None,
        "complete_ms_median": round(statistics.median(completes) * 1000, 1) if completes else None,
        "complete_ms_p90": round(sc.percentile(completes, 0.9) * 1000, 1) if completes else None,
        "problems": problems,
    }


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.3, help="Amazon latency per API call (default 0.3 s)")
    parser.add_argument("--buyers", default="1,8", help="concurrent buyers to compare (default 1,8)")
    parser.add_argument("--per-buyer", type=int, default=3, help="checkouts each buyer pays (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.buyers.split(",") if x.strip()]
    low, high = min(counts), max(counts)

    how = sc.ensure_database()
    sc.setup_django()
    ids = sc.populate()
    scenarios = [("amazon", args.latency, n) for n in counts] + [("amazon", 0.0, high)]
    scenarios += [("dummy", 0.0, n) for n in counts]
    results = []
    with tempfile.TemporaryDirectory(prefix="saleor-amazonpay-bench-") as tmp, sc.EmulatorProcess() as emulator:
        sc.configure_plugins(emulator.merchant, emulator.url)
        server = Server(args.workers, Path(tmp))
        try:
            started = time.perf_counter()
            # Warm-up: imports, caches, connection setup; not measured.
            run_scenario(server, emulator, ids, gateway="amazon", latency=0.0, buyers=2, per_buyer=1)
            run_scenario(server, emulator, ids, gateway="dummy", latency=0.0, buyers=2, per_buyer=1)
            for gateway, latency, buyers in scenarios:
                results.append(run_scenario(server, emulator, ids, gateway=gateway, latency=latency,
                                            buyers=buyers, per_buyer=args.per_buyer))
            log_problems = server.problems_in_log()
            elapsed = time.perf_counter() - started
        finally:
            server.stop()

    def throughput(gateway, latency, buyers):
        for r in results:
            if (r["gateway"], r["latency_s"], r["buyers"]) == (gateway, latency, buyers):
                return r["checkouts_per_s"]
        return None

    summary = {
        "speedup_amazon": _ratio(throughput("amazon", args.latency, high), throughput("amazon", args.latency, low)),
        "speedup_dummy": _ratio(throughput("dummy", 0.0, high), throughput("dummy", 0.0, low)),
        "amazon_cpu_ceiling_per_s": throughput("amazon", 0.0, high),
        "ideal_amazon_per_s": None,
    }
    single = throughput("amazon", args.latency, low)
    ceiling = throughput("amazon", 0.0, high)
    if single and ceiling:
        # Without any serialisation: high/low times the single-buyer rate, capped by what
        # Saleor can do at all for this flow on this machine (no Amazon latency).
        summary["ideal_amazon_per_s"] = round(min(single * high / low, ceiling), 3)
        summary["achieved_of_ideal"] = _ratio(throughput("amazon", args.latency, high),
                                              summary["ideal_amazon_per_s"])
    output = {"database": how, "machine": sc.machine(), "load_average": os.getloadavg(),
              "server": server.command, "workers": args.workers, "latency_s": args.latency,
              "seconds": round(elapsed, 1), "scenarios": results, "summary": summary,
              "server_log_problems": log_problems[:20]}
    text = json.dumps(output, indent=2, default=str)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


def _ratio(a, b):
    return round(a / b, 2) if a and b else None


if __name__ == "__main__":
    sys.exit(main())
