"""RetryPolicy: backoff bounds (jitter isolated) and the should_retry matrix."""

from __future__ import annotations

import dataclasses

import pytest

from saleor_amazonpay.core import (
    NO_RETRIES,
    ConfigError,
    ConnectError,
    ResponseTimeout,
    RetryPolicy,
    TransportError,
)
from saleor_amazonpay.core.errors import error_from_response

pytestmark = pytest.mark.unit


def _api(status: int, reason: "str | None" = None):
    return error_from_response(status, {"reasonCode": reason} if reason else {}, "rid")


@pytest.fixture
def no_jitter(monkeypatch):
    """Make backoff deterministic: the jitter returns its ceiling."""
    monkeypatch.setattr(RetryPolicy, "_jitter", lambda self, ceiling: ceiling)


# --- backoff ------------------------------------------------------------------------------------


def test_default_policy_values():
    policy = RetryPolicy()
    assert policy.max_retries == 3  # like every official SDK
    assert policy.retry_statuses == frozenset({408, 425, 429, 500, 502, 503, 504})
    assert NO_RETRIES.max_retries == 0


def test_backoff_doubles_and_caps(no_jitter):
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_custom_values(no_jitter):
    policy = RetryPolicy(initial_delay=1.0, max_delay=3.0)
    assert [policy.backoff(n) for n in range(1, 5)] == [1.0, 2.0, 3.0, 3.0]


def test_backoff_passes_the_ceiling_to_jitter(monkeypatch):
    seen = []

    def fake_jitter(self, ceiling):
        seen.append(ceiling)
        return 0.125

    monkeypatch.setattr(RetryPolicy, "_jitter", fake_jitter)
    policy = RetryPolicy(initial_delay=2.0, max_delay=5.0)
    assert policy.backoff(1) == 0.125
    assert policy.backoff(3) == 0.125
    assert seen == [2.0, 5.0]


@pytest.mark.parametrize("attempt, ceiling", [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)])
def test_real_jitter_stays_within_bounds(attempt, ceiling):
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0)
    delays = [policy.backoff(attempt) for _ in range(300)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays), (min(delays), max(delays))
    assert len(set(delays)) > 1  # it really is jittered


def test_jitter_uses_random_uniform(monkeypatch):
    import saleor_amazonpay.core.retry as retry_module

    calls = []
    monkeypatch.setattr(retry_module.random, "uniform", lambda a, b: calls.append((a, b)) or b)
    assert RetryPolicy()._jitter(4.0) == 4.0
    assert calls == [(2.0, 4.0)]


def test_policy_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetryPolicy().max_retries = 10


# --- should_retry ---------------------------------------------------------------------------------

MATRIX = [
    # error factory, retry when safe, retry when unsafe
    ("ConnectError", lambda: ConnectError("refused"), True, True),
    ("ResponseTimeout", lambda: ResponseTimeout("timeout"), True, False),
    ("TransportError", lambda: TransportError("other"), True, False),
    ("429", lambda: _api(429, "TooManyRequests"), True, True),
    ("429-no-reason", lambda: _api(429), True, True),
    ("408", lambda: _api(408, "RequestTimeout"), True, False),
    ("425", lambda: _api(425), True, False),
    ("500", lambda: _api(500, "InternalServerError"), True, False),
    ("500-ProcessingFailure", lambda: _api(500, "ProcessingFailure"), True, False),
    ("502", lambda: _api(502), True, False),
    ("503", lambda: _api(503, "ServiceUnavailable"), True, False),
    ("504", lambda: _api(504), True, False),
    ("400", lambda: _api(400, "InvalidParameterValue"), False, False),
    ("400-Duplicate", lambda: _api(400, "DuplicateIdempotencyKey"), False, False),
    ("401", lambda: _api(401, "UnauthorizedAccess"), False, False),
    ("403", lambda: _api(403, "InvalidRequestSignature"), False, False),
    ("404", lambda: _api(404, "ResourceNotFound"), False, False),
    ("409", lambda: _api(409, "AmountMismatch"), False, False),
    ("422", lambda: _api(422, "InvalidChargeStatus"), False, False),
    ("422-declined", lambda: _api(422, "HardDeclined"), False, False),
    ("ConfigError", lambda: ConfigError("bad", field="region"), False, False),
]


@pytest.mark.parametrize("name, make_error, safe_expected, unsafe_expected", MATRIX, ids=[m[0] for m in MATRIX])
def test_should_retry_matrix(name, make_error, safe_expected, unsafe_expected):
    policy = RetryPolicy()
    assert policy.should_retry(make_error(), 1, safe=True) is safe_expected
    assert policy.should_retry(make_error(), 1, safe=False) is unsafe_expected


@pytest.mark.parametrize("safe", [True, False])
def test_attempt_limit(safe):
    policy = RetryPolicy(max_retries=3)
    error = ConnectError("refused")
    # attempt = number of attempts already made: 1 + 3 retries = 4 attempts in all.
    assert [policy.should_retry(error, n, safe=safe) for n in (1, 2, 3, 4, 5)] == [True, True, True, False, False]


def test_no_retries_policy():
    for error in (ConnectError("x"), _api(503), _api(429)):
        assert NO_RETRIES.should_retry(error, 1, safe=True) is False


def test_retry_statuses_are_honoured():
    policy = RetryPolicy(retry_statuses=frozenset({503}))
    assert policy.should_retry(_api(503), 1, safe=True) is True
    assert policy.should_retry(_api(500), 1, safe=True) is False
    assert policy.should_retry(_api(429), 1, safe=False) is False
    assert policy.should_retry(_api(429), 1, safe=True) is False
    # Errors without an HTTP answer are not governed by the status list.
    assert policy.should_retry(ConnectError("x"), 1, safe=False) is True
    assert policy.should_retry(ResponseTimeout("x"), 1, safe=True) is True


def test_unlisted_5xx_is_not_retried_by_default():
    # 501 Not Implemented will not get better by asking again; no SDK retries it.
    assert RetryPolicy().should_retry(_api(501), 1, safe=True) is False
