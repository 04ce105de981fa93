"""The user's vocabulary: near-misses of names and jargon corrected, everything else left alone."""

from __future__ import annotations

import pytest

from stenod.core.cleanup import CleanupConfig, clean
from stenod.core.vocabulary import Vocabulary

TERMS = ["Lucas", "PipeWire", "stenod", "Kubernetes", "Hyprland", "GNOME Shell"]


@pytest.mark.parametrize(("said", "meant"), [
    ("hi Lucus, how are you", "hi Lucas, how are you"),
    ("hi lucas", "hi Lucas"),
    ("I use pipe wire daily", "I use PipeWire daily"),
    ("steno d is running.", "stenod is running."),
    ("deploy it to Kubernetis now", "deploy it to Kubernetes now"),
    ("my desktop is Hyper land", "my desktop is Hyprland"),
    ("restart gnome shel please", "restart GNOME Shell please"),
    ("(Lukas)", "(Lucas)"),
])
def test_near_misses_become_the_term(said: str, meant: str) -> None:
    assert Vocabulary(TERMS).correct(said) == meant


@pytest.mark.parametrize("text", [
    "the locks are broken",
    "look at the cat",
    "we sell pipes and wires",
    "the stencil is here",
    "Lucas and PipeWire are spelled right",
    "",
])
def test_other_words_stay(text: str) -> None:
    assert Vocabulary(TERMS).correct(text) == text


def test_no_terms_changes_nothing() -> None:
    vocabulary = Vocabulary([])
    assert not vocabulary
    assert vocabulary.correct("hi Lucus") == "hi Lucus"
    assert not Vocabulary(["  ", "--"])


def test_short_terms_match_only_exactly() -> None:
    vocabulary = Vocabulary(["Ada", "GTK"])
    assert vocabulary.correct("I like ada and gtk") == "I like Ada and GTK"
    assert vocabulary.correct("I had a bad day") == "I had a bad day"


def test_prompt_lists_the_terms() -> None:
    assert Vocabulary(["Lucas", "PipeWire"]).prompt() == "Lucas, PipeWire"


def test_clean_up_applies_the_vocabulary_after_the_rules() -> None:
    config = CleanupConfig(spoken_punctuation=True, vocabulary=("Lucas",))
    assert clean("hi Lucus comma how are you question mark", config) == "Hi Lucas, how are you?"
    assert clean("hi Lucus", CleanupConfig()) == "Hi Lucus"
