#!/usr/bin/env python3
"""The Amazon Pay emulator for the benchmarks, in its own process.

Prints one JSON line ``{"url": ..., "merchant": {AmazonPayConfig kwargs}}`` (the private key
travels over the pipe, never to disk) and serves on a loopback port until stdin closes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from saleor_amazonpay.emulator import Emulator  # noqa: E402


def main() -> int:
    # No ticker: pending objects never settle on their own during a run.
    emulator = Emulator(host="127.0.0.1", port=0, tick_interval=None).start()
    try:
        merchant, _ = emulator.make_test_merchant("sandbox", "na")
        merchant = dict(merchant, base_url=emulator.url)
        print(json.dumps({"url": emulator.url, "merchant": merchant}), flush=True)
        sys.stdin.read()  # until the parent closes the pipe (or dies)
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
