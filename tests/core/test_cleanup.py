"""Clean-up steps, one at a time, then the whole pipeline: conservative, ordered, and off when disabled."""

from __future__ import annotations

import pytest

from stenod.core.cleanup import (
    CleanupConfig,
    apply_replacements,
    capitalise,
    clean,
    fix_spacing,
    remove_fillers,
    remove_stutters,
    spoken_punctuation,
    steps,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("Um, I think we should go.", "I think we should go."),
    ("I think, uh, that we should go.", "I think, that we should go."),
    ("We should uh go now", "We should go now"),
    ("Yes. Um. Okay", "Yes. Okay"),
    ("Hmm, erm, right", "right"),
    ("The umbrella and the hummus", "The umbrella and the hummus"),  # fillers only as whole words
    ("Ahead of the era", "Ahead of the era"),
])
def test_fillers(raw: str, expected: str) -> None:
    assert fix_spacing(remove_fillers(raw)) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("I I think so", "I think so"),
    ("the the the dog", "the dog"),
    ("I, I think", "I think"),
    ("th- the cat", "the cat"),
    ("He had had enough", "He had had enough"),
    ("I know that that is true", "I know that that is true"),
    ("five five", "five five"),
    ("call 1 1 2", "call 1 1 2"),
    ("bye bye", "bye bye"),
])
def test_stutters(raw: str, expected: str) -> None:
    assert remove_stutters(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("hello comma world period", "hello, world."),
    ("Hello, comma, world. Period.", "Hello, world."),
    ("is it question mark", "is it?"),
    ("wow exclamation mark", "wow!"),
    ("items colon eggs semicolon milk", "items: eggs; milk"),
    ("first line new line second line", "first line\nsecond line"),
    ("end. New paragraph. Start", "end.\n\nStart"),
    ("type a literal comma here", "type a comma here"),
    ("a comma is a mark", "a comma is a mark"),  # after an article it is a noun
    ("for a period of time", "for a period of time"),
    ("the commander", "the commander"),  # whole words only
])
def test_spoken_punctuation(raw: str, expected: str) -> None:
    assert fix_spacing(spoken_punctuation(raw)) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("The deadline is tomorrow, Kama, so please hurry period", "The deadline is tomorrow, so please hurry."),
    ("Dear Anna Comer thanks for the reply period.", "Dear Anna, thanks for the reply."),
    ("We shipped it, semi-colon, the customers are happy.", "We shipped it; the customers are happy."),
    ("is it ready question-mark", "is it ready?"),
])
def test_the_models_misspellings_of_commands_count(raw: str, expected: str) -> None:
    assert fix_spacing(spoken_punctuation(raw)) == expected


def test_aliases_can_be_left_out() -> None:
    assert spoken_punctuation("tomorrow Kama so", aliases=False) == "tomorrow Kama so"


@pytest.mark.parametrize("text", [
    "We need it for the period of time you mentioned.",
    "Send a comma-separated list.",
    "We launched a new line of products.",
    "Put a comma after the name.",
    "The Kama Sutra is old.",
])
def test_literal_uses_stay_words(text: str) -> None:
    assert clean(text, CleanupConfig(spoken_punctuation=True)) == text


def test_replacements_are_whole_words_case_insensitive_longest_first() -> None:
    table = {"steno d": "stenod", "steno": "Steno™", "gnu": "GNU"}
    assert apply_replacements("Steno D runs on gnu and gnus", table) == "stenod runs on GNU and gnus"
    assert apply_replacements("steno", table) == "Steno™"


@pytest.mark.parametrize(("raw", "expected"), [
    ("hello. how are you? fine! ok", "Hello. How are you? Fine! Ok"),
    ("Mr. smith went to dr. jones", "Mr. smith went to dr. jones"),
    ("first\nsecond", "First\nSecond"),
    ("3.5 percent", "3.5 percent"),
])
def test_capitalise(raw: str, expected: str) -> None:
    assert capitalise(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("hello , world .", "hello, world."),
    ("a  b", "a b"),
    ("yes , , no", "yes, no"),
    ("done , .", "done."),
    ("end. . next", "end. next"),
    ("wait...", "wait..."),
    ("line \n next", "line\nnext"),
    ("10:30 and 3.14", "10:30 and 3.14"),
])
def test_spacing(raw: str, expected: str) -> None:
    assert fix_spacing(raw) == expected


def test_whisper_output_without_disfluencies_is_left_alone() -> None:
    for text in ("And so, my fellow Americans, ask not what your country can do for you.",
                 "Mr. Quilter is the apostle of the middle classes, and we are glad to welcome his gospel.",
                 "It's 10:30 on the 3rd of May; bring $5.", "Is it true? Yes!"):
        assert clean(text, CleanupConfig(spoken_punctuation=True)) == text


def test_pipeline_order_and_switches() -> None:
    raw = " um, i i think comma it works"
    assert clean(raw) == "I think comma it works"
    assert clean(raw, CleanupConfig(spoken_punctuation=True)) == "I think, it works"
    assert clean(raw, CleanupConfig(fillers=False, stutters=False, capitalise=False)) == "um, i i think comma it works"
    assert [name for name, _ in steps(CleanupConfig(spoken_punctuation=True, replacements={"a": "b"}))] == [
        "fillers", "stutters", "spoken_punctuation", "replacements", "spacing", "capitalise"]


def test_numbers_are_off_by_default_and_on_with_the_switch() -> None:
    raw = "um, we need twenty five people at three thirty pm"
    assert clean(raw) == "We need twenty five people at three thirty pm"
    assert clean(raw, CleanupConfig(numbers=True)) == "We need 25 people at 3:30 p.m."
    assert "numbers" not in [name for name, _ in steps(CleanupConfig())]


def test_numbers_come_after_the_spoken_commands_and_before_the_users_words() -> None:
    config = CleanupConfig(spoken_punctuation=True, numbers=True, replacements={"25": "twenty-five"})
    assert [name for name, _ in steps(config)] == [
        "fillers", "stutters", "spoken_punctuation", "numbers", "replacements", "spacing", "capitalise"]
    assert clean("uh twenty five comma three point five percent period", config) == "Twenty-five, 3.5%."
    assert clean("twenty five new line ten percent", CleanupConfig(spoken_punctuation=True, numbers=True)) == \
        "25\n10%"


def test_numbers_as_stutters_and_times_as_abbreviations() -> None:
    assert clean("in twenty twenty six", CleanupConfig(numbers=True)) == "In 2026"
    assert clean("in nineteen nineteen") == "In nineteen nineteen"  # a doubled number is not a stutter
    assert clean("at seven pm tomorrow", CleanupConfig(numbers=True)) == "At 7 p.m. tomorrow"
    assert clean("at 7 p.m. tomorrow") == "At 7 p.m. tomorrow"
