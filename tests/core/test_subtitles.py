"""Subtitle cues from timed words: two lines of about 42 characters, 1-7 s, cut at sentences and clauses."""

from __future__ import annotations

import itertools

from stenod.core.subtitles import CueRules, TimedWord, build_cues, split_lines


def speak(text: str, start: float = 0.0, per_word: float = 0.35, pauses: dict[int, float] | None = None
          ) -> list[TimedWord]:
    words, at = [], start
    for i, word in enumerate(text.split()):
        at += (pauses or {}).get(i, 0.0)
        words.append(TimedWord(word, round(at, 3), round(at + per_word - 0.05, 3)))
        at += per_word
    return words


LONG = ("It was a bright cold day in April, and the clocks were striking thirteen. Winston Smith, his chin "
        "nuzzled into his breast in an effort to escape the vile wind, slipped quickly through the glass doors "
        "of Victory Mansions. Though not quickly enough to prevent a swirl of gritty dust from entering along "
        "with him.")


def test_cues_keep_to_the_conventions() -> None:
    cues = build_cues(speak(LONG))
    assert len(cues) >= 5
    assert min(len(c.text) for c in cues) >= 15  # no one-word cue left over after a cut for room
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2
        assert all(len(line) <= 46 for line in cue.lines), cue.lines
        assert 1.0 <= cue.end - cue.start <= 7.0
    assert [w.word for c in cues for w in c.words] == LONG.split()  # every word once, in order
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))
    ends = [c.words[-1].word for c in cues]
    assert sum(w.endswith((".", ",")) for w in ends) >= len(cues) - 2  # cut at sentences and clauses


def test_a_sentence_end_closes_a_cue_and_a_pause_always_does() -> None:
    cues = build_cues(speak("Hello there. How are you today my friend", pauses={2: 2.0}))
    assert [c.text for c in cues] == ["Hello there.", "How are you today my friend"]
    short = build_cues(speak("Yes.", per_word=0.3))
    assert short[0].end - short[0].start == 1.0  # stretched to be readable


def test_lines_are_balanced_and_prefer_a_clause_boundary() -> None:
    words = speak("when the clocks were striking thirteen, Winston Smith slipped through the doors")
    first, _second = split_lines(words, CueRules())
    assert first.endswith("thirteen,")
    assert split_lines(speak("short one"), CueRules()) == ("short one",)
