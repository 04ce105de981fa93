"""One flood limit for every connection that sends us messages: act on them, drop them, or shut it out.

A token bucket per connection lets ``rate`` messages a second through, in bursts of ``burst``; the rest are
not acted on (and not answered). A connection that keeps flooding past ``MAX_STRIKES`` refused messages is
closed with 1008 (:func:`stenod.net.outbox.shut_out`).
"""

from __future__ import annotations

MAX_STRIKES = 200  # messages refused before the connection is closed


class FloodLimit:
    """Call :meth:`allow` for each message; when it says no, :attr:`exhausted` says whether to shut it out."""

    def __init__(self, rate: float = 20.0, burst: int = 40, max_strikes: int = MAX_STRIKES) -> None:
        self.rate = rate
        self.burst = burst
        self.max_strikes = max_strikes
        self.tokens = float(burst)
        self.last: float | None = None
        self.strikes = 0

    def allow(self, now: float) -> bool:
        """Whether a message arriving at ``now`` (seconds, any monotonic clock) may be acted on."""
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.strikes += 1
        return False

    @property
    def exhausted(self) -> bool:
        """The connection has been refused often enough that it should be closed."""
        return self.strikes > self.max_strikes
