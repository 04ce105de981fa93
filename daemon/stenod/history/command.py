"""``stenod history``: list or search the dictation history, or clear it.

It reads the store directly (read-only, so it works while the daemon writes), newest last, one line per
final in local time; ``--json`` prints one object per line instead.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from datetime import datetime

from stenod.errors import StenodError
from stenod.history import when
from stenod.history.store import Entry, HistoryStore, history_path

DEFAULT_LIMIT = 50


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", nargs="*", metavar="QUERY",
                   help="only finals holding every one of these words (any case, any part of a word)")
    p.add_argument("--since", default=None, metavar="WHEN",
                   help="from WHEN on: 2026-11-30, 2026-11-30T14:00, today, yesterday, or a duration ago (90m, 2h, 3d)")
    p.add_argument("--limit", "-n", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"the newest N (default {DEFAULT_LIMIT}; 0: all)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--clear", action="store_true", help="delete the whole history")


def run(args: argparse.Namespace) -> int:
    path = history_path()
    if args.clear:
        if args.query or args.since:
            raise StenodError("--clear deletes the whole history: it takes no QUERY or --since")
        return _clear()
    if not 0 <= args.limit < 2**63:  # SQLite's integers
        raise StenodError(f"--limit {args.limit}: expected a whole number ≥ 0")
    since = when.since(args.since) if args.since else None
    store = HistoryStore.open_readonly(path)
    if store is None:
        print(f"no history yet: {path} does not exist (the daemon keeps its finals there while [history] "
              "enabled is true)", file=sys.stderr)
        return 0
    with store:
        entries = store.search(" ".join(args.query), since, args.limit)
    for entry in entries:
        print(json.dumps(entry.to_dict(), ensure_ascii=False) if args.json else line(entry))
    return 0


def line(entry: Entry) -> str:
    """``2026-11-30 14:03:12  text``: local time, "(retracted)", where it came from unless the microphone."""
    stamp = datetime.fromtimestamp(entry.time).strftime("%Y-%m-%d %H:%M:%S")
    marks = "".join(mark for mark, on in (("(retracted) ", entry.retracted),
                                          (f"[{entry.source}] ", entry.source != "microphone")) if on)
    return f"{stamp}  {marks}{' '.join(entry.text.splitlines())}"


def _clear() -> int:
    path = history_path()
    if not path.exists():
        print(f"no history yet: {path} does not exist, nothing to clear")
        return 0
    try:
        with HistoryStore.open(path) as store:
            gone = store.clear()
    except (sqlite3.Error, OSError) as exc:
        raise StenodError(f"{path}: cannot clear the history ({exc})") from None
    print(f"deleted {gone} final{'s' if gone != 1 else ''} from {path}")
    return 0
