"""Hallucination guards: decide whether a decoded utterance is text or something Whisper made up."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

# What Whisper tends to say over silence, noise or breath (normalised: lower case, no punctuation).
KNOWN_SILENCE_PHRASES = (
    "you", "thank you", "thanks", "thank you very much", "thank you so much", "thanks for watching",
    "thank you for watching", "thanks for watching and see you next time",
    "thank you for watching and see you next time",
    "please subscribe", "subscribe to my channel", "like and subscribe", "bye", "bye bye", "goodbye", "the end",
    "so", "okay", "oh", "uh", "um", "hmm", "ah", "i'm sorry", "see you next time", "see you in the next video",
    "subtitles by the amaraorg community", "transcription by castingwords", "music", "applause", "silence",
)

_PUNCTUATION = re.compile(r"[^\w\s']")


def normalise_phrase(text: str) -> str:
    return " ".join(_PUNCTUATION.sub("", text.lower()).split())


@dataclass(frozen=True)
class GuardConfig:
    no_speech_threshold: float = 0.6  # with log_prob_threshold: faster-whisper's silence rule
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    max_ngram_repeats: int = 4  # an n-gram said this many times in a row is a loop
    phrase_max_seconds: float = 3.0  # known phrases are rejected only in utterances this short…
    phrase_logprob: float = -0.5  # …whose average log-probability is below this,
    phrase_no_speech: float = 0.2  # …or whose no-speech probability is above this
    phrases: tuple[str, ...] = KNOWN_SILENCE_PHRASES


def compression_ratio(text: str) -> float:
    """Bytes of text over bytes of its zlib compression: high for repetitive output."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def repeated_ngram(words: Sequence[str], repeats: int, max_n: int = 6) -> bool:
    """True if some n-gram (n ≤ ``max_n``) occurs ``repeats`` times in a row."""
    keys = [normalise_phrase(w) for w in words]
    keys = [k for k in keys if k]
    for n in range(1, max_n + 1):
        for i in range(0, len(keys) - n * repeats + 1):
            gram = keys[i:i + n]
            if all(keys[i + k * n:i + (k + 1) * n] == gram for k in range(1, repeats)):
                return True
    return False


def repeated_tail(words: Sequence[str], min_n: int = 3) -> int:
    """How many words to keep so that no phrase of ``min_n`` or more words is immediately said twice.

    Whisper sometimes repeats its last sentence word for word; people almost never do.
    """
    keys = [normalise_phrase(w) for w in words]
    for i in range(len(keys)):
        for n in range((len(keys) - i) // 2, min_n - 1, -1):
            if keys[i:i + n] == keys[i + n:i + 2 * n] and all(keys[i:i + n]):
                return i + n
    return len(keys)


def rejection(text: str, words: Sequence[str], *, no_speech_prob: float, avg_logprob: float,
              compression_ratio: float, seconds: float, config: GuardConfig = GuardConfig()) -> str:
    """The reason to reject this decode, or "" if it stands."""
    phrase = normalise_phrase(text)
    if not phrase:
        return "empty"
    if no_speech_prob > config.no_speech_threshold and avg_logprob < config.log_prob_threshold:
        return "no_speech"
    if compression_ratio > config.compression_ratio_threshold or repeated_ngram(words, config.max_ngram_repeats):
        return "repetition"
    if (phrase in config.phrases and seconds <= config.phrase_max_seconds
            and (avg_logprob < config.phrase_logprob or no_speech_prob > config.phrase_no_speech)):
        return "hallucination"
    return ""
