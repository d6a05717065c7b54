#!/usr/bin/env python3
"""Request-signing throughput: this client vs the official Node SDK vs ``openssl speed``.

    python3 benchmarks/signing.py [--seconds N] [--skip-node] [--skip-openssl]

Measures, each for N seconds on one core, after a short warm-up:

(a) ``RequestSigner.sign_request`` of this package for a typical POST (Create Checkout
    Session: JSON body, five default headers + idempotency key): canonical request,
    string to sign, RSA-PSS signature, authorization header;
(b) the official Node SDK (``@amazonpay/amazon-pay-api-sdk-nodejs``, installed outside the
    repo by tests/interop/node_sdk.py, shared with the interop tests) signing the same
    request through its ``getSignedHeaders()`` in a loop, timed inside node;
(c) ``openssl speed -seconds N rsa2048``, "sign/s" column: the raw RSA-2048 private-key
    operation rate of this machine's OpenSSL.

Nothing is asserted; the numbers depend on the machine. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import cryptography  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from saleor_amazonpay.core.constants import IDEMPOTENCY_HEADER, SignatureAlgorithm  # noqa: E402
from saleor_amazonpay.core.signing import (  # noqa: E402
    Authorization,
    RequestSigner,
    canonical_request,
    format_amz_date,
    load_private_key,
    string_to_sign,
)

ALGORITHM = SignatureAlgorithm.RSASSA_PSS_V2
PUBLIC_KEY_ID = "SANDBOX-AHS4KVDN2FBPE5EBHXMRHJBI"
PATH = "/v2/checkoutSessions"
BODY = json.dumps(
    {
        "webCheckoutDetails": {
            "checkoutReviewReturnUrl": "https://shop.example/checkout/review",
            "checkoutResultReturnUrl": "https://shop.example/checkout/result",
        },
        "storeId": "amzn1.application-oa2-client.8b5e45312b5248b69eeaStoreId",
        "scopes": ["name", "email", "phoneNumber", "billingAddress"],
        "paymentDetails": {
            "paymentIntent": "Authorize",
            "canHandlePendingAuthorization": False,
            "chargeAmount": {"amount": "1234.56", "currencyCode": "EUR"},
        },
        "merchantMetadata": {"merchantReferenceId": "ORD-2024-0001", "merchantStoreName": "Café Zürich"},
    },
    separators=(",", ":"),
    ensure_ascii=False,
)
IDEMPOTENCY_KEY = "4a3bd1a7c0f44e8e9d5d0e2c47b1b7a2"


def load_node_sdk_module():
    name = "saleor_amazonpay_interop_node_sdk"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tests" / "interop" / "node_sdk.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------------
# measurements


def timed_loop(fn, seconds: float, warmup: float = 0.3) -> "tuple[int, float, float]":
    """(iterations, wall seconds, CPU seconds of this process)."""
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        fn()
    iterations = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = start + seconds
    while True:
        fn()
        iterations += 1
        now = time.perf_counter()
        if now >= deadline:
            return iterations, now - start, time.process_time() - cpu_start


def new_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def key_loading(pem: str) -> dict:
    t0 = time.perf_counter()
    key = load_private_key(pem)  # first call in this process: parses (and checks) the key
    first = time.perf_counter() - t0
    cached = []
    for _ in range(2000):
        t0 = time.perf_counter()
        again = load_private_key(pem)
        cached.append(time.perf_counter() - t0)
    assert again is key
    return {"first_s": first, "cached_median_s": statistics.median(cached), "key": key}


def request_headers() -> dict:
    return {
        "accept": "application/json",
        "content-type": "application/json",
        "x-amz-pay-date": format_amz_date(datetime.now(timezone.utc)),
        "x-amz-pay-host": "pay-api.amazon.eu",
        "x-amz-pay-region": "eu",
        IDEMPOTENCY_HEADER: IDEMPOTENCY_KEY,
    }


def python_sign_request(key, seconds: float) -> dict:
    signer = RequestSigner(key, PUBLIC_KEY_ID, ALGORITHM)
    headers = request_headers()
    body = BODY.encode("utf-8")

    def once():
        return signer.sign_request(method="POST", path=PATH, query=None, headers=headers, body=body)

    sample = once()
    n, elapsed, cpu = timed_loop(once, seconds)
    return {"iterations": n, "seconds": elapsed, "per_second": n / elapsed, "per_cpu_second": n / cpu,
            "sample": sample}


def python_sign_string(key, seconds: float) -> dict:
    signer = RequestSigner(key, PUBLIC_KEY_ID, ALGORITHM)
    message = f"{ALGORITHM.value}\n" + "0" * 64
    n, elapsed, cpu = timed_loop(lambda: signer.sign_string(message), seconds)
    return {"iterations": n, "seconds": elapsed, "per_second": n / elapsed, "per_cpu_second": n / cpu}


def python_non_rsa_work(seconds: float) -> dict:
    """Everything sign_request does except the RSA operation: canonical request, hashes, header."""
    headers = request_headers()
    body = BODY.encode("utf-8")
    names = sorted(headers)

    def once():
        canonical = canonical_request("POST", PATH, None, headers, names, body)
        message = string_to_sign(ALGORITHM, canonical)
        return Authorization(ALGORITHM, PUBLIC_KEY_ID, tuple(names), message[-16:]).header()

    n, elapsed, cpu = timed_loop(once, min(seconds, 0.5), warmup=0.1)
    return {"iterations": n, "seconds": elapsed, "per_second": n / elapsed, "per_cpu_second": n / cpu}


def node_benchmarks(pem: str, seconds: float) -> dict:
    node_sdk = load_node_sdk_module()
    reason = node_sdk.missing_tools()
    if reason:
        return {"error": reason}
    try:
        package = node_sdk.ensure_sdk()
    except node_sdk.NodeSDKInstallError as exc:
        return {"error": f"Node SDK install failed: {exc}"}
    config = {"publicKeyId": PUBLIC_KEY_ID, "privateKey": pem, "region": "eu", "sandbox": True,
              "algorithm": ALGORITHM.value}
    options = {"method": "POST", "urlFragment": "checkoutSessions", "payload": BODY,
               "headers": {IDEMPOTENCY_HEADER: IDEMPOTENCY_KEY}}
    with node_sdk.NodeOracle(package) as oracle:
        pem_run = oracle.call("bench", config=config, options=options, seconds=seconds, key_object=False)
        keyobj_run = oracle.call("bench", config=config, options=options, seconds=seconds, key_object=True)
        info = oracle.info
    return {"pem": pem_run, "key_object": keyobj_run, "info": info, "package": str(package)}


def openssl_speed(seconds: float, elapsed: bool = False) -> dict:
    """``openssl speed`` divides by the CPU *user* time of its process unless ``-elapsed``
    is given: on a busy machine its default figure is per CPU second, not per wall second."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return {"error": "openssl not on PATH"}
    secs = max(1, int(round(seconds)))
    command = [openssl, "speed", *(["-elapsed"] if elapsed else []), "-seconds", str(secs), "rsa2048"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60 + 10 * secs)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": f"{' '.join(command)}: {type(exc).__name__}"}
    rate = parse_openssl_sign_rate(out.stdout)
    if rate is None:
        return {"error": f"could not find rsa 2048 sign/s in `{' '.join(command[1:])}` output (exit {out.returncode})"}
    return {"per_second": rate, "command": " ".join(["openssl", *command[1:]])}


def parse_openssl_sign_rate(text: str) -> "float | None":
    """Column "sign/s" of the ``rsa 2048 bits`` row (OpenSSL 1.1/3.0 and 3.2+ layouts)."""
    header = None
    for line in text.splitlines():
        tokens = line.split()
        if "sign/s" in tokens:
            header = tokens
            continue
        match = re.match(r"^\s*rsa\s+2048\s+bits\s+(.*)$", line)
        if match and header:
            values = match.group(1).split()
            index = header.index("sign/s")
            if index < len(values):
                try:
                    return float(values[index])
                except ValueError:
                    return None
    return None


# ----------------------------------------------------------------------------------------
# report


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt_rate(value: "float | None") -> str:
    return "n/a" if value is None else f"{value:,.0f}/s"


def fmt_ratio(a: "float | None", b: "float | None") -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}x"


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each measurement (default 2)")
    parser.add_argument("--skip-node", action="store_true", help="do not run the Node SDK measurement")
    parser.add_argument("--skip-openssl", action="store_true", help="do not run openssl speed")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate ours and openssl this many times, keep the best of each (default 3)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON (for benchmarks/run.py)")
    args = parser.parse_args(argv)
    seconds = max(0.2, args.seconds)

    from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend

    node_sdk = load_node_sdk_module()
    print("Amazon Pay request signing benchmark")
    print("=" * 72)
    print(f"machine   : {platform.platform()} | {cpu_model()} | os.cpu_count()={os.cpu_count()}")
    print(f"python    : {platform.python_version()} ({platform.python_implementation()}), "
          f"cryptography {cryptography.__version__} on {openssl_backend.openssl_version_text()}")
    print(f"node      : {node_sdk.tool_version('node', '--version') if shutil.which('node') else 'not installed'}")
    print(f"openssl   : {node_sdk.tool_version('openssl', 'version') if shutil.which('openssl') else 'not installed'}")
    print(f"request   : POST {PATH}, {len(BODY.encode())}-byte JSON body, {ALGORITHM.value}, RSA 2048, "
          f"{seconds:g}s per measurement, single thread")
    print()

    pem = new_key_pem()
    loading = key_loading(pem)
    key = loading["key"]

    # Rounds alternate ours and openssl; the best round of each is kept (the usual answer
    # to noise from other processes on a shared machine: interference only slows down).
    rounds = max(1, args.rounds)
    ours_runs, ssl_runs, ssl_wall_runs = [], [], []
    for _ in range(rounds):
        ours_runs.append(python_sign_request(key, seconds / rounds))
        if not args.skip_openssl:
            ssl_runs.append(openssl_speed(seconds / rounds))
            ssl_wall_runs.append(openssl_speed(seconds / rounds, elapsed=True))
    ours = dict(max(ours_runs, key=lambda r: r["per_second"]),
                per_cpu_second=max(r["per_cpu_second"] for r in ours_runs))
    ours_raw = max((python_sign_string(key, seconds / rounds) for _ in range(rounds)), key=lambda r: r["per_second"])
    ours_rest = python_non_rsa_work(seconds)
    node = {"error": "skipped (--skip-node)"} if args.skip_node else node_benchmarks(pem, seconds)
    def best(runs: list) -> dict:
        good = [r for r in runs if "per_second" in r]
        return max(good, key=lambda r: r["per_second"]) if good else (runs[0] if runs else {})

    ssl = {"error": "skipped (--skip-openssl)"} if args.skip_openssl else best(ssl_runs)
    ssl_wall = {"error": "skipped (--skip-openssl)"} if args.skip_openssl else best(ssl_wall_runs)

    node_pem = node.get("pem", {}).get("per_second") if "error" not in node else None
    node_obj = node.get("key_object", {}).get("per_second") if "error" not in node else None
    ssl_rate = ssl.get("per_second")  # per CPU second (openssl's default divisor)
    ssl_wall_rate = ssl_wall.get("per_second")
    if "info" in node:
        info = node["info"]
        print(f"node SDK  : {info['sdk_name']} {info['sdk_version']} on node {info['node_version']} "
              f"(OpenSSL {info['node_openssl']}), from {node['package']}")
        print()

    rows = [
        ("(a) ours: RequestSigner.sign_request (full)", ours["per_second"]),
        ("    ours: RequestSigner.sign_string (RSA-PSS only)", ours_raw["per_second"]),
        ("(b) node SDK getSignedHeaders, privateKey = PEM text", node_pem),
        ("    node SDK getSignedHeaders, privateKey = KeyObject", node_obj),
        ("(c) openssl speed rsa2048, sign/s (per CPU second)", ssl_rate),
        ("    openssl speed -elapsed rsa2048, sign/s (per wall second)", ssl_wall_rate),
        ("    ours: sign_request per CPU second", ours["per_cpu_second"]),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'rate':>12}")
    print(f"{'-' * width}  {'-' * 12}")
    for label, rate in rows:
        print(f"{label:<{width}}  {fmt_rate(rate):>12}")
    print()
    print(f"ratio ours/node (SDK as configured, PEM text) : {fmt_ratio(ours['per_second'], node_pem)}")
    print(f"ratio ours/node (SDK given a parsed KeyObject): {fmt_ratio(ours['per_second'], node_obj)}")
    print(f"ratio ours/openssl, CPU time (both per CPU s) : {fmt_ratio(ours['per_cpu_second'], ssl_rate)}")
    print(f"ratio ours/openssl, wall time (-elapsed)      : {fmt_ratio(ours['per_second'], ssl_wall_rate)}")
    try:
        print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
              " (wall-clock rates fall on a busy machine; CPU-time rates do not)")
    except OSError:
        pass
    print(f"ours, non-RSA work per request (canonical request + hashes + header): "
          f"{1e6 / ours_rest['per_second']:,.1f} µs of {1e6 / ours['per_second']:,.0f} µs")
    for name, result in (("node", node), ("openssl", ssl), ("openssl -elapsed", ssl_wall)):
        if "error" in result:
            print(f"note: {name} not measured: {result['error']}")
    print()
    print("Key parsing (load_private_key, RSA 2048 PKCS#8 PEM):")
    print(f"  first call in this process : {loading['first_s'] * 1e3:,.2f} ms  (parse + RSA key validation)")
    print(f"  cached call (median of 2000): {loading['cached_median_s'] * 1e6:,.2f} µs")
    print("  The PEM is parsed once per process (functools.lru_cache in signing.load_private_key, and")
    print("  AmazonPayConfig.signer is a cached_property), so no request pays the parse cost. The Node SDK")
    print("  passes configArgs.privateKey straight to crypto sign(): with PEM text (the documented usage) it")
    print("  re-parses the key on every request, which is the difference between its two rows above.")
    print()
    print("Notes: openssl speed rsa2048 signs with PKCS#1 v1.5 padding, not PSS (same RSA private-key")
    print("operation; padding cost is negligible). All rates are single-threaded and vary between runs;")
    print("nothing here is asserted.")
    print(f"sample authorization (ours): {ours['sample'][:110]}...")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "seconds_per_measurement": seconds,
            "machine": f"{cpu_model()}, os.cpu_count()={os.cpu_count()}",
            "python": platform.python_version(),
            "cryptography": f"{cryptography.__version__} on {openssl_backend.openssl_version_text()}",
            "node": node.get("info", {}).get("node_version") if "info" in node else None,
            "node_sdk": (f"{node['info']['sdk_name']} {node['info']['sdk_version']}" if "info" in node else None),
            "openssl_command": ssl.get("command"),
            "ours_sign_request_per_s": ours["per_second"],
            "ours_sign_string_per_s": ours_raw["per_second"],
            "ours_non_rsa_us": 1e6 / ours_rest["per_second"],
            "node_pem_per_s": node_pem,
            "node_key_object_per_s": node_obj,
            "openssl_sign_per_cpu_s": ssl_rate,
            "openssl_sign_per_s": ssl_wall_rate,
            "ours_sign_request_per_cpu_s": ours["per_cpu_second"],
            "load_average": list(os.getloadavg()),
            "ratio_ours_node_pem": ours["per_second"] / node_pem if node_pem else None,
            "ratio_ours_node_key_object": ours["per_second"] / node_obj if node_obj else None,
            "ratio_ours_openssl_cpu": ours["per_cpu_second"] / ssl_rate if ssl_rate else None,
            "ratio_ours_openssl_wall": ours["per_second"] / ssl_wall_rate if ssl_wall_rate else None,
            "key_parse_first_ms": loading["first_s"] * 1e3,
            "key_parse_cached_us": loading["cached_median_s"] * 1e6,
            "errors": {name: result["error"] for name, result in (("node", node), ("openssl", ssl),
                                                                  ("openssl -elapsed", ssl_wall))
                       if "error" in result},
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
