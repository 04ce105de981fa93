"""The typing client's loop: follow the daemon's events, type what the joiner says, take back what is retracted.

Each utterance's text goes to the window that had the focus when its first characters were typed. A
``retract`` (a spoken "scratch that") erases exactly the characters typed for its utterance, with BackSpace,
and only in that window: when another window has the focus by then, nothing is erased and the client says so.
The profile of that window (``[profiles.*]``) shapes the utterance's final; where a profile cleans the words
differently from the daemon, only finals are typed there, even with ``--live``.
"""

from __future__ import annotations

import asyncio
import sys
from collections import OrderedDict
from collections.abc import Callable

from stenod.core.committed import KEPT, Joiner
from stenod.core.events import Event, Final, Hello, Partial, Retract
from stenod_clients.connection import Subscription
from stenod_clients.typing.backends import Backend, TypingError
from stenod_clients.typing.focus import Focused, focused_app, same_window
from stenod_clients.typing.shaping import Shaping


def _say(message: str) -> None:
    print(f"stenod type: {message}", file=sys.stderr, flush=True)


class Typist:
    """Types into the focused window and remembers, per utterance, how much went where."""

    def __init__(self, backend: Backend, live: bool = False, focus: Callable[[], Focused] = focused_app,
                 shaping: Shaping | None = None) -> None:
        self.backend = backend
        self.joiner = Joiner(live=live)
        self.focus = focus
        self.shaping = shaping or Shaping()
        self.windows: OrderedDict[int, Focused] = OrderedDict()  # utterance → the window its text went to

    async def feed(self, event: Event) -> None:
        """Type (or take back) what ``event`` asks for."""
        if isinstance(event, Retract):
            await self.take_back(event)
            return
        if isinstance(event, Hello) and event.stream != self.joiner.stream:
            self.windows.clear()  # a restarted daemon counts its utterances from 1 again
        if isinstance(event, Final) or (isinstance(event, Partial) and self.joiner.live and event.stable_text):
            profile = self.shaping.profile((await self.window(event.utterance_id)).name)
            if isinstance(event, Partial) and self.shaping.reshapes(profile):
                return  # this window's profile cleans the words itself: only the final can be typed
            if isinstance(event, Final):
                event = self.shaping.final(event, profile)
        text = self.joiner.feed(event)
        if text:
            await self.type(text)

    async def window(self, utterance: int) -> Focused:
        """The window the utterance's text goes to: the focused one when its first text came."""
        if utterance not in self.windows:
            self.windows[utterance] = await asyncio.to_thread(self.focus)
            while len(self.windows) > KEPT:
                self.windows.popitem(last=False)
        return self.windows[utterance]

    async def type(self, text: str) -> None:
        try:
            await asyncio.to_thread(self.backend.type, text)
        except TypingError as exc:  # the words are not lost: `stenod history` has every final
            self.joiner.history.clear()  # what reached the window is unknown: nothing can be erased by count
            _say(f"could not type {len(text)} characters ({exc}); `stenod paste-last` types the last final again")

    async def take_back(self, event: Retract) -> None:
        count = self.joiner.retract(event)
        where = self.windows.pop(event.utterance_id, None)
        if count is None:
            _say(f'"{event.command}": cannot take back utterance {event.utterance_id}, later text was typed after it')
            return
        if not count:
            return
        now = await asyncio.to_thread(self.focus)
        if where is not None and not same_window(where, now):
            self.joiner.history.clear()  # the text stays: what was typed before it can no longer be reached
            _say(f'"{event.command}": not erasing {count} characters, they were typed into '
                 f'{where.name or "another window"} and {now.name or "another window"} has the focus now')
            return
        try:
            await asyncio.to_thread(self.backend.erase, count)
        except TypingError as exc:
            self.joiner.history.clear()
            _say(f'"{event.command}": could not erase {count} characters ({exc})')


async def run(backend: Backend, live: bool = False, url: str | None = None, shaping: Shaping | None = None) -> None:
    """Type dictation into the focused window until cancelled."""
    typist = Typist(backend, live, shaping=shaping)
    _say(f"typing with {backend.name}" + (" (live: stable words as they are committed)" if live else ""))
    async for event in Subscription(url, on_status=_say):
        await typist.feed(event)
