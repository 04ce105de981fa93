"""Offline transcription of a whole recording: 30 s windows, seeking by timestamps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.engine.alignment import Word
from stenod.engine.decoding import DecodeResult, DecodingOptions, build_prompt, is_silence
from stenod.engine.mel import FRAMES_PER_SECOND, HOP_LENGTH, N_FRAMES, pad_or_trim
from stenod.engine.runtime import DecoderState
from stenod.engine.tokenizer import TIME_PRECISION
from stenod.engine.whisper import WhisperEngine

INPUT_STRIDE = 2  # mel frames per encoder frame


@dataclass
class Segment:
    id: int
    start: float
    end: float
    text: str
    tokens: list[int]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    temperature: float
    words: list[Word] | None = None


@dataclass
class TranscriptionInfo:
    language: str
    language_probability: float
    duration: float


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None
    initial_prompt: str | None = None
    prefix: str | None = None
    condition_on_previous_text: bool = True
    prompt_reset_on_temperature: float = 0.5
    word_timestamps: bool = False
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    task: str = "transcribe"  # or "translate" (to English; multilingual models)


def _split_by_timestamps(tokens: list[int], ts_begin: int, seek: int, size: int, offset: float
                         ) -> tuple[list[tuple[float, float, list[int]]], int]:
    """Pieces ``(start, end, tokens)`` of one window and the next seek position (faster-whisper's rule)."""
    single_ending = len(tokens) >= 2 and tokens[-2] < ts_begin <= tokens[-1]
    cuts = [i for i in range(1, len(tokens)) if tokens[i] >= ts_begin and tokens[i - 1] >= ts_begin]
    pieces: list[tuple[float, float, list[int]]] = []
    if cuts:
        if single_ending:
            cuts.append(len(tokens))
        last = 0
        for cut in cuts:
            part = tokens[last:cut]
            pieces.append((offset + (part[0] - ts_begin) * TIME_PRECISION,
                           offset + (part[-1] - ts_begin) * TIME_PRECISION, part))
            last = cut
        if single_ending:
            return pieces, seek + size
        return pieces, seek + (tokens[last - 1] - ts_begin) * INPUT_STRIDE
    duration = size / FRAMES_PER_SECOND
    stamps = [t for t in tokens if t >= ts_begin]
    if stamps and stamps[-1] != ts_begin:
        duration = (stamps[-1] - ts_begin) * TIME_PRECISION
    return [(offset, offset + duration, tokens)], seek + size


def transcribe(engine: WhisperEngine, audio: np.ndarray, options: TranscribeOptions = TranscribeOptions(),
               features: np.ndarray | None = None) -> tuple[Iterator[Segment], TranscriptionInfo]:
    """Segments of ``audio`` (16 kHz mono float32), lazily, and what was detected about it.

    ``features`` is ``engine.features(audio)`` when the caller has computed it already.
    """
    tok = engine.tokenizer
    mel = engine.features(audio) if features is None else features
    content_frames = mel.shape[-1] - 1
    duration = len(audio) / SAMPLE_RATE
    language, probability = options.language, 1.0
    first = None
    if language is None:
        first = engine.encode(pad_or_trim(mel[:, : min(N_FRAMES, content_frames)]))
        language, probability = engine.detect_language(first)
    sot = tok.sot_sequence(language, options.task)
    info = TranscriptionInfo(language, probability, duration)

    def segments() -> Iterator[Segment]:
        nonlocal first
        history: list[int] = tok.encode(" " + options.initial_prompt.strip()) if options.initial_prompt else []
        reset_since = 0
        seek = 0
        last_speech = 0.0
        count = 0
        dec = options.decoding
        while seek < content_frames:
            offset = seek * HOP_LENGTH / SAMPLE_RATE
            size = min(N_FRAMES, content_frames - seek)
            encoded = first if seek == 0 and first is not None else engine.encode(
                pad_or_trim(mel[:, seek: seek + size]))
            first = None
            prefix = tok.encode(" " + options.prefix.strip()) if options.prefix and seek == 0 else []
            prompt = build_prompt(tok, sot, history[reset_since:], prefix, dec.without_timestamps,
                                  engine.dims.n_text_ctx)
            result = engine.decode(encoded, prompt, dec)
            if is_silence(result, dec):
                seek += size
                continue
            tokens = (([tok.timestamp_begin] if not dec.without_timestamps else []) + prefix + result.tokens
                      if prefix else result.tokens)
            previous_seek = seek
            pieces, seek = _split_by_timestamps(tokens, tok.timestamp_begin, seek, size, offset)
            piece_words: list[list[Word] | None] = [None] * len(pieces)
            if options.word_timestamps:
                piece_words, pieces = _timed_words(engine, encoded, sot, pieces, result, size, offset, language,
                                                   last_speech)
                ends = [ws[-1].end for ws in piece_words if ws]
                if ends:
                    last_speech = ends[-1]
                    single_ending = len(tokens) >= 2 and tokens[-2] < tok.timestamp_begin <= tokens[-1]
                    if not single_ending and ends[-1] > offset:
                        seek = round(ends[-1] * FRAMES_PER_SECOND)
            for (start, end, part), seg_words in zip(pieces, piece_words):
                text = tok.decode(part)
                if start == end or not text.strip():
                    continue
                count += 1
                history.extend(part)
                yield Segment(count, round(start, 3), round(end, 3), text, part, result.avg_logprob,
                              result.compression_ratio, result.no_speech_prob, result.temperature, seg_words)
            if not options.condition_on_previous_text or result.temperature > options.prompt_reset_on_temperature:
                reset_since = len(history)
            if seek <= previous_seek:
                seek = previous_seek + size

    return segments(), info


def _trim_first_word_after_pause(words: list[Word], last_speech: float, median: float) -> None:
    """A first word after a long pause tends to start too early: cap it at twice the median word length."""
    longest = 2 * median
    first = words[0]
    if first.end - last_speech > 4 * median and (
            first.end - first.start > longest or (len(words) > 1 and words[1].end - first.start > 2 * longest)):
        if len(words) > 1 and words[1].end - words[1].start > longest:
            boundary = max(words[1].end / 2, words[1].end - longest)
            first.end = words[1].start = boundary
        first.start = max(0.0, first.end - longest)


Piece = tuple[float, float, list[int]]


def _timed_words(engine: WhisperEngine, encoded: DecoderState, sot: list[int], pieces: list[Piece],
                 result: DecodeResult, size: int, offset: float, language: str, last_speech: float
                 ) -> tuple[list[list[Word] | None], list[Piece]]:
    """Align the window's words, hand them to their pieces and reconcile word and segment bounds."""
    eot = engine.tokenizer.eot
    text_tokens = [t for _, _, part in pieces for t in part if t < eot]
    logprobs = [p for t, p in zip(result.tokens, result.token_logprobs) if t < eot]
    logprobs = [0.0] * (len(text_tokens) - len(logprobs)) + logprobs[: len(text_tokens)]
    words = engine.align(encoded, sot, text_tokens, logprobs, size, language)
    for word in words:
        word.start = round(offset + word.start, 2)
        word.end = round(offset + word.end, 2)
    durations = [w.end - w.start for w in words if w.end > w.start]
    median = min(0.7, float(np.median(durations))) if durations else 0.0
    out_words: list[list[Word] | None] = []
    out_pieces = []
    for start, end, part in pieces:
        n_text = sum(1 for t in part if t < eot)
        taken, i = 0, 0
        while i < len(words) and taken < n_text:
            taken += len(words[i].tokens)
            i += 1
        mine, words = words[:i], words[i:]
        if mine:
            _trim_first_word_after_pause(mine, last_speech, median)
            first, last = mine[0], mine[-1]
            if start < first.end and start - 0.5 > first.start:
                first.start = max(0.0, min(first.end - median, start))
            else:
                start = first.start
            if end > last.start and end + 0.5 < last.end:
                last.end = max(last.start + median, end)
            else:
                end = last.end
            last_speech = end
        out_words.append(mine)
        out_pieces.append((start, end, part))
    return out_words, out_pieces


def transcribe_options(language: str | None = None, word_timestamps: bool = False, **decoding: Any
                       ) -> TranscribeOptions:
    """Options with ``decoding`` naming ``DecodingOptions`` fields (``dataclasses.replace`` checks the names)."""
    return TranscribeOptions(language=language, word_timestamps=word_timestamps,
                             decoding=replace(DecodingOptions(), **decoding))
