"""Who may call the emulator: merchants, their stores and their public keys.

Amazon knows a merchant's *public* keys only (the merchant uploads them in Seller
Central); the emulator does the same, so a test proves the client signs with the key the
registry expects. A legacy key id works in both environments (the URL path picks one);
a ``SANDBOX-``/``LIVE-`` key id works only in its own.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..core.constants import (
    EU_PRESENTMENT_CURRENCIES,
    LEDGER_CURRENCIES,
    REGION_ALIASES,
    Environment,
    environment_of_key_id,
)
from ..core.signing import load_public_key
from .ids import new_merchant_id, new_public_key_id, new_store_id

ALL_ENVIRONMENTS = frozenset({Environment.SANDBOX, Environment.LIVE})


def generate_key_pair(bits: int = 2048) -> "tuple[str, str]":
    """A fresh RSA key pair as ``(private_pem, public_pem)`` (PKCS#8 / SubjectPublicKeyInfo).

    Amazon Pay keys are 2048-bit RSA; the private half stays with the merchant.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return private_pem, public_pem


def _environment(value: "Environment | str") -> Environment:
    return Environment(str(getattr(value, "value", value)).lower())


@dataclass(frozen=True)
class MerchantKey:
    public_key_id: str
    public_key_pem: str
    #: Environments the key may be used in (derived from the key id prefix if it has one).
    environments: frozenset = ALL_ENVIRONMENTS

    def __post_init__(self) -> None:
        # Parse now: a broken key in merchants.json should fail at start-up, not per request.
        object.__setattr__(self, "_public_key", load_public_key(self.public_key_pem))
        implied = environment_of_key_id(self.public_key_id)
        if implied is not None:
            object.__setattr__(self, "environments", frozenset({implied}))

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key  # type: ignore[attr-defined]


@dataclass
class Merchant:
    merchant_id: str
    region: str = "na"
    store_ids: list[str] = field(default_factory=list)
    keys: dict[str, MerchantKey] = field(default_factory=dict)
    environments: frozenset = ALL_ENVIRONMENTS
    #: Where IPNs for this merchant go (Seller Central -> Integration Central in real life).
    ipn_url: "str | None" = None
    store_name: str = "Emulator Test Store"

    def __post_init__(self) -> None:
        region = REGION_ALIASES.get(str(self.region).strip().lower())
        if region is None:
            raise ValueError(f"unknown Amazon Pay region {self.region!r}")
        self.region = region
        self.environments = frozenset(_environment(e) for e in self.environments)

    @property
    def store_id(self) -> str:
        return self.store_ids[0] if self.store_ids else ""

    @property
    def ledger_currencies(self) -> "tuple[str, ...]":
        return LEDGER_CURRENCIES[self.region]

    def accepts_currency(self, currency: str, presentment_currency: "str | None" = None) -> bool:
        """Ledger currencies always; EU/UK merchants also take multi-currency presentment."""
        if currency in self.ledger_currencies:
            return True
        return self.region == "eu" and currency in EU_PRESENTMENT_CURRENCIES and presentment_currency == currency

    def key_environments(self, key: MerchantKey) -> frozenset:
        return key.environments & self.environments

    def public_dict(self) -> dict:
        return {
            "merchantId": self.merchant_id,
            "region": self.region,
            "storeIds": list(self.store_ids),
            "publicKeyIds": sorted(self.keys),
            "environments": sorted(e.value for e in self.environments),
            "ipnUrl": self.ipn_url,
        }


class MerchantRegistry:
    """merchantId / storeId / publicKeyId -> public key, region and environments."""

    def __init__(self, merchants: "Iterable[Merchant]" = ()) -> None:
        self._lock = threading.RLock()
        self._merchants: dict[str, Merchant] = {}
        self._keys: dict[str, str] = {}  # public key id (upper) -> merchant id
        for merchant in merchants:
            self.add(merchant)

    # -- building -------------------------------------------------------------------

    def add(self, merchant: Merchant) -> Merchant:
        with self._lock:
            for key_id in merchant.keys:
                owner = self._keys.get(key_id.upper())
                if owner and owner != merchant.merchant_id:
                    raise ValueError(f"public key id {key_id} is already registered to {owner}")
            existing = self._merchants.get(merchant.merchant_id)
            if existing is not None:
                # Entries with the same merchantId merge: one merchant may have several
                # keys (key rotation) and stores.
                for store_id in merchant.store_ids:
                    if store_id not in existing.store_ids:
                        existing.store_ids.append(store_id)
                existing.keys.update(merchant.keys)
                existing.ipn_url = merchant.ipn_url or existing.ipn_url
                merchant = existing
            else:
                self._merchants[merchant.merchant_id] = merchant
            for key_id in merchant.keys:
                self._keys[key_id.upper()] = merchant.merchant_id
            return merchant

    def register(
        self,
        merchant_id: str,
        store_id: str,
        public_key_id: str,
        public_key_pem: str,
        region: str = "na",
        *,
        environments: "Iterable[Environment | str] | None" = None,
        ipn_url: "str | None" = None,
    ) -> Merchant:
        key = MerchantKey(public_key_id, public_key_pem)
        merchant = Merchant(
            merchant_id=merchant_id,
            region=region,
            store_ids=[store_id] if store_id else [],
            keys={public_key_id: key},
            environments=frozenset(environments) if environments else ALL_ENVIRONMENTS,
            ipn_url=ipn_url,
        )
        return self.add(merchant)

    def create_test_merchant(
        self,
        env: "Environment | str | None" = "sandbox",
        region: str = "na",
        *,
        key_pair: "tuple[str, str] | None" = None,
        legacy_key_id: bool = False,
        ipn_url: "str | None" = None,
    ) -> "tuple[Merchant, str, str]":
        """Register a fresh merchant; returns ``(merchant, public_key_id, private_pem)``.

        ``legacy_key_id=True`` makes a 24-character key id usable on ``/sandbox/v2`` and
        ``/live/v2``; otherwise the id is ``SANDBOX-…``/``LIVE-…`` for ``env``.
        """
        private_pem, public_pem = key_pair or generate_key_pair()
        key_id = new_public_key_id(None if legacy_key_id or env is None else env)
        merchant = self.register(new_merchant_id(), new_store_id(), key_id, public_pem, region, ipn_url=ipn_url)
        return merchant, key_id, private_pem

    # -- loading --------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: "Path | str | None" = None) -> "MerchantRegistry":
        """``{"merchants": [{"merchantId", "storeId", "publicKeyId", "publicKey" | "publicKeyPath",
        "region", "environments"?, "ipnUrl"?, "storeIds"?}]}``; a relative ``publicKeyPath`` is
        resolved against ``base_dir`` (the JSON file's folder)."""
        registry = cls()
        entries = data.get("merchants")
        if not isinstance(entries, list):
            raise ValueError('merchants file: expected {"merchants": [...]}')
        for index, entry in enumerate(entries):
            where = f"merchants[{index}]"
            if not isinstance(entry, Mapping):
                raise ValueError(f"{where}: expected an object")
            for name in ("merchantId", "publicKeyId"):
                if not entry.get(name):
                    raise ValueError(f"{where}: {name} is required")
            pem = entry.get("publicKey")
            if not pem and entry.get("publicKeyPath"):
                path = Path(entry["publicKeyPath"]).expanduser()
                if not path.is_absolute() and base_dir is not None:
                    path = Path(base_dir) / path
                pem = path.read_text()
            if not pem:
                raise ValueError(f"{where}: publicKey or publicKeyPath is required")
            try:
                key = MerchantKey(entry["publicKeyId"], pem)
            except ValueError as exc:
                raise ValueError(f"{where}: the public key cannot be parsed: {exc}") from None
            store_ids = list(entry.get("storeIds") or [])
            if entry.get("storeId") and entry["storeId"] not in store_ids:
                store_ids.insert(0, entry["storeId"])
            registry.add(Merchant(
                merchant_id=entry["merchantId"],
                region=entry.get("region", "na"),
                store_ids=store_ids,
                keys={key.public_key_id: key},
                environments=frozenset(entry.get("environments") or ALL_ENVIRONMENTS),
                ipn_url=entry.get("ipnUrl"),
                store_name=entry.get("storeName") or "Emulator Test Store",
            ))
        return registry

    @classmethod
    def from_file(cls, path: "Path | str") -> "MerchantRegistry":
        path = Path(path).expanduser()
        return cls.from_dict(json.loads(path.read_text()), base_dir=path.parent)

    # -- lookups --------------------------------------------------------------------

    def by_public_key_id(self, public_key_id: str) -> "tuple[Merchant, MerchantKey] | None":
        with self._lock:
            merchant_id = self._keys.get(public_key_id.upper())
            if merchant_id is None:
                return None
            merchant = self._merchants[merchant_id]
            for key_id, key in merchant.keys.items():
                if key_id.upper() == public_key_id.upper():
                    return merchant, key
        return None

    def get(self, merchant_id: str) -> "Merchant | None":
        with self._lock:
            return self._merchants.get(merchant_id)

    @property
    def merchants(self) -> "list[Merchant]":
        with self._lock:
            return list(self._merchants.values())

    def __len__(self) -> int:
        return len(self._merchants)

    def __iter__(self):
        return iter(self.merchants)
