"""``stenod history --since WHEN``: a date, a date and time, ``today``, ``yesterday`` or a duration ago.

Dates and times without a zone are local time; a day starts at local midnight; a duration is real time
(``12h`` across a change to summer time is 12 hours, not the same hour on the clock).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from stenod.errors import StenodError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION = re.compile(r"(?:\d{1,9}[smhdw])+", re.ASCII)
PART = re.compile(r"(\d+)([smhdw])", re.ASCII)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|z)?", re.ASCII)
EXPECTED = ("expected a date (2026-11-30), a date and time (2026-11-30T14:00), today, yesterday, or a "
            "duration ago (90m, 2h, 3d, 1w, 1h30m)")


def since(text: str, now: datetime | None = None) -> float:
    """The unix time ``text`` names, counted back from ``now`` (local, naive; default: the clock's now)."""
    now = now or datetime.now()
    word = text.strip().lower()
    if word in ("today", "yesterday"):
        day = now.date() - timedelta(days=1 if word == "yesterday" else 0)
        return _midnight(day)
    if DURATION.fullmatch(word):
        return now.timestamp() - sum(int(n) * UNITS[unit] for n, unit in PART.findall(word))  # real seconds
    try:
        if DATE.fullmatch(word):
            return _midnight(date.fromisoformat(word))
        if DATE_TIME.fullmatch(word):
            return datetime.fromisoformat(word.upper()).timestamp()  # a naive time is local
    except (ValueError, OverflowError) as exc:
        raise StenodError(f"--since {text!r}: {exc}") from None
    raise StenodError(f"--since {text!r}: {EXPECTED}")


def _midnight(day: date) -> float:
    return datetime.combine(day, time()).timestamp()
