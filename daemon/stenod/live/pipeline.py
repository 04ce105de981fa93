"""A core pipeline run inside the daemon's event loop, its decodes on the shared engine thread.

Create a :class:`LivePipeline` per stream; call :meth:`~LivePipeline.feed` with each 16 kHz block as it
arrives, :meth:`~LivePipeline.finish` at the end of the stream (it waits for the last final), or
:meth:`~LivePipeline.close` when the stream's client leaves (no further decodes are started for it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.core.cleanup import CleanupConfig
from stenod.core.clock import Clock, MonotonicClock
from stenod.core.commands import Commands, CommandsConfig
from stenod.core.events import Event, Final
from stenod.core.pipeline import Pipeline, PipelineConfig
from stenod.core.requests import DecodeRequest
from stenod.core.vad import FrameClassifier
from stenod.live.cleanup_stage import Clean, CleanupStage
from stenod.live.decoder import DecodeService

ARRIVALS_KEPT = 1500  # blocks whose arrival is remembered for a final's latency: 30 s of 20 ms blocks


class LivePipeline:
    """A core pipeline fed from the event loop; its events go to ``publish`` in order.

    With ``clean`` (an LLM clean-up, :meth:`stenod.live.llm.LlmCleaner.clean`), each final's text is offered to
    it on the way out, later events waiting for it; :meth:`set_clean` swaps it for a reloaded configuration.
    """

    def __init__(self, classifier: FrameClassifier, decoder: DecodeService, config: PipelineConfig,
                 publish: Callable[[Event], None], clock: Clock | None = None, clean: Clean | None = None) -> None:
        self.clock = clock or MonotonicClock()
        self.pipeline = Pipeline(classifier, self.clock, config)
        self.decoder = decoder
        self.publish = CleanupStage(clean, publish)
        self.audio_seconds = 0.0
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=ARRIVALS_KEPT)  # (audio ms fed so far, clock)
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
        self.audio_seconds += len(samples) / SAMPLE_RATE
        self._arrivals.append(((self.pipeline.received + len(samples)) * 1000 / SAMPLE_RATE, self.clock.now()))
        self._emit(self.pipeline.push_audio(samples))
        self._pump()

    def set_clean(self, clean: Clean | None) -> None:
        """Offer the finals from now on to ``clean`` (None: publish the rule-based text)."""
        self.publish.clean = clean

    def set_cleanup(self, cleanup: CleanupConfig) -> None:
        """The rule-based clean-up of the finals published from now on (they still start with the stable text)."""
        self.pipeline.config = replace(self.pipeline.config, cleanup=cleanup)

    def set_commands(self, commands: CommandsConfig) -> None:
        """The spoken commands recognised in the utterances finished from now on."""
        self.pipeline.config = replace(self.pipeline.config, commands=commands)
        self.pipeline.commands = Commands(commands)

    def status(self, state: str, message: str = "") -> None:
        self.publish(self.pipeline.status(state, message))

    def end_utterance(self) -> None:
        """Close the utterance in progress now (its final follows); the stream goes on."""
        self._emit(self.pipeline.flush())
        self._pump()

    def latency(self, final: Final) -> float | None:
        """Seconds from the arrival of ``final``'s last audio (the end of its speech) until now; None when that
        audio is too old to be remembered."""
        arrived = None
        for upto_ms, at in reversed(self._arrivals):
            if upto_ms < final.end_ms:
                break
            arrived = at
        else:
            if len(self._arrivals) == self._arrivals.maxlen:
                return None  # the block that held it may be older than the oldest remembered
        return None if arrived is None else max(0.0, self.clock.now() - arrived)

    @property
    def degraded(self) -> bool:
        return self.pipeline.degraded

    async def finish(self) -> None:
        """Close the open utterance and wait until its final is out (through the LLM clean-up, if any)."""
        self._emit(self.pipeline.flush())
        self._pump()
        while (not self.pipeline.idle and not self._closed) or self._task is not None:
            self._idle.clear()
            await self._idle.wait()
        await self.publish.drain()

    @property
    def lag(self) -> float:
        """Seconds of audio the newest request in flight is behind the newest sample."""
        request = self.pipeline.in_flight
        if request is None:
            return 0.0
        return max(0.0, (self.pipeline.received - request.offset - len(request.audio)) / SAMPLE_RATE)

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
