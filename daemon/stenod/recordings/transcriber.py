"""A whole recording to a :class:`Transcript`: its speech windows (:mod:`stenod.recordings.chunks`) decoded
in order (:mod:`stenod.recordings.windows`), times mapped back to the recording, cut into passages, cleaned.

Three stages overlap, each with its own thread and half the cores: reading, VAD and the encoder; the
decoder, in window order; word times and holes. Each window's text is what decoding the windows one at a
time gives.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from stenod.audio.reader import AudioReader
from stenod.core.chunking import ChunkConfig
from stenod.core.cleanup import CleanupConfig, clean
from stenod.core.subtitles import SENTENCE_END, TimedWord
from stenod.engine.alignment import Word
from stenod.engine.whisper import WhisperEngine, default_threads
from stenod.recordings.ahead import Emit, RunAhead
from stenod.recordings.chunks import SequenceVad, speech_chunks
from stenod.recordings.windows import Encoded, FirstPass, WindowDecoder

# Filler removal, stutters, replacements; spoken punctuation stays off (a recording is not dictation).
RECORDING_CLEANUP = CleanupConfig(spoken_punctuation=False)
PASSAGE_GAP_S = 1.5  # a pause this long inside a window ends a passage


@dataclass(frozen=True)
class Passage:
    """One decoded segment, in the recording's time: Whisper's text (``raw``) and the cleaned ``text``;
    its tokens, and how its window decoded (``temperature``, ``avg_logprob``, …) for OpenAI's segments."""

    start: float
    end: float
    raw: str
    text: str
    words: tuple[TimedWord, ...] = ()
    probabilities: tuple[float, ...] = ()
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


@dataclass
class Transcript:
    name: str
    language: str = ""
    duration: float = 0.0
    passages: list[Passage] = field(default_factory=list)
    warning: str = ""
    summary: str = ""  # Markdown, from the LLM endpoint (``--summary``)

    @property
    def text(self) -> str:
        return " ".join(p.text for p in self.passages if p.text)

    @property
    def raw(self) -> str:
        return " ".join(p.raw for p in self.passages if p.raw)


def passages(first: FirstPass, kept: list[Word], cleanup: CleanupConfig) -> list[Passage]:
    """A window's words in the recording's time, cut into passages: at a sentence's end, or a pause of
    ``PASSAGE_GAP_S``."""
    window = first.item.chunk.window
    result = first.window.result
    timed = [window.interval_to_source(w.start, w.end) for w in kept]
    words = [TimedWord(w.word.strip(), round(s, 3), round(e, 3)) for w, (s, e) in zip(kept, timed)]
    out: list[Passage] = []
    start = 0
    for i, word in enumerate(words):
        if i + 1 == len(words) or word.word.endswith(SENTENCE_END) or words[i + 1].start - word.end >= PASSAGE_GAP_S:
            mine = words[start:i + 1]
            raw = " ".join(w.word for w in mine)
            out.append(Passage(mine[0].start, mine[-1].end, raw, clean(raw, cleanup), tuple(mine),
                               tuple(w.probability for w in kept[start:i + 1]),
                               tuple(t for w in kept[start:i + 1] for t in w.tokens), result.temperature,
                               result.avg_logprob, result.compression_ratio, result.no_speech_prob))
            start = i + 1
    return out


def stage_threads(threads: int | None) -> int:
    """ONNX Runtime threads per session for ``threads`` in all: the encoder and the decoder run at once."""
    return max(1, (threads or default_threads()) // 2)


def transcribe_recording(engine: WhisperEngine, reader: AudioReader, vad: SequenceVad, *,
                         language: str | None = None, cleanup: CleanupConfig = RECORDING_CLEANUP,
                         chunking: ChunkConfig | None = None, prompt: str | None = None,
                         on_progress: Callable[[float], None] | None = None) -> Transcript:
    """``prompt``: text given to every window (names, jargon)."""
    transcript = Transcript(reader.name)
    decoder = WindowDecoder(engine, language, prompt)

    def produce(emit: Emit[Encoded | float]) -> None:
        """Reading, voice detection and the encoder, a window or two ahead of the decoder."""
        for chunk in speech_chunks(reader, vad, chunking, lambda seconds: emit(seconds, False)):
            emit(decoder.encode(chunk), True)

    finishing: list[tuple[FirstPass, Future[list[Word]]]] = []
    with ThreadPoolExecutor(1, thread_name_prefix="stenod-words") as words_pool:
        for item in RunAhead(produce, depth=2):
            if not isinstance(item, Encoded):
                if on_progress is not None:
                    on_progress(item)
                continue
            first = decoder.first_pass(item)
            if first is None:
                continue
            if len(finishing) >= 2:
                finishing[-2][1].result()  # at most two windows' encoder states wait for their words
            finishing.append((first, words_pool.submit(decoder.words, first)))
        for first, words in finishing:
            transcript.passages += passages(first, words.result(), cleanup)
    transcript.language = decoder.language or ""
    transcript.duration = reader.read_seconds
    transcript.warning = reader.warning
    return transcript
