"""The typing client's loop: follow the daemon's events and type what the joiner says."""

from __future__ import annotations

import asyncio
import sys

from stenod.core.committed import Joiner
from stenod_clients.connection import Subscription
from stenod_clients.typing.backends import Backend, TypingError


def _say(message: str) -> None:
    print(f"stenod type: {message}", file=sys.stderr, flush=True)


async def run(backend: Backend, live: bool = False, url: str | None = None) -> None:
    """Type dictation into the focused window until cancelled."""
    joiner = Joiner(live=live)
    _say(f"typing with {backend.name}" + (" (live: stable words as they are committed)" if live else ""))
    async for event in Subscription(url, on_status=_say):
        text = joiner.feed(event)
        if not text:
            continue
        try:
            await asyncio.to_thread(backend.type, text)
        except TypingError as exc:  # the words are not lost: they go to the journal
            _say(f"could not type {text!r}: {exc}")
