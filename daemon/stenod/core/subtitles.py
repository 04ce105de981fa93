"""Subtitle cues from timed words, following subtitle conventions, sans I/O.

A cue holds at most ``max_lines`` lines of about ``max_chars`` characters and lasts ``min_s`` to ``max_s``
seconds. Cues end at a sentence's end when they can, else at a clause (a comma, a semicolon, a colon) once
they are well filled, else where the next word would not fit; a pause of ``gap_s`` always ends one. Lines
are split at the word boundary that balances them best, preferring a clause boundary.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

SENTENCE_END = (".", "?", "!", "…", '."', '?"', '!"')
CLAUSE_END = (",", ";", ":", "—", "–")


@dataclass(frozen=True)
class TimedWord:
    word: str
    start: float
    end: float
    speaker: str = ""  # with --speakers: "S1", "S2", …; a cue never holds two


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    words: tuple[TimedWord, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class CueRules:
    max_chars: int = 42
    max_lines: int = 2
    min_s: float = 1.0
    max_s: float = 7.0
    gap_s: float = 1.0


def _length(words: list[TimedWord]) -> int:
    return sum(len(w.word) for w in words) + max(0, len(words) - 1)


def split_lines(words: list[TimedWord], rules: CueRules) -> tuple[str, ...]:
    """The cue's text in lines: one when it fits, else the most balanced split (clause boundaries first)."""
    text = " ".join(w.word for w in words)
    if len(text) <= rules.max_chars or len(words) < 2:
        return (text,)
    best: tuple[float, int] | None = None
    for i in range(1, len(words)):
        first, second = _length(words[:i]), _length(words[i:])
        if first > rules.max_chars * 1.1 or second > rules.max_chars * 1.1 * (rules.max_lines - 1):
            continue
        score = abs(first - second) - (12 if words[i - 1].word.endswith(CLAUSE_END + SENTENCE_END) else 0)
        if best is None or score < best[0]:
            best = (score, i)
    cut = best[1] if best else len(words) // 2
    return (" ".join(w.word for w in words[:cut]), " ".join(w.word for w in words[cut:]))


def _ends_cue(cue: list[TimedWord], following: TimedWord | None, rules: CueRules) -> bool:
    """Whether the cue should end after its last word."""
    if following is None:
        return True
    capacity = rules.max_chars * rules.max_lines
    length = _length(cue)
    last = cue[-1]
    if following.start - last.end >= rules.gap_s or following.speaker != last.speaker:
        return True
    if length + 1 + len(following.word) > capacity or following.end - cue[0].start > rules.max_s:
        return True
    long_enough = last.end - cue[0].start >= rules.min_s
    if last.word.endswith(SENTENCE_END) and long_enough and length >= capacity * 0.3:
        return True
    return last.word.endswith(CLAUSE_END) and long_enough and length >= capacity * 0.6


def _rebalance(groups: list[list[TimedWord]], rules: CueRules) -> None:
    """A cue of a few characters after one cut for room (not at punctuation) takes words back from it."""
    for before, after in itertools.pairwise(groups):
        while (len(before) > 2 and _length(after) < rules.max_chars // 2
               and not before[-1].word.endswith(CLAUSE_END + SENTENCE_END)
               and after[0].start - before[-1].end < rules.gap_s and after[0].speaker == before[-1].speaker
               and after[-1].end - before[-1].start <= rules.max_s):
            after.insert(0, before.pop())


def build_cues(words: list[TimedWord], rules: CueRules | None = None) -> list[Cue]:
    rules = rules or CueRules()
    words = [w for w in words if w.word.strip()]
    groups: list[list[TimedWord]] = []
    current: list[TimedWord] = []
    for i, word in enumerate(words):
        current.append(word)
        if _ends_cue(current, words[i + 1] if i + 1 < len(words) else None, rules):
            groups.append(current)
            current = []
    _rebalance(groups, rules)
    cues = []
    for i, group in enumerate(groups):
        start, end = group[0].start, max(group[-1].end, group[0].start)
        following = groups[i + 1][0].start if i + 1 < len(groups) else None
        if end - start < rules.min_s:  # long enough to read, without running into the next cue
            end = start + rules.min_s if following is None else min(start + rules.min_s, max(end, following))
        cues.append(Cue(round(start, 3), round(end, 3), split_lines(group, rules), tuple(group)))
    return cues
