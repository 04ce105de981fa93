"""The daemon's history writer fed real events: finals kept with the wall clock, retractions marked, the
retention pruned at start and daily, and a store that cannot be written logged once and never fatal."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from stenod.core.events import Final, Partial, Retract, SpeechEnd, SpeechStart
from stenod.history import recorder as recorder_module
from stenod.history.recorder import DAY_S, Recorder
from stenod.history.store import Entry, HistoryStore


def final(seq: int, utterance_id: int, text: str) -> Final:
    return Final(seq=seq, emitted_at=0.5 * seq, audio_ms=1000 * seq, utterance_id=utterance_id, text=text,
                 raw=text.lower().rstrip("."), words=(), language="en", start_ms=100 * utterance_id,
                 end_ms=100 * utterance_id + 90)


def retract(seq: int, utterance_id: int, said_in: int) -> Retract:
    return Retract(seq=seq, emitted_at=0.5 * seq, audio_ms=1000 * seq, utterance_id=utterance_id,
                   command="scratch that", command_utterance_id=said_in)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "stenod" / "history.sqlite3"


def rows(path: Path) -> list[Entry]:
    with HistoryStore.open_readonly(path) as store:  # type: ignore[union-attr]
        return store.search()


def test_finals_are_kept_and_retractions_marked(path: Path) -> None:
    clock = Clock()
    recorder = Recorder(path, "base", now=clock)
    recorder.start()
    mic, other = recorder.sink("mic-stream"), recorder.sink("listen-stream", "listen")
    mic(SpeechStart(seq=1, emitted_at=0.0, audio_ms=0, utterance_id=1, start_ms=100))
    mic(Partial(seq=2, emitted_at=0.1, audio_ms=500, utterance_id=1, revision=1, stable="", unstable="meet",
                start_ms=100, end_ms=500))
    mic(final(3, 1, "Meet at six."))
    mic(SpeechEnd(seq=4, emitted_at=2.0, audio_ms=2000, utterance_id=1, start_ms=100, end_ms=190))
    clock.now += 5
    mic(final(5, 2, "Make it seven."))
    other(final(1, 2, "Another stream's second."))
    mic(retract(6, 2, 3))  # "scratch that" withdraws utterance 2 of the microphone's stream only
    mic(retract(7, 42, 43))  # no final of utterance 42: nothing happens
    recorder.close()
    assert rows(path) == [
        Entry(time=1_800_000_000.0, stream="mic-stream", utterance_id=1, start_ms=100, end_ms=190,
              text="Meet at six.", raw="meet at six", model="base", language="en", source="microphone"),
        Entry(time=1_800_000_005.0, stream="mic-stream", utterance_id=2, start_ms=200, end_ms=290,
              text="Make it seven.", raw="make it seven", model="base", language="en", source="microphone",
              retracted=True),
        Entry(time=1_800_000_005.0, stream="listen-stream", utterance_id=2, start_ms=200, end_ms=290,
              text="Another stream's second.", raw="another stream's second", model="base", language="en",
              source="listen")]


def test_the_event_loop_never_waits_for_the_disk(path: Path) -> None:
    slow = threading.Event()

    def open_slowly(where: Path) -> HistoryStore:
        slow.wait(10)
        return HistoryStore.open(where)

    recorder = Recorder(path, "tiny.en", open_store=open_slowly)
    recorder.start()
    keep = recorder.sink("s")
    for i in range(1, 201):
        keep(final(i, i, f"Final {i}."))
    # every call returned while the store was still being opened: the writes wait in the queue, not the caller
    assert not slow.is_set() and not path.exists() and recorder._jobs.qsize() >= 200
    slow.set()
    recorder.close()
    assert len(rows(path)) == 200


class FlakyStore(HistoryStore):
    """A store whose writes fail as a full disk does, while ``full`` is set."""

    full = threading.Event()

    def add(self, *entries: Entry) -> None:
        if self.full.is_set():
            raise sqlite3.OperationalError("database or disk is full")
        super().add(*entries)


@pytest.fixture(autouse=True)
def room_on_the_disk() -> None:
    FlakyStore.full.clear()


def test_a_full_disk_is_one_warning_and_the_finals_are_written_once_there_is_room(
        path: Path, caplog: pytest.LogCaptureFixture) -> None:
    FlakyStore.full.set()
    recorder = Recorder(path, "tiny.en", open_store=FlakyStore.open)
    recorder.start()
    keep = recorder.sink("s")
    with caplog.at_level(logging.INFO, logger="stenod.history"):
        for i in range(1, 4):
            keep(final(i, i, f"Final {i}."))  # never raises into the caller
        recorder.wait()
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
        assert "database or disk is full" in warnings[0].getMessage() and str(path) in warnings[0].getMessage()
        assert rows(path) == []
        FlakyStore.full.clear()
        keep(final(4, 4, "Final 4."))
        recorder.wait()
    assert [e.text for e in rows(path)] == [f"Final {i}." for i in range(1, 5)]
    assert any("again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    recorder.close()


def test_an_unwritable_place_is_one_warning_too(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "not-a-folder").write_text("")
    recorder = Recorder(tmp_path / "not-a-folder" / "history.sqlite3", "tiny.en")
    recorder.start()
    keep = recorder.sink("s")
    with caplog.at_level(logging.WARNING, logger="stenod.history"):
        for i in range(1, 4):
            keep(final(i, i, "Lost."))
        recorder.wait()
    assert len(caplog.records) == 1 and "cannot write" in caplog.records[0].getMessage()
    recorder.close()


def test_the_backlog_is_bounded(path: Path) -> None:
    FlakyStore.full.set()
    recorder = Recorder(path, "tiny.en", open_store=FlakyStore.open, backlog=3)
    recorder.start()
    keep = recorder.sink("s")
    for i in range(1, 7):
        keep(final(i, i, f"Final {i}."))
    recorder.wait()
    FlakyStore.full.clear()
    keep(final(7, 7, "Final 7."))
    recorder.close()
    assert [e.utterance_id for e in rows(path)] == [5, 6, 7]  # the oldest went first


def seed(path: Path, *ages_in_days: float, now: float) -> None:
    with HistoryStore.open(path) as store:
        store.add(*(Entry(time=now - age * DAY_S, stream="old", utterance_id=i, start_ms=0, end_ms=1,
                          text=f"{age} days old", raw="", model="m", language="en", source="microphone")
                    for i, age in enumerate(ages_in_days)))


def test_finals_past_the_retention_are_deleted_at_start(path: Path) -> None:
    clock = Clock()
    seed(path, 400, 31, 29.9, 1, now=clock.now)
    recorder = Recorder(path, "tiny.en", 30, now=clock)
    recorder.start()
    recorder.sink("s")(final(1, 1, "New."))
    recorder.close()
    assert [e.text for e in rows(path)] == ["29.9 days old", "1 days old", "New."]


def test_a_retention_of_zero_keeps_everything(path: Path) -> None:
    clock = Clock()
    seed(path, 4000, 1, now=clock.now)
    recorder = Recorder(path, "tiny.en", 0, now=clock)
    recorder.start()
    recorder.sink("s")(final(1, 1, "New."))
    recorder.close()
    assert len(rows(path)) == 3


def test_the_retention_is_applied_again_each_day(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder_module, "PRUNE_EVERY_S", 0.05)  # a "day" of 50 ms
    clock = Clock()
    seed(path, 0, now=clock.now)
    recorder = Recorder(path, "tiny.en", 30, now=clock)
    recorder.start()
    recorder.sink("s")(final(1, 1, "New."))
    recorder.wait()
    assert len(rows(path)) == 2
    clock.now += 31 * DAY_S
    deadline = time.monotonic() + 10
    while rows(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    recorder.close()
    assert rows(path) == []


def test_a_closed_recorder_keeps_nothing_more(tmp_path) -> None:
    from support.events import final

    recorder = Recorder(tmp_path / "history.sqlite3", "tiny.en")
    recorder.start()
    recorder.close()
    recorder.record(final(1, "After."), "s", "microphone")
    assert recorder._jobs.empty()
