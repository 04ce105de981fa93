"""Greedy / sampled decoding with Whisper's logit rules and faster-whisper's fallback guards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from stenod.core.guards import compression_ratio
from stenod.engine.tokenizer import TIME_PRECISION, WhisperTokenizer


class StepRunner(Protocol):
    """What decoding needs from a model: feed tokens after a state, get the last logits."""

    def fresh(self) -> object: ...

    def step(self, state: object, tokens: list[int]) -> np.ndarray: ...

    def fork(self, state: object) -> object:
        """A copy of ``state`` that later steps on either leave the other alone."""
        ...


@dataclass(frozen=True)
class DecodingOptions:
    """Decoding settings, named as in faster-whisper's ``transcribe``."""

    temperature: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    best_of: int = 5
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    suppress_blank: bool = True
    suppress_tokens: Sequence[int] = (-1,)
    without_timestamps: bool = False
    max_initial_timestamp: float = 1.0
    max_new_tokens: int | None = None
    seed: int = 0
    beam_size: int = 1  # above 1: beam search at temperature 0 (sampling above it, as Whisper does)
    patience: float = 1.0  # beam search stops after beam_size × patience finished candidates


@dataclass
class DecodeResult:
    tokens: list[int]
    sum_logprob: float
    token_logprobs: list[float]
    no_speech_prob: float
    temperature: float = 0.0
    text: str = ""
    compression_ratio: float = 0.0

    @property
    def avg_logprob(self) -> float:
        # Counts the end-of-text token too, as faster-whisper's score does.
        return self.sum_logprob / (len(self.tokens) + 1)



def logsumexp(x: np.ndarray) -> float:
    top = float(np.max(x))
    if top == -np.inf:
        return top
    return top + float(np.log(np.sum(np.exp(x - top))))


def log_softmax(x: np.ndarray) -> np.ndarray:
    return x - logsumexp(x)


class LogitRules:
    """The per-step masks: suppressed ids, blank at the start, Whisper's timestamp grammar."""

    def __init__(self, tokenizer: WhisperTokenizer, n_vocab: int, options: DecodingOptions) -> None:
        self.tok = tokenizer
        self.suppress = np.array(tokenizer.suppressed(tuple(options.suppress_tokens)), dtype=np.int64)
        self.suppress = self.suppress[self.suppress < n_vocab]
        self.blank = np.array(tokenizer.encode(" ") + [tokenizer.eot], dtype=np.int64)
        self.suppress_blank = options.suppress_blank
        self.timestamps = not options.without_timestamps
        self.max_initial = int(round(options.max_initial_timestamp / TIME_PRECISION))

    def apply(self, logits: np.ndarray, generated: list[int], forced: Sequence[int] = ()) -> np.ndarray:
        """Mask ``logits`` for the next token after ``forced`` (a given prefix) and ``generated``."""
        logits = logits.astype(np.float32, copy=False)  # masked in place: each step's logits are fresh
        logits[self.suppress] = -np.inf
        if self.suppress_blank and not generated:
            logits[self.blank] = -np.inf
        if self.timestamps:
            self._timestamp_rules(logits, [*forced, *generated])
        else:
            logits[self.tok.no_timestamps:] = -np.inf
        return logits

    def _timestamp_rules(self, logits: np.ndarray, seq: list[int]) -> None:
        ts = self.tok.timestamp_begin
        eot = self.tok.eot
        logits[self.tok.no_timestamps] = -np.inf
        last_ts = len(seq) >= 1 and seq[-1] >= ts
        penultimate_ts = len(seq) < 2 or seq[-2] >= ts
        if last_ts:
            if penultimate_ts:
                logits[ts:] = -np.inf  # a pair is closed: text must follow
            else:
                logits[:eot] = -np.inf  # an open pair: close it or end
        stamps = [t for t in seq if t >= ts]
        if stamps:
            logits[ts:stamps[-1]] = -np.inf  # timestamps never go back
        if not seq:
            logits[:ts] = -np.inf  # the first token is a timestamp
            logits[ts + self.max_initial + 1:] = -np.inf
        # Comparing in logit space is the same as in log-probability space (one shared normaliser).
        if logsumexp(logits[ts:]) > np.max(logits[:ts]):
            logits[:ts] = -np.inf


def _no_speech_probability(logits: np.ndarray, no_speech: int) -> float:
    return float(np.exp(log_softmax(logits)[no_speech]))


@dataclass
class _Primed:
    """The decoder after the prompt: its state, the next logits, the forced tail and the no-speech probability."""

    state: object
    logits: np.ndarray
    forced: list[int]
    no_speech: float


def _prime(runner: StepRunner, tokenizer: WhisperTokenizer, prompt: list[int]) -> _Primed:
    state = runner.fresh()
    sot_at = prompt.index(tokenizer.sot)
    begin = sot_at + 1
    while begin < len(prompt) and tokenizer.eot <= prompt[begin] < tokenizer.timestamp_begin:
        begin += 1  # language, task and no-timestamps tokens
    logits = runner.step(state, prompt[: sot_at + 1])
    no_speech = _no_speech_probability(logits, tokenizer.no_speech)
    if sot_at + 1 < len(prompt):
        logits = runner.step(state, prompt[sot_at + 1:])
    return _Primed(state, logits, prompt[begin:], no_speech)


def _finish(tokenizer: WhisperTokenizer, result: DecodeResult) -> DecodeResult:
    result.text = tokenizer.decode(result.tokens).strip()
    result.compression_ratio = compression_ratio(result.text)
    return result


@dataclass
class _Hypothesis:
    tokens: list[int]
    logprobs: list[float]
    total: float
    state: object
    logits: np.ndarray | None = None


def decode_beam(runner: StepRunner, tokenizer: WhisperTokenizer, prompt: list[int], rules: LogitRules,
                beam_size: int, max_new_tokens: int, patience: float = 1.0) -> DecodeResult:
    """Beam search at temperature 0, ranked by log-probability over length as Whisper ranks it.

    Each live hypothesis keeps its own decoder state; a step expands every one by its best
    ``beam_size + 1`` tokens and keeps the ``beam_size`` best unfinished ones; an ending counts as a
    candidate only if it ranks above the last of those. It stops when ``beam_size × patience`` candidates
    have ended or at the token cap.
    """
    primed = _prime(runner, tokenizer, prompt)
    live = [_Hypothesis([], [], 0.0, primed.state, primed.logits)]
    finished: list[_Hypothesis] = []
    wanted = max(1, round(beam_size * patience))
    for _ in range(max_new_tokens):
        candidates: list[tuple[float, int, int, float]] = []  # (total, parent, token, logprob)
        for index, hyp in enumerate(live):
            assert hyp.logits is not None
            logprobs = log_softmax(rules.apply(hyp.logits, hyp.tokens, primed.forced))
            for token in np.argsort(logprobs)[::-1][:beam_size + 1]:
                if np.isfinite(logprobs[token]):
                    candidates.append((hyp.total + float(logprobs[token]), index, int(token), float(logprobs[token])))
        candidates.sort(key=lambda c: -c[0])
        chosen: list[_Hypothesis] = []
        for total, parent, token, logprob in candidates:  # best first, down to the beam_size-th to go on
            source = live[parent]
            if token == tokenizer.eot:
                if len(finished) < wanted:
                    finished.append(_Hypothesis(source.tokens, source.logprobs, total, source.state))
                continue
            chosen.append(_Hypothesis([*source.tokens, token], [*source.logprobs, logprob], total,
                                      runner.fork(source.state)))
            if len(chosen) == beam_size:
                break
        if len(finished) >= wanted or not chosen:
            break
        for hyp in chosen:
            hyp.logits = runner.step(hyp.state, [hyp.tokens[-1]])
        live = chosen
    pool = finished or live
    best = max(pool, key=lambda h: h.total / max(1, len(h.tokens)))
    return _finish(tokenizer, DecodeResult(best.tokens, best.total, best.logprobs, primed.no_speech, 0.0))


def decode_once(runner: StepRunner, tokenizer: WhisperTokenizer, prompt: list[int], rules: LogitRules,
                temperature: float, max_new_tokens: int, rng: np.random.Generator) -> DecodeResult:
    """One pass: feed the prompt, then pick tokens until end-of-text or the cap."""
    primed = _prime(runner, tokenizer, prompt)
    state, logits, forced, no_speech = primed.state, primed.logits, primed.forced, primed.no_speech
    tokens: list[int] = []
    logprobs: list[float] = []
    total = 0.0
    for _ in range(max_new_tokens):
        masked = rules.apply(logits, tokens, forced)
        if temperature > 0:
            probs = np.exp(log_softmax(masked / np.float32(temperature)).astype(np.float64))
            token = int(rng.choice(probs.size, p=probs / probs.sum()))
        else:
            token = int(np.argmax(masked))
        logprob = float(masked[token]) - logsumexp(masked)
        total += logprob
        if token == tokenizer.eot:
            break
        tokens.append(token)
        logprobs.append(logprob)
        if len(tokens) == max_new_tokens:
            break
        logits = runner.step(state, [token])
    return _finish(tokenizer, DecodeResult(tokens, total, logprobs, no_speech, temperature))


def is_silence(result: DecodeResult, options: DecodingOptions) -> bool:
    """faster-whisper's rule: high no-speech probability, unless the text is confident."""
    if options.no_speech_threshold is None or result.no_speech_prob <= options.no_speech_threshold:
        return False
    return options.log_prob_threshold is None or result.avg_logprob <= options.log_prob_threshold


def decode_with_fallback(runner: StepRunner, tokenizer: WhisperTokenizer, prompt: list[int],
                         options: DecodingOptions, n_vocab: int, n_text_ctx: int) -> DecodeResult:
    """Decode at increasing temperatures until the compression-ratio and log-prob gates pass."""
    rules = LogitRules(tokenizer, n_vocab, options)
    room = min(n_text_ctx // 2, n_text_ctx - len(prompt))  # at most half the context, as Whisper does
    limit = room if options.max_new_tokens is None else min(room, options.max_new_tokens)
    if limit <= 0:
        raise ValueError(f"prompt of {len(prompt)} tokens leaves no room in a {n_text_ctx}-token context")
    rng = np.random.default_rng(options.seed)
    tried: list[DecodeResult] = []
    passing_ratio: list[DecodeResult] = []
    for temperature in options.temperature:
        if temperature == 0 and options.beam_size > 1:
            result = decode_beam(runner, tokenizer, prompt, rules, options.beam_size, limit, options.patience)
        else:
            candidates = options.best_of if temperature > 0 else 1
            runs = [decode_once(runner, tokenizer, prompt, rules, temperature, limit, rng) for _ in range(candidates)]
            result = max(runs, key=lambda r: r.sum_logprob)
        tried.append(result)
        retry = False
        if (options.compression_ratio_threshold is not None
                and result.compression_ratio > options.compression_ratio_threshold):
            retry = True
        else:
            passing_ratio.append(result)
        if options.log_prob_threshold is not None and result.avg_logprob < options.log_prob_threshold:
            retry = True
        if is_silence(result, options):
            retry = False
        if not retry:
            return result
    best = max(passing_ratio or tried, key=lambda r: r.avg_logprob)
    best.temperature = tried[-1].temperature
    return best


def build_prompt(tokenizer: WhisperTokenizer, sot_sequence: list[int], previous: Sequence[int] = (),
                 prefix: Sequence[int] = (), without_timestamps: bool = False, n_text_ctx: int = 448) -> list[int]:
    """``[sot_prev, previous…, sot…, (notimestamps), (timestamp 0), prefix…]`` as faster-whisper lays it out."""
    half = n_text_ctx // 2 - 1
    prompt: list[int] = []
    if previous:
        prompt += [tokenizer.sot_prev, *list(previous)[-half:]]
    prompt += sot_sequence
    if without_timestamps:
        prompt.append(tokenizer.no_timestamps)
    if prefix:
        if not without_timestamps:
            prompt.append(tokenizer.timestamp_begin)
        prompt += list(prefix)[:half]
    return prompt
