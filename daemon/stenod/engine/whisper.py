"""The Whisper engine: one model loaded once, decoding 30 s windows or short utterance windows."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.engine.alignment import Word, align_words
from stenod.engine.cache import Converted, ensure_converted
from stenod.engine.decoding import DecodeResult, DecodingOptions, build_prompt, decode_with_fallback, log_softmax
from stenod.engine.mel import N_FRAMES, log_mel, pad_or_trim
from stenod.engine.models import resolve
from stenod.engine.runtime import DecoderState, Runtime
from stenod.engine.tokenizer import WhisperTokenizer

SHORT_WINDOW_TAIL_FRAMES = 100  # 1 s of silence after a short window keeps the decoder from running on
SHORT_WINDOW_MIN_FRAMES = 600  # under 6 s in all, the decoder loops far more often ("she had it, she had it…")


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class _Runner:
    """Adapts the runtime to decoding's ``StepRunner`` for one encoded window."""

    def __init__(self, runtime: Runtime, encoded: DecoderState) -> None:
        self.runtime = runtime
        self.encoded = encoded

    def fresh(self) -> DecoderState:
        return DecoderState(cross=self.encoded.cross, frames=self.encoded.frames)

    def step(self, state: object, tokens: list[int]) -> np.ndarray:
        assert isinstance(state, DecoderState)
        return self.runtime.step(state, tokens)[0]

    def fork(self, state: object) -> DecoderState:
        assert isinstance(state, DecoderState)  # a step replaces the caches, never writes into them
        return DecoderState(cross=state.cross, frames=state.frames, self_cache=dict(state.self_cache),
                            length=state.length)


@dataclass
class WindowResult:
    """One decoded window: text tokens (after any forced prefix), scores and, if asked, words."""

    result: DecodeResult
    prefix: list[int]
    words: list[Word] | None
    language: str
    short_window: bool
    repetition: bool = False


def has_repetition(tokens: list[int], min_repeats: int = 3, max_ngram: int = 8) -> bool:
    """True if the tail is one n-gram (n ≤ ``max_ngram``) repeated ``min_repeats`` times or more."""
    for n in range(1, max_ngram + 1):
        if len(tokens) < n * min_repeats:
            break
        gram = tokens[-n:]
        if all(tokens[-(k + 1) * n: len(tokens) - k * n] == gram for k in range(min_repeats)):
            return True
    return False


class WhisperEngine:
    """Whisper on ONNX Runtime. Sessions are created once and reused."""

    def __init__(self, converted: Converted, precision: str = "int8", threads: int | None = None) -> None:
        self.converted = converted
        self.precision = precision
        self.name: str = converted.manifest["name"]
        self.dims = converted.dims
        self.threads = threads or default_threads()
        encoder, decoder = converted.graphs(precision)
        converted.check_sizes(precision)
        self.runtime = Runtime(encoder, decoder, self.dims.n_decoder_layers, self.dims.n_heads,
                               self.dims.d_head, self.threads)
        vocabulary = converted.directory / "vocabulary.txt"
        self.tokenizer = WhisperTokenizer(converted.directory / "tokenizer.json", self.dims.n_vocab,
                                          vocabulary if vocabulary.is_file() else None)
        self.config = json.loads((converted.directory / "config.json").read_text() or "{}")
        self.n_skip_alignment = 0

    @classmethod
    def load(cls, model: str | os.PathLike[str] | None = None, precision: str = "int8",
             threads: int | None = None) -> WhisperEngine:
        """Resolve, convert (first time only) and open a model."""
        return cls(ensure_converted(resolve(model), precision), precision, threads)

    @property
    def multilingual(self) -> bool:
        return self.tokenizer.multilingual

    # Building blocks -----------------------------------------------------------------
    def features(self, audio: np.ndarray) -> np.ndarray:
        return log_mel(audio, self.dims.n_mels)

    def encode(self, mel: np.ndarray) -> DecoderState:
        return self.runtime.encode(mel)

    def detect_language(self, encoded: DecoderState) -> tuple[str, float]:
        """Most likely language from the first step after ``<|startoftranscript|>``."""
        if not self.multilingual:
            return "en", 1.0
        logits, _ = self.runtime.step(DecoderState(cross=encoded.cross, frames=encoded.frames), [self.tokenizer.sot])
        codes = list(self.tokenizer.languages)
        ids = np.array([self.tokenizer.languages[c] for c in codes])
        probs = np.exp(log_softmax(logits[ids]))
        best = int(np.argmax(probs))
        return codes[best], float(probs[best])

    def decode(self, encoded: DecoderState, prompt: list[int], options: DecodingOptions) -> DecodeResult:
        return decode_with_fallback(_Runner(self.runtime, encoded), self.tokenizer, prompt, options,
                                    self.dims.n_vocab, self.dims.n_text_ctx)

    def align(self, encoded: DecoderState, sot_sequence: list[int], text_tokens: list[int],
              token_logprobs: list[float], n_frames: int, language: str | None) -> list[Word]:
        """Word timings (seconds from the window start) for ``text_tokens`` over ``n_frames`` mel frames."""
        text_tokens = [t for t in text_tokens if t < self.tokenizer.eot]
        if not text_tokens:
            return []
        tokens = [*sot_sequence, self.tokenizer.no_timestamps, *text_tokens, self.tokenizer.eot]
        _, attention = self.runtime.step(DecoderState(cross=encoded.cross, frames=encoded.frames), tokens,
                                         want_alignment=True)
        assert attention is not None
        return align_words(self.tokenizer, text_tokens, token_logprobs, attention,
                           min(encoded.frames, n_frames // 2), len(sot_sequence), language)

    # Utterance windows ----------------------------------------------------------------
    def decode_window(self, audio: np.ndarray, *, full: bool = True, language: str | None = None,
                      previous: list[int] | None = None, prefix: list[int] | None = None,
                      word_timestamps: bool = False, options: DecodingOptions | None = None,
                      fallback: bool = True, task: str = "transcribe") -> WindowResult:
        """Decode one utterance (≤ 30 s) without timestamps.

        ``full=False`` encodes only the audio plus a silent tail (at least 1 s, 6 s in all; much cheaper than
        30 s), with a token cap;
        if that output repeats itself, the full 30 s window is decoded instead, or, with ``fallback=False``,
        the short window's answer comes back flagged ``repetition``. ``prefix`` tokens are
        forced, so the result extends them; ``previous`` is the prompt of earlier text.
        """
        options = replace(options or DecodingOptions(), without_timestamps=True)
        mel = self.features(audio)
        n_frames = min(mel.shape[-1] - 1, N_FRAMES)
        seconds = len(audio) / SAMPLE_RATE
        if not full:
            frames = min(N_FRAMES, max(n_frames + SHORT_WINDOW_TAIL_FRAMES, SHORT_WINDOW_MIN_FRAMES))
            frames += frames % 2
            cap = int(8 + 5 * seconds)
            short_opts = replace(options, max_new_tokens=cap if options.max_new_tokens is None
                                 else min(cap, options.max_new_tokens), temperature=(0.0,))
            window = self._decode_mel(pad_or_trim(mel[:, :n_frames], frames), n_frames, language, previous,
                                      prefix, word_timestamps, short_opts, task)
            window.short_window = True
            if not (has_repetition(window.result.tokens) or len(window.result.tokens) >= cap
                    or window.result.compression_ratio > 2.4):
                return window
            if not fallback:
                window.repetition = True
                return window
            full_window = self._decode_mel(pad_or_trim(mel[:, :n_frames]), n_frames, language, previous, prefix,
                                           word_timestamps, options, task)
            full_window.repetition = True
            return full_window
        return self._decode_mel(pad_or_trim(mel[:, :n_frames]), n_frames, language, previous, prefix,
                                word_timestamps, options, task)

    def _decode_mel(self, mel: np.ndarray, n_frames: int, language: str | None, previous: list[int] | None,
                    prefix: list[int] | None, word_timestamps: bool, options: DecodingOptions,
                    task: str = "transcribe") -> WindowResult:
        return self.decode_encoded(self.encode(mel), n_frames, language=language, previous=previous,
                                   prefix=prefix, word_timestamps=word_timestamps, options=options, task=task)

    def encode_window(self, audio: np.ndarray) -> tuple[DecoderState, int]:
        """A full window's encoder output and its count of mel frames with audio, for :meth:`decode_encoded`."""
        mel = self.features(audio)
        n_frames = min(mel.shape[-1] - 1, N_FRAMES)
        return self.encode(pad_or_trim(mel[:, :n_frames])), n_frames

    def decode_encoded(self, encoded: DecoderState, n_frames: int, *, language: str | None = None,
                       previous: list[int] | None = None, prefix: list[int] | None = None,
                       word_timestamps: bool = False, options: DecodingOptions | None = None,
                       task: str = "transcribe") -> WindowResult:
        """Decode an encoded window without timestamps (``decode_window`` with ``full=True``, in two halves
        that may run on different threads)."""
        options = replace(options or DecodingOptions(), without_timestamps=True)
        if language is None:
            language, _ = self.detect_language(encoded)
        sot = self.tokenizer.sot_sequence(language, task)
        prompt = build_prompt(self.tokenizer, sot, previous or (), prefix or (), options.without_timestamps,
                              self.dims.n_text_ctx)
        result = self.decode(encoded, prompt, options)
        words = None
        if word_timestamps:
            words = self.align(encoded, sot, [*(prefix or []), *result.tokens],
                               [0.0] * len(prefix or []) + result.token_logprobs, n_frames, language)
        return WindowResult(result, list(prefix or []), words, language, short_window=False)
