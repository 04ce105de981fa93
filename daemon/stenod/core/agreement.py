"""LocalAgreement-2: commit the words on which the last two hypotheses agree.

After Macháček, Dabre and Bojar (2023), "Turning Whisper into Real-Time Transcription System"
(ufal/whisper_streaming, MIT). Each new hypothesis of the growing utterance is compared with the previous
one; their longest common word prefix is committed and never revised. A word is committed only while
a later word, after a space, follows it in the newest hypothesis, so a word still being spoken is never
committed half-heard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stenod.core.requests import HypWord


def _key(word: HypWord) -> tuple[str, tuple[int, ...]]:
    return word.text, word.tokens


@dataclass
class LocalAgreement:
    lookahead: int = 1  # words that must follow a word in the newest hypothesis before it is committed
    min_probability: float = 0.0  # and its probability in both hypotheses
    committed: list[HypWord] = field(default_factory=list)
    previous: list[HypWord] | None = None

    def update(self, hypothesis: Sequence[HypWord]) -> list[HypWord]:
        """Take a new hypothesis; return the words newly committed by it."""
        current = list(hypothesis)
        n = len(self.committed)
        if [_key(w) for w in current[:n]] != [_key(w) for w in self.committed]:
            # The recogniser did not keep the forced prefix: keep what is committed, compare the rest later.
            self.previous = None
            return []
        newly: list[HypWord] = []
        if self.previous is not None:
            k = n
            while (k < min(len(self.previous), len(current) - self.lookahead)
                   and _key(self.previous[k]) == _key(current[k])
                   and min(self.previous[k].probability, current[k].probability) >= self.min_probability
                   and current[k + 1].text.startswith(" ")):  # "ill" + "-disposed": not a word boundary
                k += 1
            newly = current[n:k]
            self.committed.extend(newly)
        self.previous = current
        return newly

    def unstable(self) -> list[HypWord]:
        """The latest hypothesis beyond the committed words."""
        return [] if self.previous is None else self.previous[len(self.committed):]

    @property
    def prefix_tokens(self) -> tuple[int, ...]:
        return tuple(t for w in self.committed for t in w.tokens)


def join_words(words: Sequence[HypWord]) -> str:
    return "".join(w.text for w in words).strip()
