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

from stenod.core import SAMPLE_RATE
from stenod.core.requests import DecodeRequest, DecodeResponse

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
            return await self.run(functools.partial(self.recognizer, request), len(request.audio) / SAMPLE_RATE)
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
