"""Run a producer on a thread of its own, a bounded number of heavy items ahead of the consumer.

The recording's reading, voice detection and encoder run here while the caller decodes the windows before
(and a third thread times their words): on two cores the stages overlap. Light items (progress marks) pass
in order without counting against the bound, so a long silence read ahead never stalls the encoder.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import Generic, TypeVar

T = TypeVar("T")
Emit = Callable[[T, bool], None]


class _Stopped(Exception):
    """The consumer went away: unwinds the producer."""


class _End:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class RunAhead(Generic[T]):
    """Iterate over what ``produce(emit)`` emits, in order; ``emit(item, heavy)`` blocks while ``depth`` heavy
    items wait. An exception in the producer is raised in the consumer; leaving the loop early stops the
    producer at its next emit and waits for its thread."""

    def __init__(self, produce: Callable[[Emit[T]], None], depth: int = 2) -> None:
        self._produce = produce
        self._queue: queue.Queue[tuple[T, bool] | _End] = queue.Queue()
        self._slots = threading.Semaphore(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="stenod-ahead", daemon=True)

    def _emit(self, item: T, heavy: bool) -> None:
        while heavy and not self._slots.acquire(timeout=0.1):
            if self._stop.is_set():
                raise _Stopped
        if self._stop.is_set():
            raise _Stopped
        self._queue.put((item, heavy))

    def _work(self) -> None:
        try:
            self._produce(self._emit)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the consumer, raised there
            self._queue.put(_End(exc))
            return
        self._queue.put(_End(None))

    def __iter__(self) -> Generator[T, None, None]:
        self._thread.start()
        try:
            while True:
                got = self._queue.get()
                if isinstance(got, _End):
                    if got.error is not None:
                        raise got.error
                    return
                item, heavy = got
                if heavy:
                    self._slots.release()
                yield item
        finally:
            self._stop.set()
            self._thread.join()
