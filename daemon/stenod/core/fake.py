"""A scripted recogniser for tests and demos: it "hears" words from a timeline instead of the audio.

Given each word's start and end in stream time, it answers a request with the words that lie inside the
request's audio. A partial answer ends with the word being spoken cut short (as a real recogniser's
guess would be); a final answer carries word times relative to the request. Where the script has no words
it can answer with a canned low-confidence phrase, as Whisper does over noise. ``LoudIsSpeech`` is a
frame classifier for synthetic signals.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.core.requests import DecodeRequest, DecodeResponse, HypWord


@dataclass(frozen=True)
class ScriptWord:
    text: str
    start: float  # seconds in the stream
    end: float


def token_ids(text: str) -> tuple[int, ...]:
    """Stable fake token ids for a word (one per 3 characters)."""
    return tuple(zlib.crc32(text[i:i + 3].encode()) % 50000 for i in range(0, max(1, len(text)), 3))


def script_from_segments(segments: Iterable[tuple[float, float, str]]) -> list[ScriptWord]:
    """Spread each segment's words evenly over its span."""
    words: list[ScriptWord] = []
    for start, end, text in segments:
        parts = text.split()
        step = (end - start) / max(1, len(parts))
        words.extend(ScriptWord(w, start + i * step, start + (i + 1) * step) for i, w in enumerate(parts))
    return words


class LoudIsSpeech:
    """A frame classifier that calls any 30 ms frame louder than ``threshold`` (RMS) speech."""

    frame_samples = 480

    def __init__(self, threshold: float = 0.03) -> None:
        self.threshold = threshold

    def __call__(self, frame: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(frame, dtype=np.float64))) > self.threshold)

    def reset(self) -> None:
        pass


class FakeRecognizer:
    def __init__(self, script: list[ScriptWord], *, hallucination: str = "",
                 hallucination_logprob: float = -0.9) -> None:
        self.script = sorted(script, key=lambda w: w.start)
        self.hallucination = hallucination
        self.hallucination_logprob = hallucination_logprob
        self.calls: list[DecodeRequest] = []

    def __call__(self, request: DecodeRequest) -> DecodeResponse:
        self.calls.append(request)
        begin = request.offset / SAMPLE_RATE
        end = begin + request.seconds
        heard: list[HypWord] = []
        for word in self.script:
            if word.end <= begin or word.start >= end:
                continue
            text = word.text
            if word.end > end:  # still being spoken
                if request.final:
                    continue
                text = text[: max(1, int(len(text) * (end - word.start) / (word.end - word.start)))]
            heard.append(HypWord(" " + text, token_ids(text), 0.9, max(0.0, word.start - begin),
                                 min(word.end, end) - begin))
        if not heard and self.hallucination:
            heard = [HypWord(" " + self.hallucination, token_ids(self.hallucination), 0.3, 0.0, request.seconds)]
            return DecodeResponse(request.id, tuple(heard), avg_logprob=self.hallucination_logprob,
                                  no_speech_prob=0.4)
        return DecodeResponse(request.id, tuple(heard), avg_logprob=-0.2, no_speech_prob=0.01)
