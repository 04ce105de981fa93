"""What the core asks of a speech recogniser, and the answers it expects back.

The core never calls the engine: it hands out a ``DecodeRequest`` and later receives a ``DecodeResponse``.
Tokens are opaque integers to the core; it only stores and returns them (committed words as a forced
prefix, earlier finals as the prompt).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stenod.core import SAMPLE_RATE


@dataclass(frozen=True)
class HypWord:
    """One word of a hypothesis, as the recogniser wrote it (leading space included)."""

    text: str
    tokens: tuple[int, ...]
    probability: float = 1.0
    start: float | None = None  # seconds from the start of the request's audio
    end: float | None = None


@dataclass(frozen=True, eq=False)
class DecodeRequest:
    id: int
    utterance_id: int
    final: bool  # final text: the full window with word times; otherwise a cheap partial hypothesis
    audio: np.ndarray  # float32, 16 kHz mono: the utterance so far
    offset: int  # stream sample of audio[0]
    prefix: tuple[int, ...] = ()  # committed tokens the answer must start with
    prompt: tuple[int, ...] = ()  # tokens of earlier finals
    language: str | None = None

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass(frozen=True)
class DecodeResponse:
    request_id: int
    words: tuple[HypWord, ...]  # the whole hypothesis, the forced prefix included
    language: str = "en"
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    error: str = ""  # the recogniser failed: the message, and no words

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words).strip()
