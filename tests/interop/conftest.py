"""Fixtures for the interoperability tests against the official Amazon Pay Node SDK.

* The SDK is installed once (npm, outside the repository, reused across runs) by
  :func:`node_sdk.ensure_sdk`; see tests/interop/node_sdk.py.
* The tests are **skipped only when node/npm are missing**. If they are present but
  ``npm install`` fails (offline CI, registry outage, bad pin) the tests **fail**: they
  are part of CI and must not silently turn green. Set ``AMAZONPAY_INTEROP_REQUIRED=1`` to
  make missing node/npm a failure too (for the CI job that provides Node).
* One ``node`` process (tests/interop/node_oracle.js) serves the whole session.
* Key pairs are generated per session; no private key is ever written to disk.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_HERE = Path(__file__).resolve().parent


def _load_node_sdk_module():
    # Loaded by path under a unique name: works whatever pytest import mode is in use,
    # and benchmarks/signing.py loads the very same file the same way.
    name = "saleor_amazonpay_interop_node_sdk"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _HERE / "node_sdk.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


node_sdk = _load_node_sdk_module()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "interop: byte-level interoperability tests against the official Amazon Pay Node SDK "
        "(needs node + npm; installs the SDK outside the repo on first run)",
    )


@pytest.fixture(scope="session")
def node_sdk_helpers():
    """The shared install/oracle module (tests/interop/node_sdk.py)."""
    return node_sdk


_install_failure: "list[str]" = []  # pytest re-runs a failed session fixture per test: try npm once


@pytest.fixture(scope="session")
def node_sdk_package() -> Path:
    reason = node_sdk.missing_tools()
    if reason:
        if os.environ.get("AMAZONPAY_INTEROP_REQUIRED", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"AMAZONPAY_INTEROP_REQUIRED is set but {reason}", pytrace=False)
        pytest.skip(reason)
    if _install_failure:
        pytest.fail(_install_failure[0], pytrace=False)
    try:
        return node_sdk.ensure_sdk()
    except node_sdk.NodeSDKInstallError as exc:
        _install_failure.append(
            f"could not install the Amazon Pay Node SDK (node is available, so this is an error):\n{exc}"
        )
        pytest.fail(_install_failure[0], pytrace=False)


@pytest.fixture(scope="session")
def node_oracle(node_sdk_package):
    oracle = node_sdk.NodeOracle(node_sdk_package)
    try:
        yield oracle
    finally:
        oracle.close()


@dataclass(frozen=True)
class KeyPair:
    private_key: rsa.RSAPrivateKey
    private_pem: str
    public_pem: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()


def _new_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return KeyPair(key, private_pem, public_pem)


@pytest.fixture(scope="session")
def merchant_keys() -> KeyPair:
    """The merchant key pair both sides sign with (RSA 2048, generated per session)."""
    return _new_key_pair()


@pytest.fixture(scope="session")
def other_keys() -> KeyPair:
    """An unrelated key pair, for negative controls."""
    return _new_key_pair()
