"""``--since``: dates, dates with times, today and yesterday in local time; durations in real seconds; anything
else a one-line error that repeats what was given."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from stenod.errors import StenodError
from stenod.history.when import since

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is Berlin's (summer time starts on 2026-03-29 at 02:00), whatever the machine's is."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


NOW = datetime(2026, 11, 30, 15, 30)  # naive, local


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN).timestamp()


@pytest.mark.parametrize(("text", "expected"), [
    ("today", local(2026, 11, 30)),
    (" Yesterday ", local(2026, 11, 29)),
    ("2026-11-30", local(2026, 11, 30)),
    ("2026-11-30T14:00", local(2026, 11, 30, 14)),
    ("2026-11-30 14:00:30", local(2026, 11, 30, 14, 0, 30)),
    ("2026-11-30t14:00", local(2026, 11, 30, 14)),
    ("2026-11-30T14:00Z", datetime(2026, 11, 30, 14, tzinfo=UTC).timestamp()),
    ("2026-11-30T14:00+05:00", datetime(2026, 11, 30, 9, tzinfo=UTC).timestamp()),
    ("2h", local(2026, 11, 30, 13, 30)),
    ("90m", local(2026, 11, 30, 14)),
    ("3D", local(2026, 11, 27, 15, 30)),
    ("1h30m", local(2026, 11, 30, 14)),
    ("1w", local(2026, 11, 23, 15, 30)),
    ("45s", local(2026, 11, 30, 15, 29, 15)),
    ("0m", local(2026, 11, 30, 15, 30)),
    ("2030-01-01", local(2030, 1, 1)),  # the future: nothing matches, which is not an error
])
def test_what_since_accepts(text: str, expected: float) -> None:
    assert since(text, NOW) == expected


def test_days_start_at_local_midnight_and_durations_are_real_time_across_summer_time() -> None:
    now = datetime(2026, 3, 29, 12, 0)  # 12:00 CEST; the clock jumped from 02:00 to 03:00 this morning
    assert since("today", now) == local(2026, 3, 29)  # 00:00 CET
    assert since("yesterday", now) == local(2026, 3, 28)
    assert since("12h", now) == local(2026, 3, 28, 23)  # 12 real hours back is 23:00 the day before
    assert since("2026-03-29T02:30", now) == local(2026, 3, 29, 3, 30)  # a time that did not exist: moved on


@pytest.mark.parametrize("text", [
    "", "2", "h", "-2h", "2 h", "1.5h", "2h2", "2y", "tomorrow", "now", "2026-02-30", "2026-11-30T25:00",
    "2026-11-30T14", "30/11/2026", "2026-11-30T14:00:00.5", "99999999999d", "2026-11-30T14:00 junk",
    "yesterday 14:00", "١٢h", "0001-01-01", "0001-01-01T00:00", "0000-01-01",
])
def test_anything_else_is_a_one_line_error(text: str) -> None:
    with pytest.raises(StenodError) as info:
        since(text, NOW)
    assert repr(text) in str(info.value) and "\n" not in str(info.value)


def test_without_a_now_it_counts_from_the_clock() -> None:
    assert abs(since("1h") - (time.time() - 3600)) < 5
