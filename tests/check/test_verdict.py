"""The check's verdict: the level in words, the speech found, the text, and one next step for each failure."""

from __future__ import annotations

from stenod.check.verdict import Heard, judge
from stenod.core.level import Level

OK = Level(0.05, 0.6)  # -26 dBFS, peak -4 dBFS


def test_speech_heard_and_understood_passes() -> None:
    verdict = judge(Heard(5.0, OK, utterances=1, speech_s=2.4, text="Hello there."))
    assert verdict.ok
    assert verdict.lines == ("level:  ok (average -26 dBFS, peak -4 dBFS)", "speech: 1 utterance, 2.4 s of speech",
                             'heard:  "Hello there."')
    assert "stenod run" in verdict.next_step


def test_silence_says_unmute_or_pick_another_device() -> None:
    verdict = judge(Heard(5.0, Level()))
    assert not verdict.ok
    assert verdict.lines[0].startswith("level:  silent") and verdict.lines[1:] == ("speech: none detected",
                                                                                   "heard:  nothing")
    assert "unmute" in verdict.next_step and "--device" in verdict.next_step


def test_each_failure_has_its_own_next_step() -> None:
    assert "no audio" in judge(Heard(0.0, Level())).next_step
    assert "too quiet" in judge(Heard(5.0, Level(0.001, 0.005))).next_step
    assert "speak while the meter runs" in judge(Heard(5.0, OK)).next_step
    words = judge(Heard(5.0, OK, utterances=2, discarded=("too_short", "no_speech")))
    assert "no words" in words.next_step
    assert words.lines[1] == "speech: 2 utterances (2 with no text: no_speech, too_short)"


def test_clipping_is_said_even_when_it_passes() -> None:
    verdict = judge(Heard(5.0, Level(0.4, 1.0, 0.02), utterances=1, speech_s=3.0, text="Loud."))
    assert verdict.ok and verdict.lines[0].startswith("level:  clipping") and "2.0% of the samples" in verdict.lines[0]
    assert "lower its gain" in verdict.next_step
