"""The history store: one SQLite file of finals, ``$XDG_STATE_HOME/stenod/history.sqlite3``.

The file is the user's alone (mode 0600, its folder 0700 when created here). It is in WAL mode and every
change is one transaction, so a process killed mid-write leaves the last committed state, never a broken
file. The daemon is its one writer; the command line opens it read-only, which works while the daemon writes
(``stenod history --clear`` writes too, waiting for the daemon's transaction to end). ``PRAGMA user_version``
holds the schema's version.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from stenod.errors import StenodError
from stenod.net.auth import private_dir
from stenod.paths import state_dir

SCHEMA_VERSION = 1
FILENAME = "history.sqlite3"
LIVE_SOURCES = ("microphone", "listen")  # what was dictated, as opposed to a transcribed recording
BUSY_TIMEOUT_S = 5.0

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS finals (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        stream TEXT NOT NULL,
        utterance_id INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        text TEXT NOT NULL,
        raw TEXT NOT NULL,
        model TEXT NOT NULL,
        language TEXT NOT NULL,
        source TEXT NOT NULL,
        retracted INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS finals_by_time ON finals (time)",
    "CREATE INDEX IF NOT EXISTS finals_by_utterance ON finals (stream, utterance_id)",
)


class HistoryError(StenodError):
    """The history file cannot be opened or read (corrupt, foreign, or from a newer stenod)."""


def history_path() -> Path:
    return state_dir() / FILENAME


@dataclass(frozen=True)
class Entry:
    """One final: when it was published (unix seconds), where it came from, and its text."""

    time: float
    stream: str
    utterance_id: int
    start_ms: int
    end_ms: int
    text: str
    raw: str
    model: str
    language: str
    source: str  # "microphone", "listen" or "transcribe"
    retracted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


COLUMNS = tuple(f.name for f in fields(Entry))


def _entry(row: tuple[Any, ...]) -> Entry:
    values = dict(zip(COLUMNS, row, strict=True))
    values["retracted"] = bool(values["retracted"])
    return Entry(**values)


def _create_private(path: Path) -> None:
    """The folder (0700, this user's) and an empty file (0600), so that SQLite never creates them with wider
    rights."""
    try:
        private_dir(path.parent)
    except StenodError as exc:
        raise HistoryError(str(exc)) from None
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)


class HistoryStore:
    """The finals in one SQLite file. Open it with :meth:`open` (to write) or :meth:`open_readonly`.

    Writing methods raise ``sqlite3.Error`` or ``OSError`` as they come (a full disk, a read-only folder): the
    caller decides what a failed write means. Reading methods of a read-only store raise :class:`HistoryError`.
    """

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        db.create_function("casefold", 1, _casefold, deterministic=True)

    @classmethod
    def open(cls, path: Path | None = None) -> HistoryStore:
        """The store at ``path`` (default :func:`history_path`), created with its schema if need be."""
        path = path or history_path()
        _create_private(path)
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            store = cls(db, path)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA secure_delete=ON")  # deleted text is overwritten, not left in free pages
            store._migrate()
        except sqlite3.DatabaseError as exc:
            db.close()
            if isinstance(exc, sqlite3.OperationalError):
                raise  # a full disk, a locked or read-only file: worth another try later
            raise HistoryError(f"{path}: not a readable history file ({exc})") from None
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def open_readonly(cls, path: Path | None = None) -> HistoryStore | None:
        """The store at ``path`` for reading, or None when there is no such file; HistoryError if unreadable."""
        path = path or history_path()
        if not path.exists():
            return None
        try:
            db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                                 isolation_level=None)
        except sqlite3.Error as exc:
            raise HistoryError(f"{path}: cannot open the history ({exc})") from None
        store = cls(db, path)
        try:
            store._check_version()
        except BaseException:
            db.close()
            raise
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_version(self) -> int:
        version = int(self._read("PRAGMA user_version")[0][0])
        if version > SCHEMA_VERSION:
            raise HistoryError(f"{self.path}: written by a newer stenod (history schema {version}, this one "
                               f"reads {SCHEMA_VERSION})")
        return version

    def _migrate(self) -> None:
        if self._check_version() == SCHEMA_VERSION:
            return
        with self._transaction():
            for statement in SCHEMA:
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction: committed whole, or rolled back (SQLite may already have rolled back)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    def _read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # created but never written: an empty history
            raise HistoryError(f"{self.path}: cannot read the history ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{self.path}: not a readable history file ({exc})") from None

    def add(self, *entries: Entry) -> None:
        """Keep ``entries``, all or none."""
        rows = [{**entry.to_dict(), "retracted": int(entry.retracted)} for entry in entries]
        with self._transaction():
            self._db.executemany(f"INSERT INTO finals ({', '.join(COLUMNS)}) VALUES "
                                 f"({', '.join(':' + c for c in COLUMNS)})", rows)

    def mark_retracted(self, stream: str, utterance_id: int) -> bool:
        """Mark the final of ``utterance_id`` in ``stream`` retracted; False when there is none."""
        with self._transaction():
            cursor = self._db.execute("UPDATE finals SET retracted = 1 WHERE stream = ? AND utterance_id = ?",
                                      (stream, utterance_id))
        return cursor.rowcount > 0

    def search(self, query: str = "", since: float | None = None, limit: int = 0) -> list[Entry]:
        """Finals whose text holds every word of ``query`` (any case), from ``since`` on; the newest ``limit``
        (0: all), oldest first."""
        clauses: list[str] = []
        params: list[Any] = []
        for word in _casefold(query).split():
            clauses.append("instr(casefold(text), ?) > 0")
            params.append(word)
        if since is not None:
            clauses.append("time >= ?")
            params.append(since)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {', '.join(COLUMNS)} FROM finals{where} ORDER BY time DESC, id DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [_entry(row) for row in reversed(self._read(sql, params))]

    def last(self, sources: tuple[str, ...] = LIVE_SOURCES) -> Entry | None:
        """The newest final that was not retracted and has text, from one of ``sources``."""
        marks = ", ".join("?" for _ in sources)
        rows = self._read(f"SELECT {', '.join(COLUMNS)} FROM finals WHERE retracted = 0 AND text != '' "
                          f"AND source IN ({marks}) ORDER BY time DESC, id DESC LIMIT 1", sources)
        return _entry(rows[0]) if rows else None

    def count(self) -> int:
        rows = self._read("SELECT count(*) FROM finals")
        return int(rows[0][0]) if rows else 0

    def prune(self, before: float) -> int:
        """Delete the finals published before ``before`` (unix seconds); how many there were."""
        with self._transaction():
            cursor = self._db.execute("DELETE FROM finals WHERE time < ?", (before,))
        return cursor.rowcount

    def clear(self) -> int:
        """Delete every final, and the copies the write-ahead log still holds; how many there were."""
        with self._transaction():
            cursor = self._db.execute("DELETE FROM finals")
        with contextlib.suppress(sqlite3.Error):  # a reader in the way: the log is emptied at a later checkpoint
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return cursor.rowcount


def _casefold(text: str | None) -> str:
    return (text or "").casefold()
