"""What the real-browser test needs besides Saleor: Playwright, Debian's Chromium, a place
for screenshots. Imports neither Saleor nor Playwright at module level.

* Chromium: ``$SALEOR_AMAZONPAY_CHROMIUM`` or ``/usr/bin/chromium`` (Debian's package,
  installed by ``.ci/run`` with ``apt-get install -y chromium``). Playwright's own browser
  download (``playwright install``) is never used.
* Screenshots and page logs: ``$ARTIFACTS/e2e`` (default ``artifacts/e2e`` in the
  repository; git-ignored).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> "str | None":
    configured = os.environ.get("SALEOR_AMAZONPAY_CHROMIUM")
    for candidate in ([configured] if configured else ["/usr/bin/chromium", shutil.which("chromium") or ""]):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def skip_reason() -> "str | None":
    """Why the browser test cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return ("the playwright package is not installed in this Python: install it with "
                "`<saleor python> -m pip install playwright` (the 'e2e' extra); never `playwright install`")
    if chromium_path() is None:
        where = os.environ.get("SALEOR_AMAZONPAY_CHROMIUM") or "/usr/bin/chromium"
        return f"Chromium not found at {where}: `apt-get install -y chromium` (.ci/run installs it)"
    return None


def artifacts_dir() -> Path:
    base = Path(os.environ.get("ARTIFACTS") or REPO / "artifacts")
    if not base.is_absolute():
        base = REPO / base
    folder = base / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
