"""The daemon's side of the history: finals and retractions handed to one writer thread.

On the event loop an event is only stamped with the wall clock and queued; the writer thread owns the store
and every SQLite call. It prunes what is older than the retention when it starts and once a day. A store that
cannot be written (a full disk, a read-only folder, a foreign file) is one warning in the log, never a fault:
the daemon goes on serving, the writes that failed wait in a bounded backlog, and each later write retries them.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stenod.core.events import Event, Final, Retract
from stenod.history.store import Entry, HistoryError, HistoryStore

log = logging.getLogger("stenod.history")
DAY_S = 86400.0
PRUNE_EVERY_S = DAY_S
BACKLOG = 1000  # writes kept while the store cannot be written; the oldest go first

Sink = Callable[[Event], None]


@dataclass(frozen=True)
class _Add:
    entry: Entry

    def apply(self, store: HistoryStore) -> None:
        store.add(self.entry)


@dataclass(frozen=True)
class _Retract:
    stream: str
    utterance_id: int

    def apply(self, store: HistoryStore) -> None:
        store.mark_retracted(self.stream, self.utterance_id)


@dataclass(frozen=True)
class _Prune:
    before: float

    def apply(self, store: HistoryStore) -> None:
        gone = store.prune(self.before)
        if gone:
            log.info("history: %d finals past the retention deleted", gone)


Job = _Add | _Retract | _Prune
_STOP = object()


class Recorder:
    """Keeps finals in the store at ``path``; :meth:`start` it, give each stream a :meth:`sink`, then
    :meth:`close` it.

    ``model`` names the finals' model; ``retention_days`` 0 keeps everything. ``now`` is the wall clock and
    ``open_store`` opens the store (both replaceable, for tests).
    """

    def __init__(self, path: Path, model: str, retention_days: int = 30, *, now: Callable[[], float] = time.time,
                 open_store: Callable[[Path], HistoryStore] = HistoryStore.open, backlog: int = BACKLOG) -> None:
        self.path = path
        self.model = model
        self.retention_s = retention_days * DAY_S
        self.now = now
        self._open_store = open_store
        self._jobs: queue.Queue[Job | object] = queue.Queue()
        self._backlog: deque[Job] = deque(maxlen=backlog)
        self._store: HistoryStore | None = None
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="stenod-history", daemon=True)
        self._closed = False

    def start(self) -> None:
        self._thread.start()

    def sink(self, stream: str, source: str = "microphone") -> Sink:
        """What a pipeline's publish callback also calls: keeps the finals of ``stream`` as ``source``."""

        def keep(event: Event) -> None:
            self.record(event, stream, source)

        return keep

    def record(self, event: Event, stream: str, source: str) -> None:
        """Queue a final, or a retraction of one; other events are not kept. Never blocks, never raises; once
        closed (the history was turned off) it keeps nothing."""
        if self._closed:
            return
        if isinstance(event, Final):
            self._jobs.put(_Add(Entry(time=self.now(), stream=stream, utterance_id=event.utterance_id,
                                      start_ms=event.start_ms, end_ms=event.end_ms, text=event.text,
                                      raw=event.raw, model=self.model, language=event.language, source=source)))
        elif isinstance(event, Retract):
            self._jobs.put(_Retract(stream, event.utterance_id))

    def wait(self) -> None:
        """Until everything queued so far has been tried (for tests and shutdown)."""
        self._jobs.join()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for up to ``timeout`` seconds), then close the store."""
        self._closed = True
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        next_prune = time.monotonic()
        try:
            while True:
                if self.retention_s and time.monotonic() >= next_prune:
                    self._backlog.append(_Prune(self.now() - self.retention_s))
                    self._write_backlog()
                    next_prune = time.monotonic() + PRUNE_EVERY_S
                try:
                    job = self._jobs.get(timeout=max(0.0, next_prune - time.monotonic()) if self.retention_s
                                         else None)
                except queue.Empty:
                    continue
                try:
                    if job is _STOP:
                        return
                    assert isinstance(job, _Add | _Retract | _Prune)
                    self._backlog.append(job)
                    self._write_backlog()
                finally:
                    self._jobs.task_done()
        finally:
            self._close_store()

    def _write_backlog(self) -> None:
        """Apply the waiting jobs in order; stop at the first that fails (it is retried with the next job)."""
        while self._backlog:
            try:
                store = self._store or self._open()
                self._backlog[0].apply(store)
            except (sqlite3.Error, OSError, HistoryError) as exc:
                self._failed(exc)
                return
            self._backlog.popleft()
            if self._failing:
                self._failing = False
                log.info("history: writing to %s again", self.path)

    def _open(self) -> HistoryStore:
        self._store = self._open_store(self.path)
        return self._store

    def _failed(self, exc: BaseException) -> None:
        self._close_store()  # opened afresh for the next try
        if not self._failing:
            self._failing = True
            log.warning("history: cannot write %s (%s); dictation goes on, and the history is tried again with "
                        "the next final", self.path, exc)

    def _close_store(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            try:
                store.close()
            except sqlite3.Error as exc:
                log.debug("history: closing %s: %s", self.path, exc)
