"""``stenod transcribe --history``: a recording's passages kept in the dictation history (source "transcribe")."""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from stenod.errors import StenodError
from stenod.history.store import Entry, HistoryStore, history_path

if TYPE_CHECKING:
    from stenod.recordings.transcriber import Transcript


def open_for_transcripts(config_path: Path | None) -> HistoryStore:
    """The store, opened before the model loads; refused when the configuration turns the history off."""
    from stenod.config import load

    if not load(config_path).history.enabled:
        raise StenodError("--history: the history is off ([history] enabled = false in the configuration)")
    try:
        return HistoryStore.open()
    except (sqlite3.Error, OSError) as exc:
        raise StenodError(f"{history_path()}: cannot open the history ({exc})") from None


def keep(store: HistoryStore, transcript: Transcript, model: str, now: Callable[[], float] = time.time) -> str:
    """Add every passage of ``transcript`` (one stream, one transaction); "" or why it could not be kept."""
    stream, stamp = secrets.token_hex(6), now()
    entries = [Entry(time=stamp, stream=stream, utterance_id=i, start_ms=round(passage.start * 1000),
                     end_ms=round(passage.end * 1000), text=passage.text, raw=passage.raw, model=model,
                     language=transcript.language, source="transcribe")
               for i, passage in enumerate(transcript.passages, start=1)]
    try:
        store.add(*entries)
    except (sqlite3.Error, OSError) as exc:
        return f"{store.path}: the passages were not kept in the history ({exc})"
    return ""
