"""The emulator's notion of "now".

Amazon's timers (24 h session expiry, 30 s pending authorizations, refund settlement)
are far too slow for tests, so every rule reads time from this clock and tests move it
forward instead of sleeping. The clock follows wall time plus an offset, so a server run
for a browser demo still behaves in real time until someone advances it.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Callable


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Clock:
    def __init__(self, start: "datetime | None" = None, *, frozen: bool = False,
                 wall: Callable[[], datetime] = utc_now) -> None:
        """``start`` pins the clock to that moment (then it keeps ticking unless ``frozen``)."""
        self._wall = wall
        self._lock = threading.Lock()
        self._frozen_at: "datetime | None" = None
        self._offset = timedelta(0)
        if start is not None:
            if start.tzinfo is None:
                raise ValueError("the emulator clock needs an aware datetime")
            self._offset = start - wall()
        if frozen:
            self._frozen_at = start or wall()

    def now(self) -> datetime:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return self._wall() + self._offset

    def wall(self) -> datetime:
        """Real time: what a client's ``x-amz-pay-date`` is normally based on."""
        return self._wall()

    @property
    def offset(self) -> timedelta:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at - self._wall()
            return self._offset

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        with self._lock:
            delta = timedelta(seconds=seconds)
            if self._frozen_at is not None:
                self._frozen_at += delta
            else:
                self._offset += delta
        return self.now()

    def reset(self) -> None:
        """Back to wall time (keeps a frozen clock frozen, at the current wall time)."""
        with self._lock:
            self._offset = timedelta(0)
            if self._frozen_at is not None:
                self._frozen_at = self._wall()


def compact(moment: "datetime | None") -> "str | None":
    """``20191015T204313Z``: the timestamp format of every Amazon Pay object."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def iso_millis(moment: datetime) -> str:
    """``2012-05-02T00:54:06.655Z``: the SNS envelope's timestamp format."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
