"""A whole recording to a :class:`Transcript`: speech windows decoded one by one, times mapped back, cleaned.

Each window is decoded once: no timestamp tokens (word times come from the alignment heads), temperature
fallback when the text loops or is unsure, nothing when the model finds the window silent. A window that
follows the last one within ``CONTEXT_GAP_S`` (the talk goes on) is prompted with its words, unless that one
needed the fallback or looped; after a longer silence, nothing is carried over. So a repetition loop cannot
spread beyond its window. Without timestamp tokens Whisper now and then skips a sentence of a dense window:
a stretch of ``HOLE_S`` that no word covers is decoded again on its own. The language is detected on the
first window that has speech and kept.

Three stages overlap, each with its own thread and half the cores: reading, VAD and the encoder; the
decoder, in window order; word times and holes. Each window's text is what decoding the windows one at a
time gives.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from stenod.audio.reader import AudioReader
from stenod.core import SAMPLE_RATE
from stenod.core.chunking import ChunkConfig
from stenod.core.cleanup import CleanupConfig, clean
from stenod.core.subtitles import SENTENCE_END, TimedWord
from stenod.engine.alignment import Word
from stenod.engine.decoding import DecodingOptions, is_silence
from stenod.engine.runtime import DecoderState
from stenod.engine.whisper import WhisperEngine, WindowResult, default_threads, has_repetition
from stenod.recordings.ahead import Emit, RunAhead
from stenod.recordings.chunks import Chunk, SequenceVad, speech_chunks

# Filler removal, stutters, replacements; spoken punctuation stays off (a recording is not dictation).
RECORDING_CLEANUP = CleanupConfig(spoken_punctuation=False)
PASSAGE_GAP_S = 1.5  # a pause this long inside a window ends a passage
HOLE_S = 2.0  # a stretch of a window this long with no word in it is decoded again on its own
HOLE_PAD_S = 0.3  # audio either side of such a stretch given with it
LONGEST_WORD_S = 1.5  # a word "longer" than this was stretched by the alignment over speech the decode skipped
CONTEXT_GAP_S = 3.0  # a window this close after the last one is prompted with its words (the talk goes on)
CONTEXT_TOKENS = 120


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
    summary: str = ""  # Markdown, from the LLM endpoint (``--summary``)

    @property
    def text(self) -> str:
        return " ".join(p.text for p in self.passages if p.text)

    @property
    def raw(self) -> str:
        return " ".join(p.raw for p in self.passages if p.raw)


def _passages(words: list[TimedWord], probabilities: list[float], cleanup: CleanupConfig) -> list[Passage]:
    """A window's words cut into passages: at a sentence's end, or a pause of ``PASSAGE_GAP_S``."""
    out: list[Passage] = []
    first = 0
    for i, word in enumerate(words):
        last = i + 1 == len(words)
        if last or word.word.endswith(SENTENCE_END) or words[i + 1].start - word.end >= PASSAGE_GAP_S:
            mine = words[first:i + 1]
            raw = " ".join(w.word for w in mine)
            out.append(Passage(mine[0].start, mine[-1].end, raw, clean(raw, cleanup), tuple(mine),
                               tuple(probabilities[first:i + 1])))
            first = i + 1
    return out


def _decode(engine: WhisperEngine, audio: np.ndarray, language: str | None, prompt: list[int]) -> WindowResult | None:
    """Audio of a window, once, without timestamp tokens, with word times from the alignment heads; None
    when the model finds it silent."""
    window = engine.decode_window(audio, full=True, language=language, previous=prompt, word_timestamps=True,
                                  options=DecodingOptions())
    return None if is_silence(window.result, DecodingOptions()) or not window.words else window


def stage_threads(threads: int | None) -> int:
    """ONNX Runtime threads per session for ``threads`` in all: the encoder and the decoder run at once."""
    return max(1, (threads or default_threads()) // 2)


def holes(words: list[Word], duration: float, least: float = HOLE_S) -> list[tuple[float, float]]:
    """Stretches of a window (seconds) of at least ``least`` that no word covers: speech the decode skipped
    (it is all speech, by construction), or something the VAD took for it. When the decode skips speech the
    alignment stretches a neighbouring word over it, so a word covers at most its last ``LONGEST_WORD_S``."""
    out = []
    at = 0.0
    for word in [*words, None]:
        start = max(word.start, word.end - LONGEST_WORD_S) if word is not None else duration
        if start - at >= least:
            out.append((at, start))
        if word is not None:
            at = max(at, word.end)
    return out


@dataclass
class _Encoded:
    chunk: Chunk
    encoded: DecoderState
    n_frames: int


def _first_pass(engine: WhisperEngine, item: _Encoded, language: str | None, prompt: list[int]
                ) -> WindowResult | None:
    """The window decoded once (no word times yet); None when the model finds it silent."""
    window = engine.decode_encoded(item.encoded, item.n_frames, language=language, previous=prompt,
                                   options=DecodingOptions())
    if is_silence(window.result, DecodingOptions()) or not any(t < engine.tokenizer.eot for t in window.result.tokens):
        return None
    return window


def _window_words(engine: WhisperEngine, item: _Encoded, window: WindowResult, prompt: list[int]) -> list[Word]:
    """The window's words (window time), with the stretches the first pass skipped decoded again."""
    sot = engine.tokenizer.sot_sequence(window.language)
    aligned = engine.align(item.encoded, sot, window.result.tokens, window.result.token_logprobs, item.n_frames,
                           window.language)
    words = [w for w in aligned if w.word.strip()]
    if not words:
        return []
    audio = item.chunk.audio
    for start, end in holes(words, len(audio) / SAMPLE_RATE):
        a = max(0, int((start - HOLE_PAD_S) * SAMPLE_RATE))
        again = _decode(engine, audio[a:int((end + HOLE_PAD_S) * SAMPLE_RATE)], window.language, prompt)
        found = [replace(w, start=w.start + a / SAMPLE_RATE, end=w.end + a / SAMPLE_RATE)
                 for w in (again.words or []) if w.word.strip()] if again else []
        words += [w for w in found if start < (w.start + w.end) / 2 < end]  # not the neighbours again
    return sorted(words, key=lambda w: w.start)


def _add_window(transcript: Transcript, chunk: Chunk, kept: list[Word], cleanup: CleanupConfig) -> None:
    timed = [chunk.window.interval_to_source(w.start, w.end) for w in kept]
    words = [TimedWord(w.word.strip(), round(s, 3), round(e, 3)) for w, (s, e) in zip(kept, timed)]
    transcript.passages += _passages(words, [w.probability for w in kept], cleanup)


def transcribe_recording(engine: WhisperEngine, reader: AudioReader, vad: SequenceVad, *,
                         language: str | None = None, cleanup: CleanupConfig = RECORDING_CLEANUP,
                         chunking: ChunkConfig | None = None, prompt: str | None = None,
                         on_progress: Callable[[float], None] | None = None) -> Transcript:
    """``prompt``: text given to every window (names, jargon)."""
    transcript = Transcript(reader.name)
    if not engine.multilingual:
        language = "en"
    prompt_ids = engine.tokenizer.encode(" " + prompt.strip()) if prompt else []
    previous: list[int] = []  # the last window's tokens, while the speech goes on
    last_end = -1e9

    def produce(emit: Emit[_Encoded | float]) -> None:
        """Reading, voice detection and the encoder, a window or two ahead of the decoder."""
        for chunk in speech_chunks(reader, vad, chunking, lambda seconds: emit(seconds, False)):
            emit(_Encoded(chunk, *engine.encode_window(chunk.audio)), True)

    # Three stages overlap: reading, VAD and the encoder (a window or two ahead); the decoder, which must
    # follow the windows in order (each may be prompted with the one before); word times and the re-decoded
    # holes, which nothing after them waits for.
    finishing: list[tuple[Chunk, Future[list[Word]]]] = []
    with ThreadPoolExecutor(1, thread_name_prefix="stenod-words") as words_pool:
        for item in RunAhead(produce, depth=2):
            if not isinstance(item, _Encoded):
                if on_progress is not None:
                    on_progress(item)
                continue
            chunk = item.chunk
            context = previous if chunk.window.start / SAMPLE_RATE - last_end <= CONTEXT_GAP_S else []
            room = max(0, CONTEXT_TOKENS - len(prompt_ids))  # the user's prompt always, the context as it fits
            window_prompt = [*prompt_ids, *(context[-room:] if room else [])]
            window = _first_pass(engine, item, language, window_prompt)
            last_end = chunk.window.end / SAMPLE_RATE
            previous = []
            if window is None:
                continue
            result = window.result
            if result.temperature == 0.0 and not has_repetition(result.tokens):  # clean: the next may follow
                previous = [t for t in result.tokens if t < engine.tokenizer.eot]
            language = language or window.language
            if len(finishing) >= 2:
                finishing[-2][1].result()  # at most two windows' encoder states wait for their words
            finishing.append((chunk, words_pool.submit(_window_words, engine, item, window, window_prompt)))
        for chunk, words in finishing:
            _add_window(transcript, chunk, words.result(), cleanup)
    transcript.language = language or ""
    transcript.duration = reader.read_seconds
    transcript.warning = reader.warning
    return transcript
