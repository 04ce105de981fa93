"""Spoken numbers to digits, for dictation: "twenty five" → 25, "three point five" → 3.5, "ten percent" →
10%, "three thirty pm" → 3:30 p.m., "March third" → March 3, "nineteen eighty four" → 1984.

text2num's ``find_numbers`` finds the numbers in a list of tokens; the rules here decide which of them become
digits and how they are written. Like the rest of the clean-up it is conservative: isolated numbers up to
nine stay words ("one of the best", "I have three cats"), ordinals stay words except in dates ("second
place"), plurals and idioms stay ("hundreds of people", "one in a million"), and the digits Whisper wrote are
never touched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from text_to_num import find_numbers

SPELLED_BELOW = 10.0  # an isolated whole number below this stays a word (the style guides' "one to nine")
MONTHS = frozenset(("January", "February", "March", "April", "May", "June", "July", "August", "September",
                    "October", "November", "December"))
LARGE = {"million": 10**6, "billion": 10**9, "trillion": 10**12}  # "5 million", the way Whisper writes them
MULTIPLIERS = frozenset(("hundred", "thousand", *LARGE))
PLURALS = frozenset(("hundreds", "thousands", "millions", "billions", "trillions", "dozens", "tens"))
DECADES = {"twenties": "20s", "thirties": "30s", "forties": "40s", "fifties": "50s", "sixties": "60s",
           "seventies": "70s", "eighties": "80s", "nineties": "90s", "hundreds": "00s"}
# Before "three thirty" these make it a time without "a.m." or "p.m." after it.
TIME_CONTEXT = frozenset(("at", "by", "until", "till", "til", "before", "after", "around", "from", "since",
                          "between", "to"))
MERIDIEM = {"am": "a.m.", "a.m.": "a.m.", "pm": "p.m.", "p.m.": "p.m."}
ZERO = frozenset(("oh", "o"))  # "nine oh five", "nineteen oh five"
NEGATIVE = frozenset(("minus", "negative"))
_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|[\w'’]+(?:-[\w'’]+)*|\n|\S")  # a line break parts numbers too
_CLAUSE_END = re.compile(r"[,;:.!?…)\]}\"”]$")


@dataclass(frozen=True)
class _Token:
    """A word or a mark of the text, with its place; text2num's ``Token`` protocol."""

    word: str
    start: int
    end: int
    protected: bool = False  # never part of a number: Whisper's digits, "o", "hundreds", "million" after "5"

    def text(self) -> str:
        """A mark, a line break or digits as a full stop: text2num would group "one, two" (1, 2), join
        numbers across lines, and group "five 12 five" (5 12 5)."""
        mark = len(self.word) == 1 and not self.word.isalnum()
        return "." if mark or any(c.isdigit() for c in self.word) else self.word

    def nt_separated(self, previous: Any) -> bool:
        return False

    def not_a_number_part(self) -> bool:
        return self.protected


@dataclass(frozen=True)
class _Number:
    """One number text2num found: tokens ``start`` to ``end`` (exclusive)."""

    start: int
    end: int
    value: float
    digits: str  # text2num's writing: "25", "3.5", "007", "3rd"
    ordinal: bool
    plain: bool  # a digit even out of context (not an isolated number up to nine)

    def whole(self, low: int, high: int) -> bool:
        """A cardinal whole number from ``low`` to ``high``."""
        return not self.ordinal and "." not in self.digits and low <= self.value <= high


@dataclass(frozen=True)
class _Edit:
    start: int  # tokens start to end (exclusive) become text
    end: int
    text: str | None  # None: the tokens stay as they are (and no later rule takes them)


def _tokenise(text: str) -> list[_Token]:
    found = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    tokens = []
    for i, (word, start, end) in enumerate(found):
        lower = word.lower()
        after_digits = i > 0 and any(c.isdigit() for c in found[i - 1][0])
        protected = (any(c.isdigit() for c in word) or lower == "o" or lower in PLURALS
                     or (lower in MULTIPLIERS and after_digits))
        tokens.append(_Token(word, start, end, protected))
    return tokens


def _numbers(tokens: list[_Token]) -> list[_Number]:
    plain = {(o.start, o.end) for o in find_numbers(tokens, "en", SPELLED_BELOW)}
    return [_Number(o.start, o.end, float(o.value), str(o.text), bool(o.is_ordinal), (o.start, o.end) in plain)
            for o in find_numbers(tokens, "en", 0.0)]


class _Scan:
    """The tokens and the numbers found in them, looked at by the rules below."""

    def __init__(self, tokens: list[_Token], numbers: list[_Number]) -> None:
        self.tokens = tokens
        self.at = {n.start: n for n in numbers}

    def word(self, i: int) -> str:
        return self.tokens[i].word.lower().replace("’", "'") if 0 <= i < len(self.tokens) else ""

    def number(self, i: int) -> _Number | None:
        return self.at.get(i)

    def month(self, i: int) -> bool:
        """A month's name ("May" not at a sentence's start, where it asks permission)."""
        if not 0 <= i < len(self.tokens) or self.tokens[i].word not in MONTHS:
            return False
        return self.tokens[i].word != "May" or (i > 0 and self.word(i - 1) not in (".", "!", "?"))

    def meridiem(self, i: int) -> tuple[str, int]:
        """"a.m." or "p.m." when token ``i`` says it, and the token after it (past a full stop it ends)."""
        mark = MERIDIEM.get(self.word(i), "")
        if not mark:
            return "", i
        after = i + 1
        if self.word(after) == "." and self.tokens[after].start == self.tokens[i].end and "." not in self.word(i):
            after += 1  # "pm." at a sentence's end: "p.m." carries the full stop
        return mark, after


def _year(scan: _Scan, n: _Number) -> _Edit | None:
    """"nineteen eighty four" → 1984, "twenty twenty six" → 2026, "nineteen oh five" → 1905, "the nineteen
    nineties" → 1990s."""
    if not n.whole(13, 20):
        return None
    century = int(n.value)
    decade = DECADES.get(scan.word(n.end))
    if decade:
        return _Edit(n.start, n.end + 1, f"{century}{decade}")
    rest = scan.number(n.end)
    if rest is not None and rest.whole(10, 99):
        return _Edit(n.start, rest.end, f"{century}{int(rest.value)}")
    rest = scan.number(n.end + 1)
    if scan.word(n.end) in ZERO and rest is not None and rest.whole(1, 9) and rest.end == n.end + 2:
        return _Edit(n.start, rest.end, f"{century}0{int(rest.value)}")
    return None


def _minutes(scan: _Scan, i: int) -> _Number | None:
    """The minutes from token ``i``: "oh five" (1 to 9 after "oh") or "thirty" (10 to 59)."""
    if scan.word(i) in ZERO:
        rest = scan.number(i + 1)
        return rest if rest is not None and rest.whole(1, 9) and rest.end == i + 2 else None
    rest = scan.number(i)
    return rest if rest is not None and rest.whole(10, 59) else None


def _time(scan: _Scan, n: _Number) -> _Edit | None:
    """"seven o'clock", "at nine oh five" → at 9:05, "three thirty pm" → 3:30 p.m.; "three thirty"
    and "one oh one" with nothing that makes them a time stay words."""
    if not n.whole(1, 12):
        return None
    hour, end = int(n.value), n.end
    if scan.word(end) == "o'clock":
        return _Edit(n.start, end, str(hour))
    if scan.word(end) == "o" and scan.word(end + 1) == "clock":
        return _Edit(n.start, end + 2, f"{hour} o'clock")
    minutes, sure = -1, scan.word(n.start - 1) in TIME_CONTEXT
    rest = _minutes(scan, end)
    if rest is not None:
        minutes, end = int(rest.value), rest.end
    mark, after = scan.meridiem(end)
    if mark:
        clock = f"{hour}:{minutes:02d}" if minutes >= 0 else str(hour)
        return _Edit(n.start, after, f"{clock} {mark}")
    if minutes >= 0:
        return _Edit(n.start, end, f"{hour}:{minutes:02d}" if sure else None)
    return None


def _date(scan: _Scan, n: _Number) -> _Edit | None:
    """"March third" → March 3, "the third of March" → the 3rd of March; other ordinals stay words."""
    if not n.ordinal or not 1 <= n.value <= 31:
        return None
    if scan.month(n.start - 1):
        return _Edit(n.start, n.end, str(int(n.value)))
    if scan.word(n.end) == "of" and scan.month(n.end + 1):
        return _Edit(n.start, n.end, n.digits)
    return None


def _written(scan: _Scan, n: _Number) -> str:
    """The digits of ``n``: "5 million" for whole millions, thousands separated from 10,000 up."""
    last = scan.word(n.end - 1)
    if last in LARGE and n.end - n.start > 1 and n.value % LARGE[last] == 0:
        return f"{int(n.value) // LARGE[last]} {last}"
    if "." in n.digits or n.digits.startswith("0") or n.value < 10000:
        return n.digits
    return f"{int(n.value):,}"


def _cardinal(scan: _Scan, n: _Number) -> _Edit | None:
    """A cardinal: "twenty five" → 25, "a hundred" → 100, "ten percent" → 10%, "minus three" → -3,
    "two point five million" → 2.5 million; isolated numbers up to nine only before "percent" or after "minus"."""
    if n.ordinal or scan.word(n.end) in PLURALS or scan.word(n.end) in DECADES:
        return None
    start, end, text = n.start, n.end, _written(scan, n)
    if scan.word(start) in MULTIPLIERS:  # "hundred" alone: "a hundred" is 100, "several hundred" stays
        if scan.word(start - 1) not in ("a", "an") or scan.word(start) in LARGE:
            return None
        start -= 1
    large = scan.number(end)
    if large is not None and large.end == end + 1 and scan.word(end) in LARGE:
        text, end = f"{text} {scan.word(end)}", end + 1
    forced = False
    if scan.word(end) == "percent" or (scan.word(end) == "per" and scan.word(end + 1) == "cent"):
        text, end, forced = f"{text}%", end + (1 if scan.word(end) == "percent" else 2), True
    before = scan.tokens[start - 2] if start >= 2 else None
    if scan.word(start - 1) in NEGATIVE and (before is None or not (before.protected or scan.number(start - 2))):
        text, start, forced = f"-{text}", start - 1, True
    return _Edit(start, end, text) if n.plain or forced else None


RULES = (_year, _time, _date, _cardinal)


def _edits(scan: _Scan, numbers: list[_Number]) -> list[_Edit]:
    edits: list[_Edit] = []
    for n in numbers:
        if edits and n.start < edits[-1].end:
            continue  # part of the previous edit ("twenty twenty six")
        edit = next((e for rule in RULES if (e := rule(scan, n)) is not None), None)
        if edit is not None and not (edits and edit.start < edits[-1].end):
            edits.append(edit)
    return edits


def to_digits(text: str) -> str:
    """``text`` with its spoken numbers written as digits, where that is surely right; the rest as it was."""
    tokens = _tokenise(text)
    numbers = _numbers(tokens)
    if not numbers:
        return text
    pieces, done = [], 0
    for edit in _edits(_Scan(tokens, numbers), numbers):
        if edit.text is None:
            continue
        first, last = tokens[edit.start], tokens[edit.end - 1]
        pieces += [text[done:first.start], edit.text]
        done = last.end
    return "".join(pieces) + text[done:]


@lru_cache(maxsize=4096)
def is_number_word(word: str) -> bool:
    """A word text2num reads as (part of) a number: "five", "Twenty-one", "third", "hundred"; not "o"."""
    token = _tokenise(word)
    return len(token) == 1 and not token[0].protected and bool(find_numbers(token, "en", 0.0))


# Words after a number that a later word can change or that text2num groups numbers across ("two and five"
# are digits where "two" alone is a word): "one hundred and", "three point", "nine oh", "ten per", "third of".
LINKS = frozenset(("and", "point", "oh", "o", "per", "of", "minus", "negative", "plus", "then", "is", "so", "more"))
LEADS = frozenset(("a", "an", "minus", "negative"))  # "a" (hundred), "minus" (three)


def _bare(word: str) -> str:
    return word.strip().strip("\"'“”‘’([{").lower().replace("’", "'")


def _may_join(word: str) -> bool:
    """A number word, a link or a lead that no mark ends."""
    bare = _bare(word)
    return bool(bare) and not _CLAUSE_END.search(word.strip()) and (
        bare in LINKS or bare in LEADS or is_number_word(bare))


def unsettled_tail(words: Sequence[str]) -> int:
    """How many of the last ``words`` ``to_digits`` could still write differently if more words followed.

    The trailing run of number words, the links between and after them ("three point", "nine oh", "one
    hundred and", "third of", "ten per") and the words that can lead one ("a" → "a hundred", "minus"); a
    link with no number word before it in the run ("the point", "this and") is settled. A word that ends a
    clause (a comma, a full stop) ends the run.
    """
    start = len(words)
    while start > 0 and _may_join(words[start - 1]):
        start -= 1
    while start < len(words) and _bare(words[start]) in LINKS - LEADS:
        start += 1
    return len(words) - start
