"""When and how long to wait before retrying a call to Amazon Pay."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .errors import AmazonPayError, ApiError, ConnectError, RETRYABLE_STATUSES


@dataclass(frozen=True)
class RetryPolicy:
    #: Retries after the first attempt (the SDKs use 3).
    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    #: Total seconds the client may spend on one logical call, retries included.
    deadline: float = 60.0
    retry_statuses: frozenset = field(default=RETRYABLE_STATUSES)

    def should_retry(self, error: AmazonPayError, attempt: int, *, safe: bool) -> bool:
        """``safe``: the call is a read, or a write carrying an idempotency key.

        A write without an idempotency key is never retried once it may have reached
        Amazon, because a retry could charge twice.
        """
        if attempt > self.max_retries or not error.should_retry:
            return False
        status = error.http_status if isinstance(error, ApiError) else None
        if status is not None and status not in self.retry_statuses:
            return False
        if safe:
            return True
        # Unsafe writes are retried only when Amazon certainly did nothing: the connection
        # never opened, or Amazon throttled the request before processing it.
        return isinstance(error, ConnectError) or error.http_status == 429

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: attempt 1 -> [initial/2, initial], 2 -> [initial, 2*initial] ..."""
        ceiling = min(self.initial_delay * (2 ** (attempt - 1)), self.max_delay)
        return self._jitter(ceiling)

    def _jitter(self, ceiling: float) -> float:
        # Separate method to isolate randomness for tests (as stripe-python does).
        return random.uniform(ceiling / 2, ceiling)


NO_RETRIES = RetryPolicy(max_retries=0)
