"""Merchant configuration for the Amazon Pay client.

The private key is held as text only long enough to parse it (once per process, cached
by :func:`~saleor_amazonpay.core.signing.load_private_key`); it never appears in
``repr()``, ``str()`` or logs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from .constants import (
    API_HOSTS,
    API_VERSION,
    LEDGER_CURRENCIES,
    REGION_ALIASES,
    Environment,
    SignatureAlgorithm,
    environment_of_key_id,
    is_env_specific_key_id,
)
from .errors import ConfigError
from .signing import RequestSigner, load_private_key

_PEM_RE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_PEM_PARTS_RE = re.compile(r"(-----BEGIN ([A-Z ]+)-----)(.*?)(-----END \2-----)", re.S)


def normalize_pem(text: str) -> str:
    """Repair a PEM that lost its line breaks on the way (a single-line dashboard field,
    an environment variable with literal ``\\n``): rebuild 64-column base64 lines."""
    text = text.replace("\\n", "\n").strip()
    match = _PEM_PARTS_RE.search(text)
    if not match:
        return text
    header, _, body, footer = match.groups()
    lines = body.strip().splitlines()
    # Encrypted PKCS#1 keys carry "Proc-Type:"/"DEK-Info:" headers: keep those as they are.
    if any(":" in line for line in lines):
        return text
    compact = re.sub(r"\s+", "", body)
    wrapped = "\n".join(compact[i:i + 64] for i in range(0, len(compact), 64))
    return f"{header}\n{wrapped}\n{footer}\n"


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    #: Seconds to wait for Amazon's answer. Complete Checkout Session can take several
    #: seconds while Amazon authorizes the payment, so keep this generous.
    read: float = 30.0


@dataclass(frozen=True)
class AmazonPayConfig:
    merchant_id: str
    store_id: str
    public_key_id: str
    private_key: str = field(default="", repr=False)
    private_key_path: "str | None" = None
    private_key_passphrase: "str | None" = field(default=None, repr=False)
    region: str = "na"
    sandbox: bool = True
    algorithm: SignatureAlgorithm = SignatureAlgorithm.RSASSA_PSS_V2
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: Replace ``https://pay-api.amazon.<tld>``, e.g. ``http://127.0.0.1:8765`` for the emulator.
    base_url: "str | None" = None

    def __post_init__(self) -> None:
        region = REGION_ALIASES.get(str(self.region).strip().lower())
        if region is None:
            raise ConfigError(f"unknown Amazon Pay region {self.region!r} (use na, eu, uk or jp)", field="region")
        object.__setattr__(self, "region", region)
        try:
            object.__setattr__(self, "algorithm", SignatureAlgorithm.parse(self.algorithm))
        except ValueError as exc:
            raise ConfigError(str(exc), field="algorithm") from None
        for name in ("merchant_id", "store_id", "public_key_id"):
            if not str(getattr(self, name) or "").strip():
                raise ConfigError(f"{name} is required", field=name)
            object.__setattr__(self, name, str(getattr(self, name)).strip())
        if not self.private_key and not self.private_key_path:
            raise ConfigError("a private key (PEM text or file path) is required", field="private_key")
        if self.base_url:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"base_url must be an http(s) URL, got {self.base_url!r}", field="base_url")
            if parts.path not in ("", "/") or parts.query or parts.fragment:
                # The signed path starts at /v2 (or /sandbox/v2): a prefix would break signatures.
                raise ConfigError("base_url must be an origin only (scheme, host, port), without a path",
                                  field="base_url")
            object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        key_env = environment_of_key_id(self.public_key_id)
        if key_env is not None:
            # Environment-specific key ids decide the environment; the flag must agree
            # or the merchant is about to send live traffic while thinking it is sandbox.
            object.__setattr__(self, "sandbox", key_env is Environment.SANDBOX)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr
        )
        return f"AmazonPayConfig({shown}, private_key=***)"

    # -- derived values -------------------------------------------------------------

    @property
    def environment(self) -> Environment:
        return Environment.SANDBOX if self.sandbox else Environment.LIVE

    @property
    def api_host(self) -> str:
        """The value of ``x-amz-pay-host``: the real Amazon host, or the override's host."""
        if self.base_url:
            return urlsplit(self.base_url).hostname or API_HOSTS[self.region]
        return API_HOSTS[self.region]

    @property
    def origin(self) -> str:
        return self.base_url or f"https://{API_HOSTS[self.region]}"

    @property
    def path_prefix(self) -> str:
        """``/v2`` for SANDBOX-/LIVE- key ids, else ``/sandbox/v2`` or ``/live/v2``."""
        if is_env_specific_key_id(self.public_key_id):
            return f"/{API_VERSION}"
        return f"/{self.environment.value}/{API_VERSION}"

    @property
    def ledger_currencies(self) -> tuple[str, ...]:
        return LEDGER_CURRENCIES[self.region]

    def _private_key_pem(self) -> str:
        if self.private_key and _PEM_RE.search(self.private_key):
            return normalize_pem(self.private_key)
        path = self.private_key_path or self.private_key
        try:
            return normalize_pem(Path(path).expanduser().read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read the private key file: {exc.strerror}", field="private_key") from None

    @cached_property
    def signer(self) -> RequestSigner:
        try:
            key = load_private_key(self._private_key_pem(), self.private_key_passphrase)
        except ConfigError:
            raise
        except (ValueError, TypeError) as exc:
            # cryptography's messages never contain key material.
            raise ConfigError(f"the private key cannot be parsed: {exc}", field="private_key") from None
        return RequestSigner(key, self.public_key_id, self.algorithm)

    def validate(self) -> "AmazonPayConfig":
        """Parse the key now so a broken configuration fails at start-up, not at checkout."""
        _ = self.signer
        return self

    @classmethod
    def from_env(cls, environ: "Mapping[str, str] | None" = None, prefix: str = "AMAZONPAY_") -> "AmazonPayConfig":
        env = os.environ if environ is None else environ

        def get(name: str, default: "str | None" = None) -> "str | None":
            return env.get(prefix + name, default)

        return cls(
            merchant_id=get("MERCHANT_ID", "") or "",
            store_id=get("STORE_ID", "") or "",
            public_key_id=get("PUBLIC_KEY_ID", "") or "",
            private_key=get("PRIVATE_KEY", "") or "",
            private_key_path=get("PRIVATE_KEY_PATH"),
            private_key_passphrase=get("PRIVATE_KEY_PASSPHRASE"),
            region=get("REGION", "na") or "na",
            sandbox=(get("SANDBOX", "true") or "true").lower() in ("1", "true", "yes"),
            # Parsed (and reported as a ConfigError) by __post_init__.
            algorithm=get("ALGORITHM", SignatureAlgorithm.RSASSA_PSS_V2.value),
            base_url=get("BASE_URL"),
        )
