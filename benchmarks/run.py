#!/usr/bin/env python3
"""Every benchmark and the reliability/security suite, in one command; tables at the end.

    python3 benchmarks/run.py [--quick] [--only signing,faults,suite,checkout,server] [--save DIR]

* ``signing``: request-signing throughput vs the official Node SDK and ``openssl speed``
  (``benchmarks/signing.py``, this Python).
* With the Python of a Saleor environment (``$SALEOR_PYTHON``, else
  ``~/saleor-env/venv/bin/python``, else this Python if it imports Saleor):
  * ``faults``: the fault matrix ``tests/saleor/test_reliability_faults.py`` (``--run-slow``:
    transient and persistent faults), one row per Amazon call;
  * ``suite``: the concurrency and hostile-input tests (``tests/saleor/test_concurrency.py``,
    ``test_security_*.py``): cases run, failures;
  * ``checkout``: checkoutComplete latency and DB queries, Amazon Pay vs the dummy gateway,
    and Amazon Pay API calls per flow (``benchmarks/saleor_checkout.py``);
  * ``server``: 1 vs 8 concurrent buyers against uvicorn with Amazon at 300 ms
    (``benchmarks/saleor_server.py``).

The Saleor parts use ``SALEOR_AMAZONPAY_TEST_DATABASE_URL`` for the tests and a dedicated
benchmark database (``SALEOR_AMAZONPAY_BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/bench_saleor_amazonpay``, created from the migrated test
database). Everything stays on loopback. ``--quick`` runs fewer cases and checkouts.
Timings are printed, never asserted; the exit status is non-zero only when a correctness
check fails (an invariant violation, a failed test, a problem in the concurrent run).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PARTS = ("signing", "faults", "suite", "checkout", "server")
IPN_HOSTILE = ("forged or tampered or replayed or another_topic or stale or another_merchant "
               "or emulator_certificate or personal_data")
FAULT_COLUMNS = ("latency", "429", "500", "503", "connection-reset", "drop-response")


def saleor_python() -> "str | None":
    candidates = [os.environ.get("SALEOR_PYTHON"), str(Path.home() / "saleor-env/venv/bin/python")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    spec = importlib.util.find_spec("saleor")
    if spec is not None and spec.origin is not None:
        return sys.executable
    return None


def run(command: "list[str]", log: Path, timeout: float) -> int:
    print(f"$ {' '.join(command)}", flush=True)
    started = time.monotonic()
    with log.open("w") as handle:
        try:
            code = subprocess.run(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = -1
            handle.write(f"\n[benchmarks/run.py] timed out after {timeout} s\n")
    print(f"  -> exit {code} in {time.monotonic() - started:.0f} s (log: {log})", flush=True)
    return code


def junit_counts(path: Path) -> dict:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {"tests": 0, "failures": 0, "skipped": 0, "files": {}}
    files: dict = defaultdict(lambda: {"tests": 0, "failures": 0, "skipped": 0})
    for case in root.iter("testcase"):
        name = (case.get("classname") or "").split(".")[0] or "?"
        files[name]["tests"] += 1
        if case.find("failure") is not None or case.find("error") is not None:
            files[name]["failures"] += 1
        elif case.find("skipped") is not None:
            files[name]["skipped"] += 1
    total = {k: sum(f[k] for f in files.values()) for k in ("tests", "failures", "skipped")}
    return dict(total, files=dict(files))


# -- tables -------------------------------------------------------------------------------------


def table(headers: "list[str]", rows: "list[list]") -> str:
    cells = [[str(c) for c in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def fault_tables(cases: "list[dict]", junit: dict) -> str:
    by_target: dict = defaultdict(dict)
    order: list = []
    for case in cases:
        if case["target"] not in by_target:
            order.append(case["target"])
        by_target[case["target"]][(case["fault"], case["persistence"])] = case

    def cell(case: "dict | None") -> str:
        if case is None:
            return "–"
        if case["violations"]:
            return "**✗**"
        text = "ok" if case["first_attempt"] == "ok" else "retry✓"
        return text + ("†" if case["intermediate"] else "")

    rows = []
    for target in order:
        cases_of = by_target[target]
        rows.append([target] + [f"{cell(cases_of.get((f, 'transient')))} / {cell(cases_of.get((f, 'persistent')))}"
                                for f in FAULT_COLUMNS])
    matrix = table(["Amazon call (step)", *FAULT_COLUMNS], rows)
    failed_first = sum(1 for c in cases if c["first_attempt"] != "ok")
    unknown = sum(1 for c in cases if c["intermediate"])
    violations = sum(1 for c in cases if c["violations"])
    summary = table(["cases run", "step failed first (buyer/staff saw an error)", "converged after the retry",
                     "outcome unknown to Saleor until the retry (†)", "invariant violations", "pytest failures"],
                    [[len(cases), failed_first, sum(1 for c in cases if c["retried"] and c["converged"]), unknown,
                      violations, junit.get("failures", "?")]])
    notes = [f"- {c['target']} | {c['fault']} | {c['persistence']}: {'; '.join(c['violations'])}"
             for c in cases if c["violations"]]
    out = summary + "\n\nEach cell: transient / persistent fault. ok = the step succeeded; retry✓ = it failed " \
                    "safely and the retry converged; † = Amazon had acted but Saleor could not know until the " \
                    "retry (see docs/reliability.md); ✗ = an invariant violation.\n\n" + matrix
    if notes:
        out += "\n\nViolations:\n" + "\n".join(notes)
    return out


def suite_table(junit: dict) -> str:
    rows = [[name, f["tests"], f["tests"] - f["failures"] - f["skipped"], f["failures"], f["skipped"]]
            for name, f in sorted(junit.get("files", {}).items())]
    return table(["test module", "cases", "passed", "failed", "skipped"], rows)


def signing_tables(data: dict) -> str:
    def rate(value):
        return "n/a" if not value else f"{value:,.0f}/s"

    def ratio(value):
        return "n/a" if not value else f"{value:.2f}×"

    rows = [
        ["ours: `RequestSigner.sign_request` (full request)", rate(data["ours_sign_request_per_s"]),
         rate(data.get("ours_sign_request_per_cpu_s"))],
        ["ours: RSA-PSS signature only", rate(data["ours_sign_string_per_s"]), ""],
        ["Node SDK `getSignedHeaders`, PEM text (as documented)", rate(data["node_pem_per_s"]), ""],
        ["Node SDK `getSignedHeaders`, pre-parsed KeyObject", rate(data["node_key_object_per_s"]), ""],
        ["`openssl speed rsa2048` sign/s", rate(data.get("openssl_sign_per_s")), rate(data.get("openssl_sign_per_cpu_s"))],
    ]
    rates = table(["measurement", "per wall second", "per CPU second"], rows)
    ratios = table(["ratio", "measured", "target"], [
        ["ours / Node SDK (PEM text)", ratio(data["ratio_ours_node_pem"]), "≥ 3×"],
        ["ours / Node SDK (KeyObject)", ratio(data["ratio_ours_node_key_object"]), "–"],
        ["ours / openssl, CPU time", ratio(data.get("ratio_ours_openssl_cpu")), "≥ 0.85×"],
        ["ours / openssl, wall time (`-elapsed`)", ratio(data.get("ratio_ours_openssl_wall")), "≥ 0.85×"],
    ])
    load = data.get("load_average")
    return (rates + "\n\n" + ratios + f"\n\nKey parse: first {data['key_parse_first_ms']:.1f} ms, cached "
            f"{data['key_parse_cached_us']:.2f} µs. Non-RSA work per request: {data['ours_non_rsa_us']:.1f} µs. "
            f"{data['machine']}, Python {data['python']}, cryptography {data['cryptography']}, node "
            f"{data.get('node')}, {data.get('node_sdk')}" + (f"; load average {load[0]:.2f}" if load else ""))


def checkout_tables(data: dict) -> str:
    lat = data["latency"]
    q = lat["queries"]
    rows = [
        ["dummy gateway: checkoutComplete (creates the order)", lat["dummy_complete_ms"]["median"],
         lat["dummy_complete_ms"]["p90"], q["dummy_complete"], 0],
        ["Amazon Pay: checkoutComplete 1 (Update, redirect)", lat["amazon_complete1_ms"]["median"],
         lat["amazon_complete1_ms"]["p90"], q["amazon_complete1"], q["amazon_plugin_hook_complete1"]],
        ["Amazon Pay: checkoutComplete 2 (Complete, creates the order)", lat["amazon_complete2_ms"]["median"],
         lat["amazon_complete2_ms"]["p90"], q["amazon_complete2"], q["amazon_plugin_hook_complete2"]],
        ["Amazon Pay: both calls (one checkout)", lat["amazon_checkout_ms"]["median"], lat["amazon_checkout_ms"]["p90"],
         q["amazon_complete1"] + q["amazon_complete2"], q["amazon_plugin_hooks_per_checkout"]],
    ]
    latency = table(["call", "median ms", "p90 ms", "SQL queries", "of which in the plugin"], rows)
    ratios = table(["ratio (medians)", "measured", "target"], [
        ["per call: order-creating checkoutComplete, Amazon / dummy", f"{lat['ratio_per_call_order_creating']:.2f}",
         "≤ 1.10"],
        ["per call: first checkoutComplete, Amazon / dummy", f"{lat['ratio_per_call_first']:.2f}", "–"],
        ["per checkout: both Amazon calls / the one dummy call", f"{lat['ratio_per_checkout']:.2f}", "(2 calls)"],
    ])
    shapes = ", ".join(f"{k} × {v:g}" for k, v in lat["plugin_hook_query_shapes_per_checkout"].items())
    extra = (f"Time outside the plugin (Saleor's own work): checkoutComplete 1 "
             f"{lat.get('amazon_complete1_outside_plugin_ms')} ms, checkoutComplete 2 "
             f"{lat.get('amazon_complete2_outside_plugin_ms')} ms, vs {lat['dummy_complete_ms']['median']} ms for the "
             f"dummy call (whose hook is negligible); inside the plugin: {lat.get('amazon_complete1_plugin_ms')} ms "
             f"and {lat.get('amazon_complete2_plugin_ms')} ms. "
             f"Per checkout the plugin's hooks take {lat['plugin_hook_ms_per_checkout']} ms (median), of which "
             f"{lat['amazon_http_ms_per_checkout']} ms wait for Amazon (emulator, zero latency) and "
             f"{lat['plugin_own_ms_per_checkout']} ms are the plugin's own work (signing, JSON, its queries). "
             f"Its queries per checkout: {shapes}. {lat['checkouts_per_gateway']} timed checkouts per gateway after "
             f"{lat['warmup']} warm-up ones; {data['machine']}.")
    flows = []
    for row in data["api_calls"]:
        steps = {k: v for k, v in row.items() if k not in ("flow", "order")}
        for step, operations in steps.items():
            if step == "button" and not operations:
                operations = []
            flows.append([row["flow"], step, len(operations), ", ".join(operations) or "none"])
    calls = table(["flow", "step", "Amazon calls", "operations"], flows)
    return latency + "\n\n" + ratios + "\n\n" + extra + "\n\nAmazon Pay API calls per step (happy path):\n\n" + calls


def server_tables(data: dict) -> str:
    rows = []
    for s in data["scenarios"]:
        rows.append([s["gateway"], s["latency_s"], s["buyers"], s["paid"], s["wall_s"], s["checkouts_per_s"],
                     s["checkout_s_median"], s["complete_ms_median"], len(s["problems"])])
    out = table(["gateway", "Amazon latency s", "buyers", "checkouts paid", "wall s", "checkouts/s",
                 "median s per checkout", "median checkoutComplete ms", "problems"], rows)
    summary = data["summary"]
    out += (f"\n\nSpeed-up 8 vs 1 buyers: Amazon Pay {summary.get('speedup_amazon')}×, dummy gateway "
            f"{summary.get('speedup_dummy')}×. Ideal for Amazon Pay (no serialisation, capped by the 0-latency "
            f"ceiling {summary.get('amazon_cpu_ceiling_per_s')}/s): {summary.get('ideal_amazon_per_s')}/s; achieved "
            f"{summary.get('achieved_of_ideal')} of it. Server: `{data['server']}`; {data['machine']}; load average "
            f"{', '.join(f'{x:.1f}' for x in data['load_average'])}.")
    problems = [p for s in data["scenarios"] for p in s["problems"]] + data.get("server_log_problems", [])
    if problems:
        out += "\n\nProblems:\n" + "\n".join(f"- {p}" for p in problems[:20])
    return out


# -- main -----------------------------------------------------------------------------------------


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases, checkouts and seconds")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts ({', '.join(PARTS)})")
    parser.add_argument("--save", metavar="DIR", help="keep the JSON results, logs and tables (results.md) there")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    out_dir = Path(args.save) if args.save else Path(tempfile.mkdtemp(prefix="saleor-amazonpay-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    saleor = saleor_python()
    env_note = os.environ.get("SALEOR_AMAZONPAY_TEST_DATABASE_URL", "(harness default)")
    sections: list[tuple[str, str]] = []
    failed = False
    started = time.monotonic()
    print(f"benchmarks/run.py: parts {', '.join(parts)}; Saleor Python: {saleor or 'not found'}; "
          f"test database: {env_note}; output: {out_dir}", flush=True)

    if "signing" in parts:
        seconds = "1" if args.quick else "3"
        result = out_dir / "signing.json"
        run([sys.executable, str(BENCH / "signing.py"), "--seconds", seconds, "--json", str(result)],
            out_dir / "signing.log", 600)
        if result.exists():
            sections.append((f"Request signing (`python3 benchmarks/signing.py --seconds {seconds}`)",
                             signing_tables(json.loads(result.read_text()))))
        else:
            sections.append(("Request signing", f"failed; see {out_dir / 'signing.log'}"))

    saleor_parts = [p for p in parts if p != "signing"]
    if saleor_parts and saleor is None:
        sections.append(("Saleor benchmarks", "skipped: no Saleor Python (set SALEOR_PYTHON)"))
        saleor_parts = []
    pytest_base = [saleor or "", "-m", "pytest", "-c", "tests/saleor/pytest.ini", "-q", "-p", "no:cacheprovider"]

    if "faults" in saleor_parts:
        report, junit = out_dir / "faults.jsonl", out_dir / "faults.xml"
        report.unlink(missing_ok=True)
        command = pytest_base + ["tests/saleor/test_reliability_faults.py", f"--junitxml={junit}"]
        if not args.quick:
            command.append("--run-slow")
        os.environ["SALEOR_AMAZONPAY_FAULT_REPORT"] = str(report)
        code = run(command, out_dir / "faults.log", 3600)
        os.environ.pop("SALEOR_AMAZONPAY_FAULT_REPORT", None)
        cases = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
        counts = junit_counts(junit)
        failed |= code != 0 or any(c["violations"] for c in cases)
        shown = " ".join(c if not c.startswith("--junitxml") else "" for c in command[1:]).split()
        sections.append((f"Fault matrix (`{Path(saleor).name} {' '.join(shown)}`)", fault_tables(cases, counts)))

    if "suite" in saleor_parts:
        junit = out_dir / "suite.xml"
        files = ["tests/saleor/test_concurrency.py", *sorted(str(p.relative_to(REPO)) for p in
                                                            (REPO / "tests/saleor").glob("test_security_*.py"))]
        code = run(pytest_base + files + [f"--junitxml={junit}"], out_dir / "suite.log", 3600)
        counts = junit_counts(junit)
        failed |= code != 0
        # Hostile notifications (forged, tampered, replayed, stale, foreign IPNs) are tested
        # with the notifications webhook, in its own module.
        ipn_junit = out_dir / "suite-ipn.xml"
        if (REPO / "tests/saleor/test_notifications.py").exists():
            code = run(pytest_base + ["tests/saleor/test_notifications.py", "-k", IPN_HOSTILE,
                                      f"--junitxml={ipn_junit}"], out_dir / "suite-ipn.log", 1800)
            failed |= code not in (0, 5)
            ipn_counts = junit_counts(ipn_junit)
            counts["files"].update({f"{k} (-k hostile IPNs)": v for k, v in ipn_counts["files"].items()})
        sections.append(("Concurrency and hostile input (pytest)", suite_table(counts)))

    if "checkout" in saleor_parts:
        result = out_dir / "checkout.json"
        command = [saleor, str(BENCH / "saleor_checkout.py"), "--json", str(result)]
        command += ["--checkouts", "6", "--warmup", "2"] if args.quick else ["--checkouts", "20", "--warmup", "3"]
        run(command, out_dir / "checkout.log", 3600)
        if result.exists():
            sections.append((f"checkoutComplete: Amazon Pay vs dummy (`{' '.join(['benchmarks/saleor_checkout.py', *command[4:]])}`)",
                             checkout_tables(json.loads(result.read_text()))))
        else:
            failed = True
            sections.append(("checkoutComplete", f"failed; see {out_dir / 'checkout.log'}"))

    if "server" in saleor_parts:
        result = out_dir / "server.json"
        command = [saleor, str(BENCH / "saleor_server.py"), "--json", str(result)]
        command += ["--per-buyer", "1"] if args.quick else ["--per-buyer", "3"]
        run(command, out_dir / "server.log", 3600)
        if result.exists():
            data = json.loads(result.read_text())
            failed |= any(s["problems"] for s in data["scenarios"]) or bool(data.get("server_log_problems"))
            sections.append((f"Concurrent buyers under uvicorn (`{' '.join(['benchmarks/saleor_server.py', *command[4:]])}`)",
                             server_tables(data)))
        else:
            failed = True
            sections.append(("Concurrent buyers", f"failed; see {out_dir / 'server.log'}"))

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"# saleor-amazonpay benchmarks, {stamp} ({time.monotonic() - started:.0f} s)\n"
    for title, body in sections:
        text += f"\n## {title}\n\n{body}\n"
    (out_dir / "results.md").write_text(text)
    print("\n" + text)
    print(f"results: {out_dir / 'results.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
