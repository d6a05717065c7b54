"""One AmazonPayClient per channel configuration, reused across requests.

Reuse matters: the private key is parsed once and the HTTP connection pool stays warm,
so a checkout pays for one TLS handshake per worker, not per call.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Callable

from ..core import AmazonPayClient, ButtonSignature, Timeouts
from ..core.retry import RetryPolicy
from ..core.transport import Transport
from .settings import ChannelSettings

_lock = threading.Lock()
_clients: dict[tuple, AmazonPayClient] = {}
_button_cache: dict[tuple, ButtonSignature] = {}

#: Tests and benchmarks may route all plugin traffic through another transport
#: (e.g. a call counter); production leaves it None.
transport_factory: "Callable[[], Transport] | None" = None
observers: list = []
#: Tests and benchmarks may shorten the client's timeouts (to inject latency beyond them)
#: and its retry backoff; production leaves both None (the client's defaults). Call
#: :func:`reset` after changing them: clients are cached.
timeouts: "Timeouts | None" = None
retry_policy: "RetryPolicy | None" = None


def client_for(settings: ChannelSettings) -> AmazonPayClient:
    key = settings.fingerprint()
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                transport = transport_factory() if transport_factory else None
                config = settings.client_config()
                if timeouts is not None:
                    config = dataclasses.replace(config, timeouts=timeouts)
                client = AmazonPayClient(config, transport=transport, retry=retry_policy, observers=observers)
                _clients[key] = client
    return client


def signed_button_payload(settings: ChannelSettings, payload_json: str) -> ButtonSignature:
    """Sign a static button payload once per process; it only changes with the settings."""
    key = (settings.fingerprint(), payload_json)
    signature = _button_cache.get(key)
    if signature is None:
        signature = client_for(settings).generate_button_signature(payload_json)
        with _lock:
            if len(_button_cache) > 256:
                _button_cache.clear()
            _button_cache[key] = signature
    return signature


def reset() -> None:
    with _lock:
        _clients.clear()
        _button_cache.clear()
