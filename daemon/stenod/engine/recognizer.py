"""Answers the core's decode requests with the Whisper engine (and, optionally, a second one for finals)."""

from __future__ import annotations

import math
from dataclasses import replace

from stenod.core.requests import DecodeRequest, DecodeResponse, HypWord
from stenod.engine.alignment import Word
from stenod.engine.decoding import DecodingOptions
from stenod.engine.tokenizer import WhisperTokenizer
from stenod.engine.whisper import WhisperEngine, WindowResult

PARTIAL_OPTIONS = DecodingOptions(temperature=(0.0,))  # partials are cheap guesses: no fallback


class WhisperRecognizer:
    """Partials: the short-window encoder, no fallback (the core trims a runaway guess), words split from tokens.

    Finals: the full window, temperature fallback (beam search at temperature 0 when ``final_beam`` > 1) and
    word times from the alignment heads, on ``final_engine`` when one is given (a larger model: partials stay
    on the small one). The forced prefix is in every answer. The core's tokens are always ``engine``'s: a
    final engine with another vocabulary gets the prefix and prompt as text and answers in ``engine``'s tokens.
    """

    def __init__(self, engine: WhisperEngine, final_engine: WhisperEngine | None = None, final_beam: int = 1,
                 prompt_text: str = "") -> None:
        self.engine = engine
        self.final_engine = final_engine or engine
        self.final_options = DecodingOptions(beam_size=max(1, final_beam))
        self.calls = 0
        self.beam_reason = ""  # why the finals' beam is what it is (shown by `stenod config show`)
        self._prompt_ids: dict[int, list[int]] = {}
        self.set_prompt(prompt_text)

    def set_prompt(self, text: str) -> None:
        """Text put before the earlier finals in every decode's prompt (the vocabulary, the command words)."""
        self.prompt_text = " ".join(text.split())
        self._prompt_ids = {id(e): e.tokenizer.encode(" " + self.prompt_text) if self.prompt_text else []
                            for e in (self.engine, self.final_engine)}

    @property
    def name(self) -> str:
        if self.final_engine is self.engine:
            return self.engine.name
        return f"{self.engine.name} (finals: {self.final_engine.name})"

    def __call__(self, request: DecodeRequest) -> DecodeResponse:
        self.calls += 1
        try:
            if request.final and self.final_engine is not self.engine:
                return self._decode_final_elsewhere(request)
            return self._decode(request)
        except Exception as exc:  # a failing decode must not take the stream down
            return DecodeResponse(request.id, (), error=f"{type(exc).__name__}: {exc}")

    def _previous(self, engine: WhisperEngine, prompt: list[int]) -> list[int]:
        """The prompt of earlier text: the user's vocabulary first, then the latest finals."""
        fixed = self._prompt_ids[id(engine)]
        return [*fixed, *prompt] if fixed else prompt

    def _window(self, engine: WhisperEngine, request: DecodeRequest, prompt: list[int], prefix: list[int]
                ) -> WindowResult:
        options = self.final_options if request.final else PARTIAL_OPTIONS
        return engine.decode_window(request.audio, full=request.final, language=request.language,
                                    previous=self._previous(engine, prompt), prefix=prefix,
                                    word_timestamps=request.final, options=options, fallback=request.final)

    def _decode(self, request: DecodeRequest) -> DecodeResponse:
        window = self._window(self.engine, request, list(request.prompt), list(request.prefix))
        if window.words is not None:
            words = tuple(HypWord(w.word, tuple(w.tokens), w.probability, w.start, w.end) for w in window.words)
        else:
            words = _words_from_tokens(self.engine.tokenizer, window)
        return _response(request, window, words)

    def _decode_final_elsewhere(self, request: DecodeRequest) -> DecodeResponse:
        """A final on the other engine: prefix and prompt carried over as text, words brought back as text."""
        source, target = self.engine.tokenizer, self.final_engine.tokenizer
        prefix = _retokenize(source, target, list(request.prefix))
        window = self._window(self.final_engine, request, _retokenize(source, target, list(request.prompt)), prefix)
        assert window.words is not None
        committed = _split(source, list(request.prefix), window.language)
        spoken, covered = _words_covering(window.words, len(prefix))
        if len(spoken) == len(committed):  # the same words: keep the core's tokens, take the new times
            head = [replace(c, probability=w.probability, start=w.start, end=w.end) for c, w in zip(committed, spoken)]
        else:
            head = committed
        tail = [HypWord(w.word, tuple(source.encode(w.word)), w.probability, w.start, w.end)
                for w in window.words[covered:]]
        return _response(request, window, tuple([*head, *tail]))


def _response(request: DecodeRequest, window: WindowResult, words: tuple[HypWord, ...]) -> DecodeResponse:
    result = window.result
    return DecodeResponse(request.id, words, language=window.language, no_speech_prob=result.no_speech_prob,
                          avg_logprob=result.avg_logprob, compression_ratio=result.compression_ratio)


def _words_from_tokens(tokenizer: WhisperTokenizer, window: WindowResult) -> tuple[HypWord, ...]:
    tokens = [*window.prefix, *window.result.tokens]
    logprobs = [0.0] * len(window.prefix) + window.result.token_logprobs
    texts, groups = tokenizer.split_to_word_tokens(tokens, window.language)
    words = []
    at = 0
    for text, group in zip(texts, groups):
        chunk = logprobs[at:at + len(group)]
        at += len(group)
        words.append(HypWord(text, tuple(group), math.exp(sum(chunk) / max(1, len(chunk)))))
    return tuple(words)


def _retokenize(source: WhisperTokenizer, target: WhisperTokenizer, tokens: list[int]) -> list[int]:
    if not tokens or source is target:
        return tokens
    return target.encode(source.decode(tokens))


def _split(tokenizer: WhisperTokenizer, tokens: list[int], language: str) -> list[HypWord]:
    texts, groups = tokenizer.split_to_word_tokens(tokens, language)
    return [HypWord(text, tuple(group)) for text, group in zip(texts, groups)]


def _words_covering(words: list[Word], n_tokens: int) -> tuple[list[Word], int]:
    """The leading words whose tokens are exactly the first ``n_tokens`` (none if no word ends there)."""
    total = 0
    for index, word in enumerate(words):
        if total == n_tokens:
            return words[:index], index
        total += len(word.tokens)
    return (list(words), len(words)) if total == n_tokens else ([], _first_after(words, n_tokens))


def _first_after(words: list[Word], n_tokens: int) -> int:
    total = 0
    for index, word in enumerate(words):
        total += len(word.tokens)
        if total >= n_tokens:
            return index + 1
    return len(words)
