"""``x-amz-pay-idempotency-key``: replay the first answer, refuse a reused key.

A key is scoped to one merchant and environment. The same key with the same request
(method, path, body) gets the first response back byte for byte: that is what makes a
client retry after a timeout safe. The same key with a different request is a client bug
and gets 400 DuplicateIdempotencyKey. Keys live for 24 hours, as Amazon documents.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from ..core.constants import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_MAX_LENGTH
from .errors import AmazonError
from .wire import Request, Response

KEY_LIFETIME = timedelta(hours=24)
_KEY_RE = re.compile(r"^[A-Za-z0-9]{1,%d}$" % IDEMPOTENCY_KEY_MAX_LENGTH)


def check_key(value: str) -> str:
    if not _KEY_RE.match(value):
        raise AmazonError(400, "InvalidHeaderValue",
                          f"{IDEMPOTENCY_HEADER} must be 1-{IDEMPOTENCY_KEY_MAX_LENGTH} alphanumeric characters.")
    return value


def fingerprint(request: Request) -> str:
    """Method, routing path and body. JSON bodies are compared by content, not by
    whitespace, since an SDK may re-serialise the same payload on retry."""
    try:
        body = json.dumps(request.json(), sort_keys=True, separators=(",", ":"),
                          default=lambda v: str(v) if isinstance(v, Decimal) else v)
    except (ValueError, UnicodeDecodeError):
        body = request.body.hex()
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode("utf-8")).hexdigest()


@dataclass
class StoredResponse:
    fingerprint: str
    response: Response
    request_id: str
    stored_at: datetime


class IdempotencyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple, StoredResponse] = {}

    def lookup(self, scope: tuple, key: str, request: Request, now: datetime) -> "StoredResponse | None":
        """The stored answer to replay, None for a new key; raises for a reused key."""
        with self._lock:
            entry = self._entries.get((*scope, key))
            if entry is None:
                return None
            if now - entry.stored_at > KEY_LIFETIME:
                del self._entries[(*scope, key)]
                return None
        if entry.fingerprint != fingerprint(request):
            raise AmazonError(400, "DuplicateIdempotencyKey",
                              f"The idempotency key {key} was already used for a different request.")
        return entry

    def store(self, scope: tuple, key: str, request: Request, response: Response,
              request_id: str, now: datetime) -> None:
        with self._lock:
            self._entries[(*scope, key)] = StoredResponse(fingerprint(request), response.copy(), request_id, now)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
