"""Spoken commands: an utterance that edits what was dictated instead of adding to it.

A command counts only as a whole utterance ("Scratch that.") or as the end of one, after a sentence
("Let's meet at six. Scratch that."), never inside a sentence: "I said scratch that to him" is prose.
The phrases are compared as words, ignoring case, punctuation and fillers ("Um, scratch that.").

- **retract** ("scratch that", "delete that", "undo", "undo that"): as a whole utterance it withdraws the
  previous final; at the end of an utterance it withdraws that utterance's own words.
- **new line** / **new paragraph**: a line break (or two), as a whole utterance or after a sentence.
- **literal**: "literal scratch that" types the words "Scratch that".

Pure: the pipeline asks :meth:`Commands.recognise` about each final's words and :meth:`Commands.pending`
how many trailing words must not be announced yet because they may still become a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from stenod.core.cleanup import FILLER

Kind = Literal["retract", "new_line", "new_paragraph", "literal"]
LINE_BREAKS: dict[str, str] = {"new_line": "\n", "new_paragraph": "\n\n"}
_SENTENCE_END = (".", "!", "?", "…")
_FILLER_WORD = re.compile(FILLER, re.IGNORECASE)


@dataclass(frozen=True)
class CommandsConfig:
    enabled: bool = True
    retract: tuple[str, ...] = ("scratch that", "delete that", "undo", "undo that")
    new_line: tuple[str, ...] = ("new line",)
    new_paragraph: tuple[str, ...] = ("new paragraph",)
    literal: str = "literal"  # said before a command, types its words instead ("" turns it off)


@dataclass(frozen=True)
class Command:
    kind: Kind
    phrase: str  # the configured phrase that was said (for literal: the phrase it protected)
    start: int  # index of the command's first word (with "literal") in the utterance's words
    whole: bool = True  # the whole utterance (fillers aside), not the end of one


def normalise(word: str) -> str:
    """A word as commands compare it: lower case, no punctuation around it."""
    return re.sub(r"^[^\w']+|[^\w']+$", "", word.strip().lower())


def _phrase_words(phrase: str) -> tuple[str, ...]:
    return tuple(normalise(w) for w in phrase.replace("-", " ").split() if normalise(w))


class Commands:
    def __init__(self, config: CommandsConfig = CommandsConfig()) -> None:
        self.config = config
        self.phrases: dict[tuple[str, ...], tuple[Kind, str]] = {}
        for kind in ("retract", "new_line", "new_paragraph"):
            for phrase in getattr(config, kind):
                words = _phrase_words(phrase)
                if words:
                    self.phrases[words] = (kind, phrase)
        self.literal = _phrase_words(config.literal)

    @staticmethod
    def _tails(words: list[str]) -> list[tuple[int, tuple[str, ...], bool]]:
        """Where a command may begin (the first word, and each after a sentence end; fillers and bare
        punctuation never count) and the words from there, as compared."""
        said = [normalise(w) for w in words]
        kept = [i for i, w in enumerate(said) if w and not _FILLER_WORD.fullmatch(w)]
        starts = [0] + [i + 1 for i, w in enumerate(words[:-1]) if w.strip().endswith(_SENTENCE_END)]
        tails = []
        for start in starts:
            first = next((i for i in kept if i >= start), None)
            if first is not None:
                tails.append((first, tuple(said[i] for i in kept if i >= start), start == 0))
        return tails

    def recognise(self, words: list[str]) -> Command | None:
        """The command the utterance's ``words`` end with (or consist of), if any."""
        if not self.config.enabled:
            return None
        for start, tail, whole in self._tails(words):
            if self.literal and tail[:len(self.literal)] == self.literal and tail[len(self.literal):] in self.phrases:
                return Command("literal", self.phrases[tail[len(self.literal):]][1], start, whole)
            if tail in self.phrases:
                kind, phrase = self.phrases[tail]
                return Command(kind, phrase, start, whole)
        return None

    def pending(self, words: list[str]) -> int:
        """How many trailing ``words`` may still turn out to be a command (as more words follow)."""
        if not self.config.enabled:
            return 0
        for start, tail, _ in self._tails(words):
            if self._could_become(tail):
                return len(words) - start
        return 0

    def _could_become(self, tail: tuple[str, ...]) -> bool:
        if not tail:
            return False
        if self.literal and tail[:len(self.literal)] == self.literal:
            rest = tail[len(self.literal):]
            return any(p[:len(rest)] == rest for p in self.phrases)
        if self.literal and self.literal[:len(tail)] == tail:
            return True
        return any(p[:len(tail)] == tail for p in self.phrases)
