"""Helpers for tests and demos that use the emulator (no pytest dependency)."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlencode, urljoin, urlsplit

from ..core.constants import Environment
from ..core.transport import PreparedRequest, WSGITransport
from .merchants import MerchantRegistry


def make_test_merchant(
    env: str = "sandbox",
    region: str = "na",
    *,
    registry: MerchantRegistry,
    base_url: "str | None" = None,
    key_pair: "tuple[str, str] | None" = None,
    legacy_key_id: bool = False,
    ipn_url: "str | None" = None,
) -> "tuple[dict, str]":
    """Register a fresh merchant in ``registry``.

    Returns ``(config_kwargs, private_pem)`` where ``AmazonPayConfig(**config_kwargs)`` is a
    working configuration (``private_key`` included). ``legacy_key_id=True`` gives a
    24-character key id (paths ``/sandbox/v2``/``/live/v2``) instead of ``SANDBOX-…``.
    """
    environment = Environment(env.lower())
    merchant, key_id, private_pem = registry.create_test_merchant(
        environment, region, key_pair=key_pair, legacy_key_id=legacy_key_id, ipn_url=ipn_url
    )
    kwargs: dict[str, Any] = {
        "merchant_id": merchant.merchant_id,
        "store_id": merchant.store_id,
        "public_key_id": key_id,
        "private_key": private_pem,
        "region": merchant.region,
        "sandbox": environment is Environment.SANDBOX,
    }
    if base_url:
        kwargs["base_url"] = base_url
    return kwargs, private_pem


@dataclass
class PageResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return jsonlib.loads(self.body.decode("utf-8"))

    @property
    def location(self) -> "str | None":
        for key, value in self.headers.items():
            if key.lower() == "location":
                return value
        return None


class WSGIBrowser:
    """Drive the hosted buyer pages of an in-process :class:`EmulatorApp` by plain HTTP
    (no redirects followed: tests assert on each hop)."""

    def __init__(self, app: Any, base_url: str = "http://pay-api.test") -> None:
        self.transport = WSGITransport(app)
        self.base_url = base_url.rstrip("/")

    def _url(self, url: str) -> str:
        return url if urlsplit(url).scheme else urljoin(self.base_url + "/", url.lstrip("/"))

    def request(self, method: str, url: str, *, body: bytes = b"", headers: "Mapping[str, str] | None" = None
                ) -> PageResponse:
        raw = self.transport.send(PreparedRequest(method, self._url(url), dict(headers or {}), body))
        return PageResponse(raw.status, dict(raw.headers), raw.body)

    def get(self, url: str) -> PageResponse:
        return self.request("GET", url)

    def post_form(self, url: str, fields: Mapping[str, Any]) -> PageResponse:
        return self.request("POST", url, body=urlencode({k: v for k, v in fields.items() if v is not None}).encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})

    def post_json(self, url: str, data: Any) -> PageResponse:
        return self.request("POST", url, body=jsonlib.dumps(data).encode(),
                            headers={"Content-Type": "application/json"})
