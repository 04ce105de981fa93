"""Answers the core's decode requests with the Whisper engine."""

from __future__ import annotations

import math

from stenod.core.requests import DecodeRequest, DecodeResponse, HypWord
from stenod.engine.decoding import DecodingOptions
from stenod.engine.whisper import WhisperEngine

PARTIAL_OPTIONS = DecodingOptions(temperature=(0.0,))  # partials are cheap guesses: no fallback


class WhisperRecognizer:
    """Partials: the short-window encoder, no fallback (the core trims a runaway guess), words split from tokens.

    Finals: the full window, temperature fallback and word times from the alignment heads. The forced prefix
    is in every answer.
    """

    def __init__(self, engine: WhisperEngine) -> None:
        self.engine = engine
        self.calls = 0

    def __call__(self, request: DecodeRequest) -> DecodeResponse:
        self.calls += 1
        try:
            return self._decode(request)
        except Exception as exc:  # a failing decode must not take the stream down
            return DecodeResponse(request.id, (), error=f"{type(exc).__name__}: {exc}")

    def _decode(self, request: DecodeRequest) -> DecodeResponse:
        window = self.engine.decode_window(request.audio, full=request.final, language=request.language,
                                           previous=list(request.prompt), prefix=list(request.prefix),
                                           word_timestamps=request.final,
                                           options=None if request.final else PARTIAL_OPTIONS,
                                           fallback=request.final)
        result = window.result
        if window.words is not None:
            words = tuple(HypWord(w.word, tuple(w.tokens), w.probability, w.start, w.end) for w in window.words)
        else:
            tokens = [*window.prefix, *result.tokens]
            logprobs = [0.0] * len(window.prefix) + result.token_logprobs
            texts, groups = self.engine.tokenizer.split_to_word_tokens(tokens, window.language)
            words_list = []
            at = 0
            for text, group in zip(texts, groups):
                chunk = logprobs[at:at + len(group)]
                at += len(group)
                words_list.append(HypWord(text, tuple(group), math.exp(sum(chunk) / max(1, len(chunk)))))
            words = tuple(words_list)
        return DecodeResponse(request.id, words, language=window.language, no_speech_prob=result.no_speech_prob,
                              avg_logprob=result.avg_logprob, compression_ratio=result.compression_ratio)
