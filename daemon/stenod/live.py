"""Running core pipelines inside the daemon's event loop, with one engine shared by all of them.

The engine runs in a single worker thread, so decodes from the microphone pipeline and from every
``/v1/listen`` stream are serialised on the one loaded model and the event loop never blocks on them.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from stenod.core.clock import Clock, MonotonicClock
from stenod.core.events import Event
from stenod.core.pipeline import Pipeline, PipelineConfig
from stenod.core.requests import DecodeRequest, DecodeResponse
from stenod.core.vad import FrameClassifier
from stenod.refine_stage import RefineStage

T = TypeVar("T")


class EngineUnavailable(Exception):
    """The engine is stuck in an earlier call, or did not answer in time."""


class DecodeService:
    """One recogniser behind one worker thread, with a deadline; counts what it did for /metrics.

    A decode that runs past its deadline is answered with an error, so the pipeline moves on; while that
    call is still stuck in the worker, further decodes fail at once instead of queueing behind it.
    """

    def __init__(self, recognizer: Callable[[DecodeRequest], DecodeResponse], deadline_s: float = 20.0,
                 deadline_per_audio_s: float = 2.0) -> None:
        self.recognizer = recognizer
        self.deadline_s = deadline_s
        self.deadline_per_audio_s = deadline_per_audio_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stenod-decoder")
        self._stuck: asyncio.Future[Any] | None = None
        self._stuck_since = 0.0
        self.decode_seconds = 0.0
        self.decodes = 0
        self.timeouts = 0

    def stuck_for(self) -> float:
        """Seconds the engine has been stuck in a decode past its deadline (0 when it is not)."""
        if self._stuck is None or self._stuck.done():
            self._stuck = None
            return 0.0
        return time.monotonic() - self._stuck_since

    async def decode(self, request: DecodeRequest) -> DecodeResponse:
        """A stream's decode (counted for /metrics); failures are answered as the response's error."""
        started = time.perf_counter()
        try:
            return await self.run(functools.partial(self.recognizer, request), len(request.audio) / 16000)
        except EngineUnavailable as exc:
            return DecodeResponse(request.id, (), error=str(exc))
        except Exception as exc:  # a recogniser that raises instead of answering with an error
            return DecodeResponse(request.id, (), error=f"{type(exc).__name__}: {exc}")
        finally:
            self.decode_seconds += time.perf_counter() - started
            self.decodes += 1

    async def run(self, job: Callable[[], T], audio_s: float) -> T:
        """Run ``job`` on the engine's thread, in turn with the decodes, under the deadline for ``audio_s``.

        Raises :class:`EngineUnavailable` when the engine is stuck or the deadline passes; ``job``'s own
        exceptions pass through.
        """
        if self.stuck_for():
            raise EngineUnavailable(f"the engine is stuck in a decode for {self.stuck_for():.0f} s")
        loop = asyncio.get_running_loop()
        deadline = self.deadline_s + self.deadline_per_audio_s * audio_s
        future = loop.run_in_executor(self._executor, job)
        try:
            return await asyncio.wait_for(asyncio.shield(future), deadline)
        except TimeoutError:
            self.timeouts += 1
            self._stuck, self._stuck_since = future, time.monotonic()
            raise EngineUnavailable(f"the engine did not answer within {deadline:.0f} s") from None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class LivePipeline:
    """A core pipeline fed from the event loop; its events go to ``publish`` in order."""

    def __init__(self, classifier: FrameClassifier, decoder: DecodeService, config: PipelineConfig,
                 publish: Callable[[Event], None], clock: Clock | None = None) -> None:
        self.clock = clock or MonotonicClock()
        self.pipeline = Pipeline(classifier, self.clock, config)
        self.decoder = decoder
        self.publish = publish
        self.audio_seconds = 0.0
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    def close(self) -> None:
        """Stop: audio fed afterwards is ignored and no further decode is started (for a stream whose client
        left or cleared its audio; a decode already running finishes, and its events are still published)."""
        self._closed = True

    def feed(self, samples: np.ndarray) -> None:
        if self._closed:
            return
        self.audio_seconds += len(samples) / 16000
        self._emit(self.pipeline.push_audio(samples))
        self._pump()

    def status(self, state: str, message: str = "") -> None:
        self.publish(self.pipeline.status(state, message))

    def end_utterance(self) -> None:
        """Close the utterance in progress now (its final follows); the stream goes on."""
        self._emit(self.pipeline.flush())
        self._pump()

    @property
    def degraded(self) -> bool:
        return self.pipeline.degraded

    async def finish(self) -> None:
        """Close the open utterance and wait until its final is out (through ``publish``'s LLM stage, if any)."""
        self._emit(self.pipeline.flush())
        self._pump()
        while (not self.pipeline.idle and not self._closed) or self._task is not None:
            self._idle.clear()
            await self._idle.wait()
        if isinstance(self.publish, RefineStage):
            await self.publish.drain()

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
        if self._closed:
            if self._task is None:
                self._idle.set()
            return
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
