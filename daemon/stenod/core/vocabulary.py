"""Correcting near-misses of the user's vocabulary: names and jargon the model spells wrong.

Every span of one to four words is compared with every term (of one to three words) by how it sounds
(Metaphone keys, which must start alike) and how it is spelled (edit distance over the letters, spaces
ignored); a span that is close on both counts becomes the term, keeping the span's leading and trailing
punctuation. Short terms and spans (under four letters) are only matched exactly (case and spacing aside),
and a span must be spelled mostly like the term, not only sound like it, so "locks" does not become "Lucas".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import jellyfish

MIN_FUZZY_LETTERS = 4
SOUND_THRESHOLD = 0.75  # 1 - (edit distance between Metaphone keys) / (longer key)
SPELLING_THRESHOLD = 0.7  # 1 - (edit distance between the letters) / (longer spelling)
_TOKEN = re.compile(r"\S+")
_EDGE = re.compile(r"^(?P<lead>[^\w]*)(?P<core>.*?)(?P<trail>[^\w]*)$", re.DOTALL)


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    return 1.0 - jellyfish.levenshtein_distance(a, b) / max(len(a), len(b))


@dataclass(frozen=True)
class _Term:
    text: str
    letters: str
    sound: str
    words: int


def _term(text: str) -> _Term:
    letters = _letters(text)
    return _Term(text, letters, jellyfish.metaphone(letters), len(text.split()))


class Vocabulary:
    """The user's terms and the correction of near-misses to them."""

    def __init__(self, terms: Sequence[str]) -> None:
        self.terms = [_term(t.strip()) for t in terms if _letters(t)]

    def __bool__(self) -> bool:
        return bool(self.terms)

    def prompt(self) -> str:
        """The terms as prompt text for the model (most recent last, nearest the speech)."""
        return ", ".join(t.text for t in self.terms)

    def correct(self, text: str) -> str:
        """``text`` with every span that nearly matches a term replaced by it."""
        if not self.terms:
            return text
        spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
        out: list[str] = []
        at = 0  # index into spans
        cursor = 0  # index into text
        while at < len(spans):
            match = self._best_at(text, spans, at)
            if match is None:
                at += 1
                continue
            length, term = match
            start, end = spans[at][0], spans[at + length - 1][1]
            edges = _EDGE.match(text[start:end])
            assert edges is not None
            out += [text[cursor:start], edges["lead"], term.text, edges["trail"]]
            cursor = end
            at += length
        out.append(text[cursor:])
        return "".join(out)

    def _best_at(self, text: str, spans: list[tuple[int, int]], at: int) -> tuple[int, _Term] | None:
        best: tuple[float, int, _Term] | None = None
        for length in range(1, 5):
            if at + length > len(spans):
                break
            said = text[spans[at][0]:spans[at + length - 1][1]]
            letters = _letters(said)
            if not letters:
                continue
            for term in self.terms:
                if abs(length - term.words) > 1:
                    continue
                score = self._score(letters, term, said)
                if score is not None and (best is None or score > best[0]):
                    best = (score, length, term)
        return None if best is None else (best[1], best[2])

    @staticmethod
    def _score(letters: str, term: _Term, said: str) -> float | None:
        core = _EDGE.match(said)
        if core is not None and core["core"] == term.text:
            return None  # already right
        if letters == term.letters:
            return 2.0
        if len(term.letters) < MIN_FUZZY_LETTERS or len(letters) < MIN_FUZZY_LETTERS:
            return None
        if not 0.75 <= len(letters) / len(term.letters) <= 4 / 3:
            return None  # a span much longer or shorter than the term holds other words
        key = jellyfish.metaphone(letters)
        if key[:1] != term.sound[:1]:
            return None  # a span that starts with another sound starts with another word
        sound = _similarity(key, term.sound)
        spelling = _similarity(letters, term.letters)
        if sound >= SOUND_THRESHOLD and spelling >= SPELLING_THRESHOLD:
            return sound + spelling
        return None
