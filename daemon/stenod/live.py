"""Running core pipelines inside the daemon's event loop, with one engine shared by all of them.

The engine runs in a single worker thread, so decodes from the microphone pipeline and from every
``/v1/listen`` stream are serialised on the one loaded model and the event loop never blocks on them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from stenod.core.clock import MonotonicClock
from stenod.core.events import Event
from stenod.core.pipeline import Pipeline, PipelineConfig
from stenod.core.requests import DecodeRequest, DecodeResponse
from stenod.core.vad import FrameClassifier


class DecodeService:
    """One recogniser behind one worker thread; counts what it did for /metrics."""

    def __init__(self, recognizer: Callable[[DecodeRequest], DecodeResponse]) -> None:
        self.recognizer = recognizer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stenod-decoder")
        self.decode_seconds = 0.0
        self.decodes = 0

    async def decode(self, request: DecodeRequest) -> DecodeResponse:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            return await loop.run_in_executor(self._executor, self.recognizer, request)
        finally:
            self.decode_seconds += time.perf_counter() - started
            self.decodes += 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class LivePipeline:
    """A core pipeline fed from the event loop; its events go to ``publish`` in order."""

    def __init__(self, classifier: FrameClassifier, decoder: DecodeService, config: PipelineConfig,
                 publish: Callable[[Event], None]) -> None:
        self.clock = MonotonicClock()
        self.pipeline = Pipeline(classifier, self.clock, config)
        self.decoder = decoder
        self.publish = publish
        self.audio_seconds = 0.0
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def feed(self, samples: np.ndarray) -> None:
        self.audio_seconds += len(samples) / 16000
        self._emit(self.pipeline.push_audio(samples))
        self._pump()

    def status(self, state: str, message: str = "") -> None:
        self.publish(self.pipeline.status(state, message))

    async def finish(self) -> None:
        """Close the open utterance and wait until its final is out."""
        self._emit(self.pipeline.flush())
        self._pump()
        while not self.pipeline.idle or self._task is not None:
            self._idle.clear()
            await self._idle.wait()

    @property
    def lag(self) -> float:
        """Seconds of audio the newest request in flight is behind the newest sample."""
        request = self.pipeline.in_flight
        if request is None:
            return 0.0
        return max(0.0, (self.pipeline.received - request.offset - len(request.audio)) / 16000)

    def _emit(self, events: list[Event]) -> None:
        for event in events:
            self.publish(event)

    def _pump(self) -> None:
        if self._task is None:
            request = self.pipeline.next_request()
            if request is not None:
                self._task = asyncio.get_running_loop().create_task(self._decode(request))
                return
        if self._task is None and self.pipeline.idle:
            self._idle.set()

    async def _decode(self, request: DecodeRequest) -> None:
        response = await self.decoder.decode(request)
        self._task = None
        self._emit(self.pipeline.push_response(response))
        self._pump()
        self._idle.set()
