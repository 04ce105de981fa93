"""The history store: round trips, a private file in WAL mode, search, retraction, pruning, clearing, and a
writer killed mid-transaction leaving an intact file."""

from __future__ import annotations

import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stenod.history.store import COLUMNS, SCHEMA_VERSION, Entry, HistoryError, HistoryStore


def entry(text: str, at: float = 1000.0, utterance_id: int = 1, stream: str = "s1", source: str = "microphone",
          retracted: bool = False) -> Entry:
    return Entry(time=at, stream=stream, utterance_id=utterance_id, start_ms=100 * utterance_id,
                 end_ms=100 * utterance_id + 80, text=text, raw=text.lower(), model="tiny.en", language="en",
                 source=source, retracted=retracted)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "stenod" / "history.sqlite3"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_entries_round_trip_newest_last(path: Path) -> None:
    kept = [entry("First.", 10.0, 1), entry("Second, with a\nline break.", 20.0, 2), entry("Third.", 30.0, 3)]
    with HistoryStore.open(path) as store:
        store.add(kept[1])
        store.add(kept[0], kept[2])
        assert store.search() == kept
        assert store.search(limit=2) == kept[1:]  # the newest two, still oldest first
        assert store.count() == 3
    with HistoryStore.open_readonly(path) as reader:  # type: ignore[union-attr]
        assert reader.search() == kept
        assert list(reader.search()[0].to_dict()) == list(COLUMNS)


def test_the_file_is_private_and_in_wal_mode(path: Path) -> None:
    with HistoryStore.open(path) as store:
        store.add(entry("Secret."))
        assert mode(path.parent) == 0o700 and mode(path) == 0o600
        assert mode(path.with_name(path.name + "-wal")) == 0o600
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_file_left_readable_by_others_is_made_private(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.touch(mode=0o644)
    path.chmod(0o644)
    HistoryStore.open(path).close()
    assert mode(path) == 0o600


def test_search_words_all_match_in_any_case_and_any_part_of_a_word(path: Path) -> None:
    with HistoryStore.open(path) as store:
        store.add(entry("Ask not what your country can do for you.", 1.0, 1),
                  entry("L'ÉCOLE est fermée, 100% sûr.", 2.0, 2),
                  entry("A country road.", 3.0, 3),
                  entry("under_score and percent", 4.0, 4))

        def texts(query: str) -> list[str]:
            return [e.text for e in store.search(query)]

        assert texts("COUNTRY") == ["Ask not what your country can do for you.", "A country road."]
        assert texts("country  ask") == ["Ask not what your country can do for you."]
        assert texts("count") == texts("country")
        assert texts("école FERMÉE") == ["L'ÉCOLE est fermée, 100% sûr."]
        assert texts("100%") == ["L'ÉCOLE est fermée, 100% sûr."]
        assert texts("%") == ["L'ÉCOLE est fermée, 100% sûr."]  # no LIKE wildcards
        assert texts("_") == ["under_score and percent"]
        assert texts("country nowhere") == []
        assert texts("   ") == texts("")
        assert [e.utterance_id for e in store.search("", since=2.0)] == [2, 3, 4]
        assert [e.utterance_id for e in store.search("country", since=2.0, limit=5)] == [3]


def test_a_retracted_final_is_marked_and_never_pasted(path: Path) -> None:
    with HistoryStore.open(path) as store:
        store.add(entry("Keep this.", 1.0, 1), entry("Scratch this.", 2.0, 2), entry("Other stream.", 0.5, 2, "s2"))
        assert store.mark_retracted("s1", 2)
        assert not store.mark_retracted("s1", 99)  # no such final: nothing happens
        assert [(e.text, e.retracted) for e in store.search()] == [
            ("Other stream.", False), ("Keep this.", False), ("Scratch this.", True)]
        assert store.last() == entry("Keep this.", 1.0, 1)


def test_last_is_the_newest_live_final_with_text(path: Path) -> None:
    with HistoryStore.open(path) as store:
        assert store.last() is None
        store.add(entry("Dictated.", 1.0, 1), entry("From a listen client.", 2.0, 1, "s2", "listen"),
                  entry("A passage of a recording.", 3.0, 1, "s3", "transcribe"), entry("", 4.0, 2))
        assert store.last() == entry("From a listen client.", 2.0, 1, "s2", "listen")


def test_prune_deletes_what_is_older_and_clear_deletes_everything(path: Path) -> None:
    with HistoryStore.open(path) as store:
        store.add(*(entry(f"Final {i}.", float(i), i) for i in range(10)))
        assert store.prune(before=4.0) == 4
        assert [e.utterance_id for e in store.search()] == [4, 5, 6, 7, 8, 9]
        assert store.clear() == 6
        assert store.search() == [] and store.count() == 0
    assert b"Final 9" not in path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or b"Final 9" not in wal.read_bytes()


def test_a_reader_sees_what_the_writer_commits_while_it_writes(path: Path) -> None:
    writer = HistoryStore.open(path)
    reader = HistoryStore.open_readonly(path)
    assert reader is not None
    try:
        assert reader.search() == []
        writer.add(entry("One."))
        assert [e.text for e in reader.search()] == ["One."]
        with pytest.raises(sqlite3.OperationalError):
            reader._db.execute("DELETE FROM finals")  # read-only
    finally:
        reader.close()
        writer.close()


def test_missing_empty_corrupt_and_newer_files(path: Path, tmp_path: Path) -> None:
    assert HistoryStore.open_readonly(path) is None
    path.parent.mkdir(parents=True)
    path.touch()
    with HistoryStore.open_readonly(path) as empty:  # type: ignore[union-attr]
        assert empty.search() == [] and empty.last() is None
    path.write_bytes(b"this is not an SQLite file\n" * 200)
    for opener in (HistoryStore.open_readonly, HistoryStore.open):
        with pytest.raises(HistoryError, match="not a readable history file") as info:
            opener(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    for opener in (HistoryStore.open_readonly, HistoryStore.open):
        with pytest.raises(HistoryError, match="newer stenod"):
            opener(newer)


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from stenod.history.store import Entry, HistoryStore

    store = HistoryStore.open(Path(sys.argv[1]))
    batch = 0
    while True:
        batch += 1
        store.add(*(Entry(time=float(batch), stream="crash", utterance_id=batch * 1000 + i, start_ms=0, end_ms=1,
                          text="word " * 200, raw="word " * 200, model="m", language="en", source="microphone")
                    for i in range(50)))
        if batch == 1:
            print("writing", flush=True)
""")


@pytest.mark.parametrize("delay", [0.05, 0.3])
def test_a_writer_killed_mid_write_leaves_an_intact_store(path: Path, delay: float) -> None:
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "writing\n"
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
    with HistoryStore.open(path) as store:
        assert store._db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        count = store.count()
        assert count >= 50 and count % 50 == 0  # whole transactions only
        store.add(entry("After the crash."))
        assert store.search(limit=1)[0].text == "After the crash."
