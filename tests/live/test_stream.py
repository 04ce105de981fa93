"""The whole pipeline with the real engine: ``stenod stream`` on recorded speech, fast and real time."""

from __future__ import annotations

import json
import time

import pytest

from stenod.audio.classifiers import make_classifier
from stenod.cli import main
from stenod.core.events import Event, Final, Partial, SpeechEnd
from stenod.core.requests import DecodeRequest, DecodeResponse
from stenod.engine.recognizer import WhisperRecognizer
from stenod.engine.whisper import WhisperEngine
from stenod.live.files import run_fast, run_realtime
from stenod_bench.evaluation import word_error_rate

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@pytest.fixture(scope="module")
def recognizer() -> WhisperRecognizer:
    return WhisperRecognizer(WhisperEngine.load("tiny.en", "int8"))


def test_stream_cli_prints_json_events(jfk_wav, capsys) -> None:
    assert main(["stream", str(jfk_wav), "--fast", "--json"]) == 0
    events = [Event.from_dict(json.loads(line)) for line in capsys.readouterr().out.splitlines()]
    finals = [e for e in events if isinstance(e, Final)]
    assert finals and any(isinstance(e, Partial) for e in events)
    assert word_error_rate([JFK], [" ".join(f.text for f in finals)]) < 0.1
    assert all(w.probability > 0 and w.start_ms <= w.end_ms for f in finals for w in f.words)


def test_stream_cli_live_view(jfk_wav, capsys) -> None:
    assert main(["stream", str(jfk_wav), "--fast"]) == 0
    out = capsys.readouterr().out
    assert "country" in out and "(+" in out


def test_stream_cli_missing_file(tmp_path, capsys) -> None:
    assert main(["stream", str(tmp_path / "nope.wav"), "--fast"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stenod: error:") and "nope.wav" in err and "\n" not in err


def _final_latencies(events: list[Event]) -> list[float]:
    return [e.emitted_at - e.end_ms / 1000 for e in events if isinstance(e, Final)]


class Logged:
    """The recogniser, logging each decode (final or not, and how long it took on the wall clock) in one list
    with the events of the run, in the order they happened."""

    def __init__(self, recognizer: WhisperRecognizer) -> None:
        self.recognizer = recognizer
        self.log: list[Event | tuple[bool, float]] = []

    def __call__(self, request: DecodeRequest) -> DecodeResponse:
        started = time.perf_counter()
        response = self.recognizer(request)
        self.log.append((request.final, time.perf_counter() - started))
        return response


def test_fast_mode_reports_the_latencies_of_a_real_time_run(jfk_audio, recognizer) -> None:
    # How close the two runs' latencies come is measured by ``stenod bench stream`` (fast vs real time on the
    # JFK recording). Here: each run emits every final after its speech ended, and the fast run's virtual
    # clock moved on by the time each decode really took, so a final's latency includes its decode.
    logged = Logged(recognizer)
    fast = run_fast(jfk_audio, logged, make_classifier(), sink=logged.log.append)
    real = run_realtime(jfk_audio, recognizer, make_classifier())
    assert real.wall_s >= len(jfk_audio) / 16000 - 0.05  # paced by the wall clock
    for run in (fast, real):  # partials fall at other moments in the two runs, so the words may differ a little
        assert word_error_rate([JFK], [" ".join(e.text for e in run.events if isinstance(e, Final))]) < 0.15
        assert all(latency > 0 for latency in _final_latencies(run.events))
    finals = 0
    for at, entry in enumerate(logged.log):
        if isinstance(entry, Final):  # published when the answer of the decode just before it came
            final, took = next(e for e in reversed(logged.log[:at]) if isinstance(e, tuple))
            assert final and entry.emitted_at - entry.end_ms / 1000 >= took, (entry, took)
            finals += 1
    assert finals >= 2
    ends = [e for e in fast.events if isinstance(e, SpeechEnd)]
    assert ends and not any(e.discarded for e in ends)


def test_stream_cli_replacements(jfk_wav, capsys) -> None:
    assert main(["stream", str(jfk_wav), "--fast", "--json", "--replace", "country=nation"]) == 0
    finals = [e for e in map(json.loads, capsys.readouterr().out.splitlines()) if e["type"] == "final"]
    text = " ".join(f["text"] for f in finals)
    assert "nation" in text and "country" not in text
    assert "country" in " ".join(f["raw"] for f in finals)  # raw keeps what Whisper said


def test_stream_cli_bad_replacement(jfk_wav, capsys) -> None:
    assert main(["stream", str(jfk_wav), "--fast", "--replace", "oops"]) == 2
    assert "expected FROM=TO" in capsys.readouterr().err
