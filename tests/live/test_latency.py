"""A final's latency (``/health``'s ``last_final_latency_s``): from the arrival of the end of its speech to its
publishing, on the pipeline's clock, whatever pause came before."""

from __future__ import annotations

import asyncio

import numpy as np

from stenod.core.clock import FakeClock
from stenod.core.events import Event, Final
from stenod.core.fake import FakeRecognizer, LoudIsSpeech, ScriptWord
from stenod.core.pipeline import PipelineConfig
from stenod.live import pipeline as live_pipeline
from stenod.live.decoder import DecodeService
from stenod.live.pipeline import LivePipeline

RATE = 16000
BLOCK_S = 0.02


def _tone(seconds: float, loud: bool) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * loud * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


async def _play(live: LivePipeline, clock: FakeClock, audio: np.ndarray) -> None:
    """Feed ``audio`` a block at a time, the clock moving as if it came from a sound card and each decode
    answered before the next block (an engine much faster than speech)."""
    block = int(BLOCK_S * RATE)
    for at in range(0, len(audio), block):
        clock.advance(BLOCK_S)
        live.feed(audio[at:at + block])
        while live.pipeline.in_flight is not None:
            await asyncio.sleep(0.001)


def _run(pause_s: float) -> tuple[list[float | None], Final]:
    clock = FakeClock()
    latencies: list[float | None] = []
    finals: list[Final] = []

    def publish(event: Event) -> None:
        if isinstance(event, Final):
            latencies.append(live.latency(event))
            finals.append(event)

    async def run() -> None:
        await _play(live, clock, _tone(0.5, False))
        clock.advance(pause_s)  # paused: the clock goes on, no audio comes
        await _play(live, clock, np.concatenate([_tone(1.0, True), _tone(1.5, False)]))
        await live.finish()

    service = DecodeService(FakeRecognizer([ScriptWord("hello", 0.6, 1.4)]))
    live = LivePipeline(LoudIsSpeech(), service, PipelineConfig(partials=False), publish, clock=clock)
    asyncio.run(run())
    service.close()
    return latencies, finals[0]


def test_the_latency_counts_from_the_end_of_the_speech_not_from_the_start_of_the_stream() -> None:
    latencies, final = _run(pause_s=100.0)
    assert final.raw == "hello"
    assert len(latencies) == 1 and latencies[0] is not None
    # With an instant engine the final waits only for the silence that confirms the end, pause or not.
    assert 0.2 < latencies[0] < 0.6, latencies
    assert final.emitted_at - final.end_ms / 1000 > 100  # the stream's own clock counts the pause


def test_audio_too_old_to_be_remembered_has_no_latency(monkeypatch) -> None:
    monkeypatch.setattr(live_pipeline, "ARRIVALS_KEPT", 10)
    latencies, _final = _run(pause_s=0.0)
    assert latencies == [None]
