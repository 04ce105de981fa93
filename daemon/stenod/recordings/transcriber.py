"""A whole recording to a :class:`Transcript`: its speech windows (:mod:`stenod.recordings.chunks`) decoded
in order (:mod:`stenod.recordings.windows`), times mapped back to the recording, cut into passages, cleaned.

Three stages overlap, each with its own thread and half the cores: reading, VAD and the encoder; the
decoder, in window order; word times and holes. Each window's text is what decoding the windows one at a
time gives.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace

import numpy as np

from stenod.audio.reader import AudioReader
from stenod.core import SAMPLE_RATE
from stenod.core.chunking import ChunkConfig, Window
from stenod.core.cleanup import CleanupConfig, clean
from stenod.core.subtitles import SENTENCE_END, TimedWord
from stenod.engine.alignment import Word
from stenod.engine.decoding import DecodeResult
from stenod.engine.whisper import WhisperEngine, default_threads
from stenod.recordings.ahead import Emit, RunAhead
from stenod.recordings.chunks import Chunk, SequenceVad, speech_chunks
from stenod.recordings.speakers import Segment, SpeakerEncoder, cluster, speaker_at
from stenod.recordings.windows import Encoded, WindowDecoder

# Filler removal, stutters, replacements; spoken punctuation stays off (a recording is not dictation).
RECORDING_CLEANUP = CleanupConfig(spoken_punctuation=False)
PASSAGE_GAP_S = 1.5  # a pause this long inside a window ends a passage
JOINERS = ("-", "'", "’")  # a piece of a word that starts (or follows one that ends) with these is part of it


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
    speaker: str = ""  # with --speakers: "S1", "S2", … in order of first appearance


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


Who = Callable[[list[TimedWord]], list[str]]  # each word's speaker


def _whole_words(words: list[Word]) -> list[Word]:
    """Pieces the alignment split off a word at a hyphen or apostrophe ("cold" "-hearted") joined back to it
    (only those: in languages written without spaces no piece starts with one)."""
    out: list[Word] = []
    for word in words:
        if (out and not word.word.startswith(" ") and word.start - out[-1].end < 0.5
                and (word.word[:1] in JOINERS or out[-1].word.endswith(JOINERS))):
            last = out[-1]
            out[-1] = Word(last.word + word.word, last.start, word.end, min(last.probability, word.probability),
                           last.tokens + word.tokens)
        else:
            out.append(word)
    return out


def passages(window: Window, result: DecodeResult, kept: list[Word], cleanup: CleanupConfig,
             who: Who | None = None) -> list[Passage]:
    """A window's words in the recording's time, cut into passages: at a sentence's end, a pause of
    ``PASSAGE_GAP_S`` or (``who`` telling each word's speaker) a change of speaker."""
    kept = _whole_words(kept)
    timed = [window.interval_to_source(w.start, w.end) for w in kept]
    words = [TimedWord(w.word.strip(), round(s, 3), round(e, 3)) for w, (s, e) in zip(kept, timed)]
    if who is not None and words:
        words = [replace(w, speaker=speaker) for w, speaker in zip(words, who(words))]
    out: list[Passage] = []
    start = 0
    for i, word in enumerate(words):
        if (i + 1 == len(words) or word.word.endswith(SENTENCE_END) or words[i + 1].start - word.end >= PASSAGE_GAP_S
                or words[i + 1].speaker != word.speaker):
            mine = words[start:i + 1]
            raw = " ".join(w.word for w in mine)
            out.append(Passage(mine[0].start, mine[-1].end, raw, clean(raw, cleanup), tuple(mine),
                               tuple(w.probability for w in kept[start:i + 1]),
                               tuple(t for w in kept[start:i + 1] for t in w.tokens), result.temperature,
                               result.avg_logprob, result.compression_ratio, result.no_speech_prob,
                               mine[0].speaker))
            start = i + 1
    return out


def stage_threads(threads: int | None) -> int:
    """ONNX Runtime threads per session for ``threads`` in all: the encoder and the decoder run at once."""
    return max(1, (threads or default_threads()) // 2)


def _speaker_segments(encoder: SpeakerEncoder, chunk: Chunk) -> list[Segment]:
    """The d-vector segments of each span of a window (its audio holds them end to end, ``JOIN`` apart)."""
    return [segment for (start, end), at in zip(chunk.window.spans, chunk.window.offsets)
            for segment in encoder.segments(chunk.audio[at:at + end - start], start / SAMPLE_RATE)]


def _labeller(segments: list[Segment]) -> Who:
    """Each word's speaker, from the clustered segments: "S1", "S2", … in order of first appearance."""
    labels = cluster(np.stack([s.vector for s in segments])) if segments else np.zeros(0, int)

    def who(words: list[TimedWord]) -> list[str]:
        found = speaker_at(segments, labels, np.array([w.start for w in words]), np.array([w.end for w in words]))
        return [f"S{label + 1}" if label >= 0 else "" for label in found]

    return who


def transcribe_recording(engine: WhisperEngine, reader: AudioReader, vad: SequenceVad, *,
                         language: str | None = None, cleanup: CleanupConfig = RECORDING_CLEANUP,
                         chunking: ChunkConfig | None = None, prompt: str | None = None,
                         on_progress: Callable[[float], None] | None = None,
                         speakers: SpeakerEncoder | None = None) -> Transcript:
    """``prompt``: text given to every window (names, jargon); ``speakers``: label each word's speaker."""
    transcript = Transcript(reader.name)
    decoder = WindowDecoder(engine, language, prompt)
    found: list[Segment] = []

    def produce(emit: Emit[Encoded | float]) -> None:
        """Reading, voice detection and the encoder (and speaker vectors), a window or two ahead of the decoder."""
        for chunk in speech_chunks(reader, vad, chunking, lambda seconds: emit(seconds, False)):
            if speakers is not None:
                found.extend(_speaker_segments(speakers, chunk))
            emit(decoder.encode(chunk), True)

    done: list[tuple[Window, DecodeResult, Future[list[Word]]]] = []
    ahead = iter(RunAhead(produce, depth=2))
    with ThreadPoolExecutor(1, thread_name_prefix="stenod-words") as words_pool, closing(ahead):
        for item in ahead:
            if not isinstance(item, Encoded):
                if on_progress is not None:
                    on_progress(item)
                continue
            first = decoder.first_pass(item)
            if first is None:
                continue
            if len(done) >= 2:
                done[-2][2].result()  # the word times lag at most two windows behind the decoder
            done.append((item.chunk.window, first.window.result, words_pool.submit(decoder.words, first)))
        who = _labeller(found) if speakers is not None else None
        for window, result, words in done:
            transcript.passages += passages(window, result, words.result(), cleanup, who)
    transcript.language = decoder.language or ""
    transcript.duration = reader.read_seconds
    transcript.warning = reader.warning
    return transcript
