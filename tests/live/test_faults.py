"""Faults the daemon's adapters survive: an engine that raises, hangs or is slower than speech, and pauses.

The engine faults cannot be produced with the real model on demand, so a scripted recogniser plays them;
the pipeline, the decode service and the event loop are the daemon's own.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import numpy as np

from stenod.core.events import Error, Event, Final, SpeechEnd, Status
from stenod.core.fake import FakeRecognizer, LoudIsSpeech, ScriptWord
from stenod.core.pipeline import PipelineConfig
from stenod.core.requests import DecodeRequest, DecodeResponse
from stenod.live.decoder import DecodeService
from stenod.live.pipeline import LivePipeline

RATE = 16000


def _speech(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


async def _play(live: LivePipeline, audio: np.ndarray, block_s: float = 0.05, speed: float = 10.0) -> None:
    """Feed ``audio`` in blocks, ``speed`` times faster than real time."""
    block = int(block_s * RATE)
    for at in range(0, len(audio), block):
        live.feed(audio[at:at + block])
        await asyncio.sleep(block_s / speed)


def _script(*words: tuple[str, float, float]) -> FakeRecognizer:
    return FakeRecognizer([ScriptWord(w, a, b) for w, a, b in words])


def test_a_hung_engine_is_given_up_on_and_the_stream_goes_on() -> None:
    release = threading.Event()
    working = _script(("first", 0.6, 1.2), ("second", 2.7, 3.3))
    calls: list[DecodeRequest] = []

    def hangs_once(request: DecodeRequest) -> DecodeResponse:
        calls.append(request)
        if len(calls) == 1:
            release.wait(30)  # stuck in the engine
        return working(request)

    async def run() -> tuple[list[Event], float]:
        events: list[Event] = []
        service = DecodeService(hangs_once, deadline_s=0.5, deadline_per_audio_s=0.0)
        live = LivePipeline(LoudIsSpeech(), service, PipelineConfig(partials=False), events.append)
        await _play(live, np.concatenate([_silence(0.5), _speech(1.0), _silence(1.0)]))
        await asyncio.sleep(1.0)
        stuck = service.stuck_for()
        release.set()
        await asyncio.sleep(0.2)
        await _play(live, np.concatenate([_speech(1.0), _silence(1.0)]))
        await live.finish()
        service.close()
        return events, stuck

    events, stuck = asyncio.run(run())
    assert stuck > 0
    errors = [e for e in events if isinstance(e, Error)]
    assert errors and "did not answer" in errors[0].message
    assert [e.raw for e in events if isinstance(e, Final)][-1] == "second"  # the engine came back


def test_a_raising_recogniser_becomes_an_error_event() -> None:
    def explodes(request: DecodeRequest) -> DecodeResponse:
        raise MemoryError("no room")

    async def run() -> list[Event]:
        events: list[Event] = []
        service = DecodeService(explodes)
        live = LivePipeline(LoudIsSpeech(), service, PipelineConfig(partials=False), events.append)
        await _play(live, np.concatenate([_silence(0.5), _speech(1.0), _silence(1.0)]))
        await live.finish()
        service.close()
        return events

    events = asyncio.run(run())
    assert [e.message for e in events if isinstance(e, Error)] == ["MemoryError: no room"]
    assert [e.discarded for e in events if isinstance(e, SpeechEnd)] == ["error"]


def test_ending_an_utterance_early_gives_its_final_and_the_stream_goes_on() -> None:
    recognizer = _script(("cut", 0.6, 1.0), ("later", 1.95, 2.4))

    async def run() -> list[Event]:
        events: list[Event] = []
        service = DecodeService(recognizer)
        live = LivePipeline(LoudIsSpeech(), service, PipelineConfig(partials=False), events.append)
        await _play(live, np.concatenate([_silence(0.5), _speech(0.8)]))
        live.end_utterance()  # the device was lost, or dictation paused, mid-sentence
        await asyncio.sleep(0.3)
        await _play(live, np.concatenate([_silence(0.5), _speech(0.8), _silence(1.0)]))
        await live.finish()
        service.close()
        return events

    events = asyncio.run(run())
    assert [e.raw for e in events if isinstance(e, Final)] == ["cut", "later"]


def test_a_slow_engine_reports_degraded_and_recovers() -> None:
    script = _script(*[(f"w{i}", 0.6 + 1.5 * i, 1.2 + 1.5 * i) for i in range(12)])

    def slow(request: DecodeRequest) -> DecodeResponse:
        time.sleep(1.2 * len(request.audio) / RATE / 10)  # 1.2x real time, in the 10x-accelerated run
        return script(request)

    async def run() -> list[Event]:
        events: list[Event] = []
        service = DecodeService(slow)
        live = LivePipeline(LoudIsSpeech(), service, PipelineConfig(degrade_lag_s=1.5), events.append)
        audio = np.concatenate([_silence(0.5)] + [np.concatenate([_speech(1.0), _silence(0.5)])
                                                   for _ in range(12)] + [_silence(6.0)])
        await _play(live, audio)
        await live.finish()
        service.close()
        return events

    events = asyncio.run(run())
    states = [e.state for e in events if isinstance(e, Status)]
    assert "degraded" in states
    assert len([e for e in events if isinstance(e, Final)]) >= 6


def test_a_missing_model_is_a_one_line_error_and_exit_2(tmp_path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "PATH": "/usr/bin:/bin", "STENOD_CACHE_DIR": str(tmp_path / "cache")}
    for model in (str(tmp_path / "no-such-model"), "large-v9"):
        run = subprocess.run([sys.executable, "-m", "stenod", "run", "--no-mic", "--model", model,
                              "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=120, env=env)
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith("stenod: error:") and run.stderr.count("\n") == 1, run.stderr
