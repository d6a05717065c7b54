"""Install and drive the official Amazon Pay Node SDK, for interop tests and benchmarks.

Shared by ``tests/interop/conftest.py`` and ``benchmarks/signing.py`` (which loads this
file by path, so it needs nothing but the standard library).

The SDK is installed with ``npm`` into a folder *outside the repository*,
``<tempdir>/saleor-amazonpay-node-sdk-<version>``, and reused by later runs. The install
goes to a scratch folder first and is renamed into place, so parallel runs never see a
half-installed copy. Environment overrides:

* ``AMAZONPAY_NODE_SDK_VERSION`` - SDK version to install (default :data:`DEFAULT_SDK_VERSION`)
* ``AMAZONPAY_NODE_SDK_DIR``     - install folder (default as above)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

SDK_PACKAGE = "@amazonpay/amazon-pay-api-sdk-nodejs"
#: Pinned so that every run compares against the same SDK code (2.3.x line).
DEFAULT_SDK_VERSION = "2.3.4"
ORACLE_SCRIPT = Path(__file__).resolve().with_name("node_oracle.js")
REPO_ROOT = Path(__file__).resolve().parents[2]

__all__ = [
    "DEFAULT_SDK_VERSION",
    "NodeOracle",
    "NodeOracleError",
    "NodeSDKInstallError",
    "ORACLE_SCRIPT",
    "SDK_PACKAGE",
    "ensure_sdk",
    "install_dir",
    "missing_tools",
    "sdk_version",
    "tool_version",
]


class NodeSDKInstallError(RuntimeError):
    """``npm install`` of the SDK failed although node and npm are available."""


class NodeOracleError(RuntimeError):
    """The oracle process answered with an error or died."""


def sdk_version() -> str:
    return os.environ.get("AMAZONPAY_NODE_SDK_VERSION", "").strip() or DEFAULT_SDK_VERSION


def install_dir(version: "str | None" = None) -> Path:
    override = os.environ.get("AMAZONPAY_NODE_SDK_DIR", "").strip()
    if override:
        path = Path(override).expanduser().resolve()
    else:
        path = Path(tempfile.gettempdir()).resolve() / f"saleor-amazonpay-node-sdk-{version or sdk_version()}"
    if path == REPO_ROOT or REPO_ROOT in path.parents:
        raise NodeSDKInstallError(f"refusing to install the Node SDK inside the repository ({path})")
    return path


def package_dir(root: Path) -> Path:
    return root / "node_modules" / SDK_PACKAGE


def _installed_version(root: Path) -> "str | None":
    try:
        manifest = json.loads((package_dir(root) / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (package_dir(root) / "src" / "clientHelper.js").is_file():
        return None
    if not (root / "node_modules" / "axios").is_dir():  # a dependency: the install finished
        return None
    return manifest.get("version")


def is_installed(version: "str | None" = None) -> bool:
    version = version or sdk_version()
    return _installed_version(install_dir(version)) == version


def missing_tools() -> "str | None":
    """Why the interop tests cannot run here, or None. Only missing node/npm count."""
    if shutil.which("node") is None:
        return "node is not installed (not on PATH): cannot run the official Amazon Pay Node SDK"
    if shutil.which("npm") is None and not is_installed():
        return "npm is not installed (not on PATH) and the Amazon Pay Node SDK is not already installed"
    return None


def tool_version(*command: str) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unavailable ({type(exc).__name__})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "unknown"


def ensure_sdk(version: "str | None" = None, *, timeout: float = 600.0) -> Path:
    """Install the SDK (once) and return its package folder (``.../node_modules/@amazonpay/...``)."""
    version = version or sdk_version()
    root = install_dir(version)
    if _installed_version(root) == version:
        return package_dir(root)
    npm = shutil.which("npm")
    if npm is None:
        raise NodeSDKInstallError("npm is not on PATH")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        (staging / "package.json").write_text(
            json.dumps({"name": "saleor-amazonpay-node-sdk-oracle", "version": "0.0.0", "private": True}),
            encoding="utf-8",
        )
        env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false", npm_config_audit="false")
        command = [
            npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts",
            "--omit=dev", "--loglevel=error", f"{SDK_PACKAGE}@{version}",
        ]
        try:
            result = subprocess.run(command, cwd=staging, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise NodeSDKInstallError(f"`{' '.join(command[1:])}` timed out after {timeout:.0f}s") from exc
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-25:])
            raise NodeSDKInstallError(
                f"`npm install {SDK_PACKAGE}@{version}` failed (exit {result.returncode}) in {staging}:\n{tail}"
            )
        got = _installed_version(staging)
        if got != version:
            raise NodeSDKInstallError(f"npm installed {SDK_PACKAGE} {got!r}, expected {version!r}")
        if root.exists() and _installed_version(root) != version:
            shutil.rmtree(root, ignore_errors=True)  # a broken leftover
        try:
            os.rename(staging, root)
        except OSError:
            if _installed_version(root) != version:  # lost a race against a broken copy
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return package_dir(root)


class NodeOracle:
    """One long-lived ``node node_oracle.js`` process; :meth:`call` is one JSON line each way."""

    def __init__(self, sdk_package_dir: "Path | str", *, node: str = "node") -> None:
        self.sdk_package_dir = Path(sdk_package_dir)
        self._lock = threading.Lock()
        # stderr goes to a file: a chatty node must never block on a full pipe.
        self._errors = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self._proc = subprocess.Popen(
            [node, str(ORACLE_SCRIPT), str(self.sdk_package_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self.info: dict = self.call("hello")

    def call(self, cmd: str, **fields: Any) -> Any:
        request = dict(fields, cmd=cmd)
        with self._lock:
            if self._proc.poll() is not None:
                raise NodeOracleError(f"node oracle exited ({self._proc.returncode}): {self._stderr()}")
            try:
                self._proc.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
                self._proc.stdin.flush()
                line = self._proc.stdout.readline()
            except (BrokenPipeError, OSError) as exc:
                raise NodeOracleError(f"node oracle pipe broke: {exc}; {self._stderr()}") from exc
        if not line:
            raise NodeOracleError(f"node oracle closed its output: {self._stderr()}")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise NodeOracleError(f"{cmd}: {answer.get('error')}\n{answer.get('stack') or ''}")
        return answer["result"]

    def _stderr(self) -> str:
        try:
            self._errors.seek(0)
            return self._errors.read()[-4000:] or "(no stderr)"
        except (OSError, ValueError):
            return ""

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait(timeout=10)
        for stream in (self._proc.stdout, self._errors):
            try:
                stream.close()
            except OSError:
                pass

    def __enter__(self) -> "NodeOracle":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
