"""Hallucination guards."""

from __future__ import annotations

import pytest

from stenod.core.guards import GuardConfig, normalise_phrase, rejection, repeated_ngram, repeated_tail

CONFIDENT = {"no_speech_prob": 0.01, "avg_logprob": -0.2, "compression_ratio": 1.2}


def _reject(text: str, seconds: float = 2.0, **scores: float) -> str:
    merged = {**CONFIDENT, **scores}
    return rejection(text, text.split(), seconds=seconds, **merged)  # type: ignore[arg-type]


def test_confident_speech_stands() -> None:
    assert _reject("Ask not what your country can do for you.") == ""


def test_empty_text() -> None:
    assert _reject("") == "empty"
    assert _reject(" ... ") == "empty"


def test_no_speech_rule_needs_both_scores() -> None:
    assert _reject("Hello there.", no_speech_prob=0.8, avg_logprob=-1.2) == "no_speech"
    assert _reject("Hello there.", no_speech_prob=0.8, avg_logprob=-0.3) == ""
    assert _reject("Hello there.", no_speech_prob=0.2, avg_logprob=-1.2) == ""


def test_repetition() -> None:
    assert _reject("the the the the the the the the", compression_ratio=3.1) == "repetition"
    assert _reject("she fell she fell she fell she fell down") == "repetition"
    assert repeated_ngram(["one", "two", "one", "two", "one", "two", "one", "two"], 4)
    assert not repeated_ngram(["go", "go", "go"], 4)


@pytest.mark.parametrize("phrase", ["Thank you.", "you", "Thanks for watching!", "Bye."])
def test_known_phrases_only_when_short_and_unsure(phrase: str) -> None:
    assert _reject(phrase, seconds=1.5, avg_logprob=-0.9) == "hallucination"
    assert _reject(phrase, seconds=1.5, avg_logprob=-0.2, no_speech_prob=0.5) == "hallucination"
    assert _reject(phrase, seconds=1.5) == ""  # said clearly: a real "thank you"
    assert _reject(phrase, seconds=6.0, avg_logprob=-0.9) == ""  # a long utterance is not this phrase alone


def test_normalise_phrase() -> None:
    assert normalise_phrase("  Thanks   for WATCHING!! ") == "thanks for watching"


def test_thresholds_are_configurable() -> None:
    strict = GuardConfig(compression_ratio_threshold=1.0)
    assert rejection("hello", ["hello"], no_speech_prob=0, avg_logprob=0, compression_ratio=1.1, seconds=1,
                     config=strict) == "repetition"


def test_a_sentence_said_twice_in_a_row_is_trimmed() -> None:
    sentence = ["what", "your", "country", "can", "do", "for", "you?"]
    words = [*sentence, *sentence]
    assert repeated_tail(words) == 7
    assert repeated_tail(["I", "think", "we", "had", "had", "enough"]) == 6  # short doubles are people's
    assert repeated_tail(["one", "two", "three", "four"]) == 4
    assert repeated_tail(["go", "on", "go", "on", "go", "on"]) == 6  # two-word phrases are left alone
