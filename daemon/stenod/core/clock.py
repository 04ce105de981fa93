"""Clocks for the pipeline's ``emitted_at``: seconds since the stream began."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class MonotonicClock:
    """Wall time since construction (``time.monotonic``)."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._start


class FakeClock:
    """A clock that moves only when told to: for tests and for the computation-aware ``--fast`` mode."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._now += seconds

    def set(self, now: float) -> None:
        self.advance(now - self._now)
