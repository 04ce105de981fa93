"""``stenod history`` and ``stenod paste-last`` as real subprocesses over a history file in a private
``XDG_STATE_HOME``; ``stenod transcribe --history`` keeps a recording's passages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from stenod.history.store import Entry, HistoryStore
from stenod.history.transcripts import keep, open_for_transcripts
from stenod.recordings.transcriber import Passage, Transcript

NOW = time.time()


def stenod(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("STENOD_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "stenod", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def history_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "stenod" / "history.sqlite3"


def entry(text: str, hours_ago: float, utterance_id: int, source: str = "microphone",
          retracted: bool = False) -> Entry:
    return Entry(time=NOW - hours_ago * 3600, stream="abc123", utterance_id=utterance_id, start_ms=0, end_ms=900,
                 text=text, raw=text.lower(), model="tiny.en", language="en", source=source, retracted=retracted)


ENTRIES = [entry("Three days ago we met.", 72, 1), entry("Ask not what your country can do.", 5, 2),
           entry("A passage of a lecture.", 3, 1, "transcribe"), entry("Draft the country report.", 1, 3),
           entry("Scratch this one.", 0.5, 4, retracted=True)]


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = history_file(tmp_path)
    with HistoryStore.open(path) as store:
        store.add(*ENTRIES)
    return path


def stamp(e: Entry) -> str:
    return datetime.fromtimestamp(e.time).strftime("%Y-%m-%d %H:%M:%S")


def test_history_lists_newest_last_with_local_times_and_marks(tmp_path: Path, history: Path) -> None:
    done = stenod(tmp_path, "history")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.splitlines() == [
        f"{stamp(ENTRIES[0])}  Three days ago we met.", f"{stamp(ENTRIES[1])}  Ask not what your country can do.",
        f"{stamp(ENTRIES[2])}  [transcribe] A passage of a lecture.",
        f"{stamp(ENTRIES[3])}  Draft the country report.", f"{stamp(ENTRIES[4])}  (retracted) Scratch this one."]


def test_history_searches_filters_and_prints_json(tmp_path: Path, history: Path) -> None:
    found = stenod(tmp_path, "history", "COUNTRY")
    assert [line.split("  ", 1)[1] for line in found.stdout.splitlines()] == [
        "Ask not what your country can do.", "Draft the country report."]
    assert stenod(tmp_path, "history", "country", "draft").stdout.count("\n") == 1
    recent = stenod(tmp_path, "history", "--since", "2h", "--json")
    assert recent.returncode == 0
    lines = [json.loads(line) for line in recent.stdout.splitlines()]
    assert [Entry(**line) for line in lines] == ENTRIES[3:]
    assert stenod(tmp_path, "history", "--limit", "1").stdout.endswith("(retracted) Scratch this one.\n")
    assert stenod(tmp_path, "history", "--since", "yesterday", "--limit", "0").stdout.count("\n") == 4


def test_history_one_line_errors(tmp_path: Path, history: Path) -> None:
    for args, fragment in ((("--since", "fortnight"), "--since 'fortnight': expected a date"),
                           (("--limit", "-3"), "--limit -3"),
                           (("--limit", str(2**64)), f"--limit {2**64}"),
                           (("--clear", "country"), "--clear deletes the whole history")):
        done = stenod(tmp_path, "history", *args)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and fragment in done.stderr, done.stderr


def test_history_without_a_store_and_with_a_corrupt_one(tmp_path: Path) -> None:
    missing = stenod(tmp_path, "history")
    assert missing.returncode == 0 and missing.stdout == ""
    assert missing.stderr.startswith("no history yet: ") and missing.stderr.count("\n") == 1
    assert stenod(tmp_path, "history", "--clear").stdout.startswith("no history yet: ")
    path = history_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 1000)
    for args in (["history"], ["history", "--clear"], ["paste-last", "--backend", "stdout"]):
        corrupt = stenod(tmp_path, *args)
        assert corrupt.returncode == 2 and corrupt.stdout == "" and "Traceback" not in corrupt.stderr
        assert corrupt.stderr.startswith("stenod: error: ") and corrupt.stderr.count("\n") == 1
        assert "not a readable history file" in corrupt.stderr


def test_history_clear_deletes_everything(tmp_path: Path, history: Path) -> None:
    done = stenod(tmp_path, "history", "--clear")
    assert done.returncode == 0 and done.stdout == f"deleted 5 finals from {history}\n"
    assert stenod(tmp_path, "history").stdout == ""


def test_paste_last_types_the_newest_final_not_retracted(tmp_path: Path, history: Path) -> None:
    done = stenod(tmp_path, "paste-last", "--backend", "stdout")
    assert (done.returncode, done.stdout, done.stderr) == (0, "Draft the country report.", "")


def test_paste_last_with_nothing_to_paste(tmp_path: Path) -> None:
    done = stenod(tmp_path, "paste-last", "--backend", "stdout")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("stenod paste-last: nothing to paste") and done.stderr.count("\n") == 1
    with HistoryStore.open(history_file(tmp_path)) as store:
        store.add(entry("Withdrawn.", 1, 1, retracted=True), entry("A file's passage.", 0, 1, "transcribe"))
    assert stenod(tmp_path, "paste-last", "--backend", "stdout").returncode == 1


def test_paste_last_with_no_backend_that_works(tmp_path: Path, history: Path) -> None:
    done = stenod(tmp_path, "paste-last", "--backend", "no-such-tool")
    assert done.returncode == 2 and "unknown backend 'no-such-tool'" in done.stderr


def test_a_transcript_s_passages_are_kept_as_one_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    transcript = Transcript("talk.wav", language="de", passages=[
        Passage(start=0.5, end=2.25, raw=" hallo welt", text="Hallo Welt."),
        Passage(start=3.0, end=4.0, raw=" zweiter teil", text="Zweiter Teil.")])
    with open_for_transcripts(None) as store:
        assert keep(store, transcript, "base", now=lambda: 1000.0) == ""
        kept = store.search()
    assert [(e.utterance_id, e.start_ms, e.end_ms, e.text, e.raw, e.language, e.source, e.model, e.time)
            for e in kept] == [(1, 500, 2250, "Hallo Welt.", " hallo welt", "de", "transcribe", "base", 1000.0),
                               (2, 3000, 4000, "Zweiter Teil.", " zweiter teil", "de", "transcribe", "base", 1000.0)]
    assert kept[0].stream == kept[1].stream


def test_transcribe_history_is_refused_when_the_history_is_off(tmp_path: Path, jfk_wav: Path) -> None:
    config = tmp_path / "config" / "stenod" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[history]\nenabled = false\n")
    done = stenod(tmp_path, "transcribe", "--history", str(jfk_wav))
    assert done.returncode == 2 and "the history is off" in done.stderr and done.stderr.count("\n") == 1
    assert not history_file(tmp_path).exists()


def test_transcribe_history_keeps_the_passages(tmp_path: Path, jfk_wav: Path) -> None:
    done = stenod(tmp_path, "transcribe", "--history", "-q", str(jfk_wav), timeout=600)
    assert done.returncode == 0, done.stderr
    listed = stenod(tmp_path, "history", "--json")
    kept = [Entry(**json.loads(line)) for line in listed.stdout.splitlines()]
    assert kept and {e.source for e in kept} == {"transcribe"} and {e.model for e in kept} == {"tiny.en"}
    assert " ".join(e.text for e in kept) == " ".join(done.stdout.split())
