"""A reference policy: ufal's whisper_streaming (LocalAgreement-2) as its authors configure it, on stenod's engine.

Every time one more second of audio has arrived (``min_chunk_size`` 1 s), the whole audio buffer is
transcribed (beam 5, word timestamps, the committed text before the buffer as the prompt). The words that
two consecutive hypotheses agree on, from the start, are committed and emitted; the buffer is cut at the
last committed word once it is longer than 15 s. There is no voice-activity detection (its default), so
text is committed only when a later hypothesis confirms it. Run on the same virtual clock as
``run_fast``: audio arrives at its real pace, and each transcription moves the clock on by the time it took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.core.events import Event, Final
from stenod.engine.decoding import DecodingOptions
from stenod.engine.transcribe import TranscribeOptions, transcribe
from stenod.engine.whisper import WhisperEngine

MIN_CHUNK_S = 1.0
BUFFER_TRIMMING_S = 15.0
PROMPT_CHARS = 200


@dataclass(frozen=True)
class TimedWord:
    start: float  # seconds from the stream's start
    end: float
    text: str


@dataclass
class Agreement:
    """whisper_streaming's hypothesis buffer: commit the common prefix of consecutive hypotheses."""

    committed: list[TimedWord] = field(default_factory=list)
    pending: list[TimedWord] = field(default_factory=list)
    last_time: float = 0.0

    def insert(self, words: list[TimedWord]) -> list[TimedWord]:
        """Take a new hypothesis; return the words it newly commits."""
        new = [w for w in words if w.start > self.last_time - 0.1]
        if new and abs(new[0].start - self.last_time) < 1 and self.committed:
            for n in range(min(len(self.committed), len(new), 5), 0, -1):  # drop a repeat of the committed tail
                if [w.text for w in self.committed[-n:]] == [w.text for w in new[:n]]:
                    new = new[n:]
                    break
        agreed: list[TimedWord] = []
        while new and self.pending and _same(new[0].text, self.pending[0].text):
            agreed.append(new.pop(0))
            self.pending.pop(0)
        self.pending = new
        if agreed:
            self.committed += agreed
            self.last_time = agreed[-1].end
        return agreed

    def flush(self) -> list[TimedWord]:
        rest, self.pending = self.pending, []
        self.committed += rest
        return rest


def _same(a: str, b: str) -> bool:
    return a.strip().lower().strip(",.?!") == b.strip().lower().strip(",.?!")


def _final(index: int, words: list[TimedWord], at: float) -> Final:
    text = "".join(w.text for w in words).strip()
    return Final(seq=index, emitted_at=at, audio_ms=int(at * 1000), utterance_id=index, text=text, raw=text,
                 words=(), language="en", start_ms=int(words[0].start * 1000), end_ms=int(words[-1].end * 1000))


def _hypothesis(engine: WhisperEngine, audio: np.ndarray, offset: float, prompt: str) -> list[TimedWord]:
    options = TranscribeOptions(language="en", initial_prompt=prompt or None, word_timestamps=True,
                                decoding=DecodingOptions(beam_size=5))
    segments, _ = transcribe(engine, audio, options)
    return [TimedWord(offset + w.start, offset + w.end, w.word) for s in segments for w in s.words or []]


def run_ufal(audio: np.ndarray, engine: WhisperEngine, _classifier: object = None) -> list[Event]:
    """The policy over ``audio`` on a virtual clock; one ``final`` event per batch of committed words."""
    events: list[Event] = []
    agreement = Agreement()
    buffer_start = 0  # sample where the audio buffer starts
    processed = 0  # samples the last hypothesis covered
    clock = 0.0
    step = int(MIN_CHUNK_S * SAMPLE_RATE)
    while processed < len(audio):
        processed = min(len(audio), processed + step)
        clock = max(clock, processed / SAMPLE_RATE)
        prompt = "".join(w.text for w in agreement.committed if w.end <= buffer_start / SAMPLE_RATE)[-PROMPT_CHARS:]
        started = time.perf_counter()
        words = _hypothesis(engine, audio[buffer_start:processed], buffer_start / SAMPLE_RATE, prompt)
        clock += time.perf_counter() - started
        agreed = agreement.insert(words)
        if agreed:
            events.append(_final(len(events), agreed, clock))
        if (processed - buffer_start) / SAMPLE_RATE > BUFFER_TRIMMING_S and agreement.committed:
            buffer_start = max(buffer_start, int(agreement.last_time * SAMPLE_RATE))
    rest = agreement.flush()
    if rest:
        events.append(_final(len(events), rest, clock))
    return events
