"""What an input method shows for the daemon's events, pure: preedit for what is being said, commits for finals.

A partial's words (committed and not yet) are the **preedit**: shown underlined where the person types,
replaced in place as the hypothesis changes, never part of the text. A final is **committed**: joined to
what was committed before as ``stenod type`` joins it (a space between utterances, none before punctuation
or after a line break). What reaches the text is taken back only when the person says so: a ``retract``
(a spoken "scratch that") erases the characters committed for its utterance.
"""

from __future__ import annotations

from dataclasses import dataclass

from stenod.core.committed import Joiner
from stenod.core.events import Event, Final, Hello, Partial, Retract, SpeechEnd, Status


@dataclass(frozen=True)
class Show:
    """Replace the preedit with ``text`` ("" hides it)."""

    text: str


@dataclass(frozen=True)
class Commit:
    text: str
    utterance: int = 0


@dataclass(frozen=True)
class Erase:
    """Take back ``count`` characters committed for ``utterance``; None: they cannot be (text came after)."""

    utterance: int
    count: int | None
    command: str = ""


@dataclass(frozen=True)
class State:
    """The daemon's state (``listening``, ``paused``, ``no_microphone``…), for the engine's property."""

    state: str


Action = Show | Commit | Erase | State


class Dictation:
    """The input method's view of the event stream. ``preedit=False`` commits finals only."""

    def __init__(self, preedit: bool = True) -> None:
        self.preedit = preedit
        self.joiner = Joiner()
        self.shown = ""

    def feed(self, event: Event) -> list[Action]:
        if isinstance(event, Hello):
            self.joiner.feed(event)
            return [*self._hide(), State(event.state)]
        if isinstance(event, Status):
            return [State(event.state)]
        if isinstance(event, Partial):
            if not self.preedit:
                return []
            words = " ".join(part for part in (event.stable, event.unstable) if part)
            text = self.joiner.separator(words) + words if words else ""
            if text == self.shown:
                return []
            self.shown = text
            return [Show(text)]
        if isinstance(event, Final):
            delta = self.joiner.feed(event)
            return [*self._hide(), *([Commit(delta, event.utterance_id)] if delta else [])]
        if isinstance(event, Retract):
            count = self.joiner.retract(event)
            return [*self._hide(), *([Erase(event.utterance_id, count, event.command)] if count != 0 else [])]
        if isinstance(event, SpeechEnd):
            self.joiner.feed(event)
            return self._hide()  # a discarded utterance leaves nothing behind
        return []

    def _hide(self) -> list[Action]:
        if not self.shown:
            return []
        self.shown = ""
        return [Show("")]
