"""Clean-up of final text: an ordered pipeline of small, conservative steps.

Each step is a function ``str -> str``. When a step is unsure it leaves the words alone: it is better
to type a filler than to drop a word the speaker meant.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from stenod.core.numbers import to_digits
from stenod.core.vocabulary import Vocabulary

FILLER = r"(?:u+m+|u+h+|e+rm+|er|a+h+|h+m+)"
_FILLER = re.compile(rf"(?P<pre>\s*[,;]?)\s*(?<![\w'-]){FILLER}(?![\w'-])(?P<post>[,;.!?…]*)", re.IGNORECASE)

# Words whose doubling is ordinary English ("had had", "that that") or a number ("five five").
REAL_DOUBLES = frozenset((
    "had", "that", "is", "do", "no", "so", "very", "really", "bye", "yeah", "yes", "ha", "haha", "knock",
    "well", "now", "go", "chop", "tut", "boo", "blah", "hot", "ta", "hip", "ho", "la", "night", "far", "more",
    "long", "round", "over", "again", "many", "much", "too", "by", "once", "bla", "ding", "dong", "tick",
    "tock", "cha", "pretty", "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight",
    "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred",
    "thousand", "million", "billion",
))
_WORD_REPEAT = re.compile(r"\b(?P<word>[A-Za-z']+)(?:[,-]?\s+(?P=word)\b)+", re.IGNORECASE)
_FRAGMENT = re.compile(r"\b(?P<frag>[A-Za-z]{1,4})-\s+(?P<word>(?P=frag)[A-Za-z']*)", re.IGNORECASE)

SPOKEN_PUNCTUATION: dict[str, str] = {
    "new paragraph": "\n\n", "new line": "\n", "newline": "\n",
    "question mark": "?", "exclamation mark": "!", "exclamation point": "!",
    "full stop": ".", "period": ".", "comma": ",", "semicolon": ";", "semi colon": ";", "colon": ":",
}
# How Whisper tiny.en writes the commands when it mishears them, as measured by ``stenod bench punctuation``
# (synthetic voices): "comer" and "Kama" for "comma", "explanation mark"; and the hyphenated forms it uses
# for compounds. Misspellings that are ordinary words ("comment", "common", "karma", "commerce", "Colin",
# "the area") are heard too, and stay words.
SPOKEN_ALIASES: dict[str, str] = {
    "kama": "comma", "comer": "comma", "explanation mark": "exclamation mark", "semi-colon": "semicolon",
    "question-mark": "question mark", "new-line": "new line", "full-stop": "full stop",
    "exclamation-mark": "exclamation mark",
}
# The prompt that keeps the model writing the commands as words when spoken punctuation is on. Measured
# with the same bench (16 dictated sentences, 4 voices): errors over words and marks 41.5% without it,
# 27.4% with it, 25.4% with the aliases too.
SPOKEN_PUNCTUATION_PROMPT = "Hi comma new line period question mark"
# A command word after one of these is a noun ("a comma", "the period"), not a command.
_NOUN_CONTEXT = frozenset((
    "a", "an", "the", "this", "that", "these", "those", "each", "every", "per", "one", "some", "any", "no",
    "its", "his", "her", "their", "our", "my", "your", "of",
))


def _command_pattern(words: list[str]) -> re.Pattern[str]:
    alternatives = sorted(words, key=len, reverse=True)
    return re.compile(
        r"(?P<lead>[,.;:!?]*)(?P<space>\s*)(?<![\w'-])(?P<literal>literal\s+)?"
        r"(?P<cmd>" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in alternatives) + r")"
        r"(?![\w'-])(?P<trail>[,.;:!?]*)", re.IGNORECASE)


_COMMAND = _command_pattern(list(SPOKEN_PUNCTUATION))
_COMMAND_OR_ALIAS = _command_pattern([*SPOKEN_PUNCTUATION, *SPOKEN_ALIASES])

ABBREVIATIONS = frozenset(("mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "prof", "approx",
                           "a.m", "p.m"))
_SENTENCE_START = re.compile(r"(^|[.!?]\s+|\n\s*)([a-z])")


def remove_fillers(text: str) -> str:
    """Drop um, uh, er, erm, ah, hmm (and their commas); a sentence end after a filler stays."""
    def replace(m: re.Match[str]) -> str:
        end = next((c for c in m["post"] if c in ".!?…"), "")
        if m.string[:m.start()].rstrip().endswith((".", "!", "?", "…")):
            end = ""  # the sentence had already ended
        return (end or m["pre"].strip()) + " "
    return _FILLER.sub(replace, text)


def remove_stutters(text: str) -> str:
    """"I I think" → "I think", "th- the" → "the"; real doubles ("had had") and numbers stay."""
    def collapse(m: re.Match[str]) -> str:
        return m.group(0) if m["word"].lower() in REAL_DOUBLES else m["word"]
    return _WORD_REPEAT.sub(collapse, _FRAGMENT.sub(lambda m: m["word"], text))


def spoken_punctuation(text: str, aliases: bool = True) -> str:
    """Standalone commands ("comma", "new line", …) become the mark; "literal comma" types the word.

    With ``aliases``, the model's measured misspellings of a command ("Kama") count as the command.
    """
    def replace(m: re.Match[str]) -> str:
        before = text[:m.start()].split()
        previous = re.sub(r"\W", "", before[-1].lower()) if before else ""
        following = text[m.end():].split()
        if m["literal"]:
            return m["lead"] + m["space"] + m["cmd"] + m["trail"]
        if previous in _NOUN_CONTEXT or (following and following[0].lower() == "of"):
            return m.group(0)
        said = " ".join(m["cmd"].lower().split())
        mark = SPOKEN_PUNCTUATION[SPOKEN_ALIASES.get(said, said)]
        if mark.startswith("\n"):  # a line break keeps the sentence end before it
            return m["lead"] + mark
        return mark + " "
    return (_COMMAND_OR_ALIAS if aliases else _COMMAND).sub(replace, text)


def apply_replacements(text: str, replacements: Mapping[str, str]) -> str:
    """User replacements: whole words or phrases, case-insensitive, longest first."""
    for source in sorted(replacements, key=len, reverse=True):
        pattern = re.compile(r"(?<![\w'])" + re.escape(source) + r"(?![\w'])", re.IGNORECASE)
        text = pattern.sub(_constant(replacements[source]), text)
    return text


def _constant(value: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement that inserts ``value`` as it is (no backslash or group references)."""
    return lambda _match: value


def fix_spacing(text: str) -> str:
    """No space before punctuation, one space between words, none around line breaks, no doubled marks."""
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"([.!?])(?:\s+\.(?!\.))+", r"\1", text)  # ". ." → "." (but "..." stays)
    text = re.sub(r" ?([,.;:!?…])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)  # ", ," → ","
    text = re.sub(r"[,;:]\s*([.!?])", r"\1", text)  # ", ." → "."
    text = re.sub(r"([,;:!?])(?=[A-Za-z])", r"\1 ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"^[,;:.]\s*", "", text.strip(" "))
    text = re.sub(r"\n[,;:.] ?", "\n", text)
    return text.strip(" ")


def capitalise(text: str) -> str:
    """Upper-case the first letter of the text, of each sentence and of each line."""
    def upper(m: re.Match[str]) -> str:
        before = text[:m.start(2)].rstrip()
        last = before.split()[-1].lower().rstrip(".") if before.split() else ""
        if before.endswith(".") and last in ABBREVIATIONS:
            return m.group(0)
        return m.group(1) + m.group(2).upper()
    return _SENTENCE_START.sub(upper, text)


@dataclass(frozen=True)
class CleanupConfig:
    fillers: bool = True
    stutters: bool = True
    spoken_punctuation: bool = False
    numbers: bool = False  # spoken numbers as digits: "twenty five" → 25, "ten percent" → 10% (core/numbers)
    replacements: Mapping[str, str] = field(default_factory=dict)
    vocabulary: tuple[str, ...] = ()  # names and jargon whose near-misses are corrected
    capitalise: bool = True


Step = Callable[[str], str]


def steps(config: CleanupConfig) -> list[tuple[str, Step]]:
    """The enabled steps, in order."""
    chosen: list[tuple[str, Step]] = []
    if config.fillers:
        chosen.append(("fillers", remove_fillers))
    if config.stutters:
        chosen.append(("stutters", remove_stutters))
    if config.spoken_punctuation:
        chosen.append(("spoken_punctuation", spoken_punctuation))
    if config.numbers:  # after the commands ("five comma" → "5,"), before the user's own words
        chosen.append(("numbers", to_digits))
    if config.replacements:
        chosen.append(("replacements", lambda t: apply_replacements(t, config.replacements)))
    if config.vocabulary:
        chosen.append(("vocabulary", Vocabulary(config.vocabulary).correct))
    chosen.append(("spacing", fix_spacing))
    if config.capitalise:
        chosen.append(("capitalise", capitalise))
    return chosen


def clean(text: str, config: CleanupConfig = CleanupConfig()) -> str:
    for _, step in steps(config):
        text = step(text)
    return text
