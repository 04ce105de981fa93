"""A whole recording to a :class:`Transcript`: speech windows decoded one by one, times mapped back, cleaned.

Each window is decoded alone (no prompt from the windows before it), with word times; the language is
detected on the first window that has speech and kept. A window's decode is the engine's
``transcribe`` with its guards (temperature fallback on a repetition loop or low confidence; silence
skipped), so a loop cannot spread beyond its window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stenod.audio.reader import AudioReader
from stenod.core.chunking import ChunkConfig
from stenod.core.cleanup import CleanupConfig, clean
from stenod.core.subtitles import TimedWord
from stenod.core.vad import FrameClassifier
from stenod.engine.transcribe import Segment, TranscribeOptions, transcribe
from stenod.engine.whisper import WhisperEngine
from stenod.recordings.chunks import Chunk, speech_chunks

# Filler removal, stutters, replacements; spoken punctuation stays off (a recording is not dictation).
RECORDING_CLEANUP = CleanupConfig(spoken_punctuation=False)


@dataclass(frozen=True)
class Passage:
    """One decoded segment, in the recording's time: Whisper's text (``raw``) and the cleaned ``text``."""

    start: float
    end: float
    raw: str
    text: str
    words: tuple[TimedWord, ...] = ()
    probabilities: tuple[float, ...] = ()


@dataclass
class Transcript:
    name: str
    language: str = ""
    duration: float = 0.0
    passages: list[Passage] = field(default_factory=list)
    warning: str = ""
    windows: int = 0

    @property
    def text(self) -> str:
        return " ".join(p.text for p in self.passages if p.text)

    @property
    def raw(self) -> str:
        return " ".join(p.raw for p in self.passages if p.raw)


def _passage(segment: Segment, chunk: Chunk, cleanup: CleanupConfig) -> Passage:
    to_source = chunk.window.to_source
    words = tuple(TimedWord(w.word.strip(), round(to_source(w.start), 3), round(to_source(w.end), 3))
                  for w in segment.words or () if w.word.strip())
    probabilities = tuple(w.probability for w in segment.words or () if w.word.strip())
    raw = segment.text.strip()
    start = words[0].start if words else round(to_source(segment.start), 3)
    end = words[-1].end if words else round(to_source(segment.end), 3)
    return Passage(start, end, raw, clean(raw, cleanup), words, probabilities)


def transcribe_recording(engine: WhisperEngine, reader: AudioReader, classifier: FrameClassifier, *,
                         language: str | None = None, cleanup: CleanupConfig = RECORDING_CLEANUP,
                         chunking: ChunkConfig | None = None, prompt: str | None = None,
                         on_progress: Callable[[float], None] | None = None) -> Transcript:
    """``prompt``: text given to every window (names, jargon); never the windows before it."""
    transcript = Transcript(reader.name)
    if not engine.multilingual:
        language = "en"
    for chunk in speech_chunks(reader, classifier, chunking, on_progress):
        transcript.windows += 1
        options = TranscribeOptions(language=language, word_timestamps=True, initial_prompt=prompt)
        segments, info = transcribe(engine, chunk.audio, options)
        for segment in segments:
            passage = _passage(segment, chunk, cleanup)
            if passage.raw:
                transcript.passages.append(passage)
        if language is None and transcript.passages:
            language = info.language
        transcript.language = language or info.language
    transcript.duration = reader.read_seconds
    transcript.warning = reader.warning
    if not transcript.language:
        transcript.language = language or ""
    return transcript
