"""Committed text as a consumer sees it: finals (and, live, the stable text) joined the way a person types them.

Only text that will never change is typed: a ``final``'s text, and with ``live`` a ``partial``'s
``stable_text``, which the daemon guarantees the final extends. Utterances are joined by a space, except
after a line break or before punctuation. A final that an LLM rewrote may not extend what partials typed:
then the utterance is completed from the final's ``rules_text``, which does.

A ``retract`` (a spoken "scratch that") is answered by :meth:`Joiner.retract`: how many characters to erase
to take back what was typed for the utterance it names (its separator included). Only the newest typed
utterance can be taken back that way; for an older one, later text is in the way.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from stenod.core.events import Event, Final, Hello, Partial, Retract, SpeechEnd

NO_SPACE_BEFORE = tuple(",.;:!?)]}…’”\n ")
KEPT = 100  # typed utterances a run of retracts can reach back to


@dataclass
class Typed:
    """What was typed for one utterance: its characters (with the separator) and what came before it."""

    utterance_id: int
    chars: int = 0
    last_char_before: str = ""
    typed_any_before: bool = False


class Joiner:
    def __init__(self, live: bool = False) -> None:
        self.live = live
        self.typed_any = False
        self.last_char = ""
        self.utterance: int | None = None
        self.typed = ""  # what was typed of the current utterance
        self.follows_rules = False  # whether it is rule-based text: partials' stable_text, or a final's rules_text
        self.stream = ""
        self.history: deque[Typed] = deque(maxlen=KEPT)  # the utterances typed, newest last

    def feed(self, event: Event) -> str:
        """The characters to type now for ``event`` (often none)."""
        if isinstance(event, Hello):
            if event.stream != self.stream:  # a restarted daemon counts its utterances from 1 again
                self.stream, self.utterance, self.typed, self.follows_rules = event.stream, None, "", False
                self.history.clear()
            return ""
        if isinstance(event, SpeechEnd):
            if event.utterance_id == self.utterance:
                self.utterance, self.typed, self.follows_rules = None, "", False
            return ""
        if isinstance(event, Final):
            target = event.text
        elif isinstance(event, Partial) and self.live:
            target = event.stable_text
        else:
            return ""
        if event.utterance_id != self.utterance:
            self.utterance, self.typed, self.follows_rules = event.utterance_id, "", False
        from_rules = False
        if isinstance(event, Final) and self.follows_rules and event.cleaned_by == "llm" and event.rules_text:
            from_rules = True
            target = event.rules_text  # what was typed is a prefix of it, not of the LLM's text
        done = len(self.typed)
        if not target.startswith(self.typed):
            if not isinstance(event, Final):
                return ""
            # cannot happen with a stenod daemon: type what follows the common prefix
            done = next((i for i, (a, b) in enumerate(zip(target, self.typed)) if a != b),
                        min(len(target), len(self.typed)))
        if len(target) <= done:
            return ""
        delta = target[done:]
        if not self.history or self.history[-1].utterance_id != event.utterance_id:
            self.history.append(Typed(event.utterance_id, 0, self.last_char, self.typed_any))
        if not self.typed:
            delta = self.separator(delta) + delta
        self.history[-1].chars += len(delta)
        self.typed = target
        self.follows_rules = from_rules or not isinstance(event, Final)
        self.typed_any = True
        self.last_char = delta[-1]
        return delta

    def retract(self, event: Retract) -> int | None:
        """Characters to erase for ``event``'s utterance: 0 if none were typed for it, None if it cannot be
        taken back (later text was typed after it, or it is too old). The utterance is forgotten either way."""
        if event.utterance_id == self.utterance:
            self.utterance, self.typed, self.follows_rules = None, "", False
        known = [t for t in self.history if t.utterance_id == event.utterance_id]
        if not known:
            return 0 if not self.history or event.utterance_id > self.history[-1].utterance_id else None
        newest = self.history[-1].utterance_id == event.utterance_id
        self.history.remove(known[0])
        if not newest:
            return None
        self.last_char, self.typed_any = known[0].last_char_before, known[0].typed_any_before
        return known[0].chars

    def separator(self, text: str) -> str:
        """What goes before ``text`` when it starts a new utterance: a space, or nothing."""
        if not self.typed_any or text.startswith(NO_SPACE_BEFORE) or self.last_char in ("\n", " ", "\t"):
            return ""
        return " "
