"""Drive the core pipeline over an audio file: in real time, or fast on a computation-aware virtual clock.

``run_realtime`` feeds the audio at its wall-clock pace while a worker thread runs the recogniser.
``run_fast`` simulates the same thing on a virtual clock: audio arrives at its real-time pace on that clock
and every decode moves the clock on by the wall time it really took, so the latencies it reports are those
of a real-time run, while the run itself takes only as long as the computing.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.core.clock import FakeClock, MonotonicClock
from stenod.core.events import Event
from stenod.core.pipeline import Pipeline, PipelineConfig
from stenod.core.requests import DecodeRequest, DecodeResponse
from stenod.core.vad import FrameClassifier

Recognizer = Callable[[DecodeRequest], DecodeResponse]
Sink = Callable[[Event], None]
CHUNK_S = 0.02  # audio arrives in 20 ms blocks, as from a sound card


@dataclass
class StreamStats:
    audio_s: float = 0.0
    wall_s: float = 0.0
    decode_s: float = 0.0
    partial_calls: int = 0
    final_calls: int = 0
    events: list[Event] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return self.partial_calls + self.final_calls

    @property
    def rtf(self) -> float:
        """Decode time over audio time: the share of real time the recogniser was busy."""
        return self.decode_s / self.audio_s if self.audio_s else 0.0


def _chunks(audio: np.ndarray, chunk_s: float) -> list[np.ndarray]:
    size = max(1, int(chunk_s * SAMPLE_RATE))
    return [audio[i:i + size] for i in range(0, len(audio), size)]


def _count(stats: StreamStats, request: DecodeRequest, seconds: float) -> None:
    stats.decode_s += seconds
    if request.final:
        stats.final_calls += 1
    else:
        stats.partial_calls += 1


def _emit(stats: StreamStats, sink: Sink | None, events: list[Event]) -> None:
    for event in events:
        stats.events.append(event)
        if sink:
            sink(event)


def _feed(pipeline: Pipeline, chunk: np.ndarray, last: bool) -> list[Event]:
    events = pipeline.push_audio(chunk)
    return events + pipeline.flush() if last else events


def run_fast(audio: np.ndarray, recognizer: Recognizer, classifier: FrameClassifier,
             config: PipelineConfig | None = None, sink: Sink | None = None, chunk_s: float = CHUNK_S) -> StreamStats:
    clock = FakeClock()
    pipeline = Pipeline(classifier, clock, config)
    stats = StreamStats(audio_s=len(audio) / SAMPLE_RATE)
    chunks = _chunks(np.asarray(audio, dtype=np.float32), chunk_s)
    started = time.perf_counter()
    _emit(stats, sink, [pipeline.status("listening")])
    arrived = 0  # samples delivered so far
    busy: tuple[float, DecodeResponse] | None = None  # (virtual time the answer is ready, the answer)
    i = 0
    while True:
        next_audio = (arrived + len(chunks[i])) / SAMPLE_RATE if i < len(chunks) else None
        if busy is not None and (next_audio is None or busy[0] <= next_audio):
            clock.set(max(clock.now(), busy[0]))
            response, busy = busy[1], None
            _emit(stats, sink, pipeline.push_response(response))
        elif next_audio is not None:
            clock.set(max(clock.now(), next_audio))
            arrived += len(chunks[i])
            i += 1
            _emit(stats, sink, _feed(pipeline, chunks[i - 1], last=i == len(chunks)))
        if busy is None:
            request = pipeline.next_request()
            if request is not None:
                t0 = time.perf_counter()
                response = recognizer(request)
                took = time.perf_counter() - t0
                _count(stats, request, took)
                busy = (clock.now() + took, response)
            elif i == len(chunks):
                break
    _emit(stats, sink, [pipeline.status("finished", f"{stats.audio_s:.1f} s of audio")])
    stats.wall_s = time.perf_counter() - started
    return stats


def run_realtime(audio: np.ndarray, recognizer: Recognizer, classifier: FrameClassifier,
                 config: PipelineConfig | None = None, sink: Sink | None = None,
                 chunk_s: float = CHUNK_S) -> StreamStats:
    clock = MonotonicClock()
    pipeline = Pipeline(classifier, clock, config)
    stats = StreamStats(audio_s=len(audio) / SAMPLE_RATE)
    chunks = _chunks(np.asarray(audio, dtype=np.float32), chunk_s)
    requests: queue.Queue[DecodeRequest | None] = queue.Queue()
    answers: queue.Queue[tuple[DecodeResponse, float]] = queue.Queue()

    def work() -> None:
        while (request := requests.get()) is not None:
            t0 = time.perf_counter()
            response = recognizer(request)
            answers.put((response, time.perf_counter() - t0))

    worker = threading.Thread(target=work, name="stenod-decoder", daemon=True)
    worker.start()
    started = time.perf_counter()
    _emit(stats, sink, [pipeline.status("listening")])
    in_flight: DecodeRequest | None = None
    arrived = 0
    i = 0
    try:
        while True:
            due = (arrived + len(chunks[i])) / SAMPLE_RATE if i < len(chunks) else None
            wait = None if due is None else max(0.0, due - clock.now())
            if in_flight is not None:
                try:
                    response, took = answers.get(timeout=wait)
                except queue.Empty:
                    pass
                else:
                    _count(stats, in_flight, took)
                    in_flight = None
                    _emit(stats, sink, pipeline.push_response(response))
            elif wait:
                time.sleep(wait)
            if due is not None and clock.now() >= due:
                arrived += len(chunks[i])
                i += 1
                _emit(stats, sink, _feed(pipeline, chunks[i - 1], last=i == len(chunks)))
            if in_flight is None:
                in_flight = pipeline.next_request()
                if in_flight is not None:
                    requests.put(in_flight)
                elif i == len(chunks):
                    break
    finally:
        requests.put(None)
        worker.join(timeout=30)
    _emit(stats, sink, [pipeline.status("finished", f"{stats.audio_s:.1f} s of audio")])
    stats.wall_s = time.perf_counter() - started
    return stats
