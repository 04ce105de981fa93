"""Committed text as a consumer sees it: finals (and, live, the stable text) joined the way a person types them.

Only text that will never change is typed: a ``final``'s text, and with ``live`` a ``partial``'s
``stable_text``, which the daemon guarantees the final extends. Utterances are joined by a space, except
after a line break or before punctuation. A final that an LLM rewrote may not extend what partials typed:
then the utterance is completed from the final's ``rules_text``, which does.
"""

from __future__ import annotations

from stenod.core.events import Event, Final, Hello, Partial, SpeechEnd

NO_SPACE_BEFORE = tuple(",.;:!?)]}…’”\n ")


class Joiner:
    def __init__(self, live: bool = False) -> None:
        self.live = live
        self.typed_any = False
        self.last_char = ""
        self.utterance: int | None = None
        self.typed = ""  # what was typed of the current utterance
        self.follows_rules = False  # whether it is rule-based text: partials' stable_text, or a final's rules_text
        self.stream = ""

    def feed(self, event: Event) -> str:
        """The characters to type now for ``event`` (often none)."""
        if isinstance(event, Hello):
            if event.stream != self.stream:  # a restarted daemon counts its utterances from 1 again
                self.stream, self.utterance, self.typed, self.follows_rules = event.stream, None, "", False
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
        if not self.typed:
            delta = self.separator(delta) + delta
        self.typed = target
        self.follows_rules = from_rules or not isinstance(event, Final)
        self.typed_any = True
        self.last_char = delta[-1]
        return delta

    def separator(self, text: str) -> str:
        """What goes before ``text`` when it starts a new utterance: a space, or nothing."""
        if not self.typed_any or text.startswith(NO_SPACE_BEFORE) or self.last_char in ("\n", " ", "\t"):
            return ""
        return " "
