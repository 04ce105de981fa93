"""Decoding rules and fallback, driven by a scripted fake ``StepRunner`` and the real tiny.en tokenizer."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.transcribe import get_compression_ratio

from stenod.engine.decoding import (
    DecodeResult,
    DecodingOptions,
    LogitRules,
    build_prompt,
    compression_ratio,
    decode_beam,
    decode_once,
    decode_with_fallback,
    is_silence,
)
from stenod.engine.tokenizer import WhisperTokenizer
from stenod.engine.whisper import has_repetition

V = 51864
CTX = 448


@dataclass
class State:
    pass_index: int
    history: list[int] = field(default_factory=list)


LogitFn = Callable[[list[int], int], np.ndarray]


class FakeRunner:
    """A scripted model: ``logits_for(history, pass_index)`` gives the logits after ``history``."""

    def __init__(self, logits_for: LogitFn) -> None:
        self.logits_for = logits_for
        self.passes = 0
        self.feeds: list[list[int]] = []

    def fresh(self) -> State:
        self.passes += 1
        return State(self.passes - 1)

    def step(self, state: object, tokens: list[int]) -> np.ndarray:
        assert isinstance(state, State)
        assert tokens, "a step must feed at least one token"
        state.history.extend(tokens)
        self.feeds.append(list(tokens))
        logits = self.logits_for(list(state.history), state.pass_index)
        assert logits.shape == (V,)
        return logits.astype(np.float32)

    def fork(self, state: object) -> State:
        assert isinstance(state, State)
        return State(state.pass_index, list(state.history))


def peaked(*boosts: tuple[int, float], base: np.ndarray | None = None) -> np.ndarray:
    logits = np.zeros(V, np.float32) if base is None else base.astype(np.float32, copy=True)
    for token, value in boosts:
        logits[token] = value
    return logits


def scripted(prompt_len: int, scripts: Callable[[int], Sequence[int]], eot: int, strength: float = 100.0
             ) -> LogitFn:
    """Emit ``scripts(pass)`` one token per step with overwhelming confidence, then end-of-text."""

    def logits_for(history: list[int], pass_index: int) -> np.ndarray:
        script = scripts(pass_index)
        n = len(history) - prompt_len
        if n < 0:
            return np.zeros(V, np.float32)
        return peaked((script[n] if n < len(script) else eot, strength))

    return logits_for


@pytest.fixture(scope="module")
def tok(tiny_tokenizer: WhisperTokenizer) -> WhisperTokenizer:
    return tiny_tokenizer


@pytest.fixture(scope="module")
def config_suppress_ids(tiny_model_dir: Path) -> set[int]:
    return set(json.loads((tiny_model_dir / "config.json").read_text())["suppress_ids"])


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    finite = x[np.isfinite(x)]
    return x - (finite.max() + np.log(np.exp(finite - finite.max()).sum()))


def _no_ts(**kw: object) -> DecodingOptions:
    return DecodingOptions(without_timestamps=True, **kw)  # type: ignore[arg-type]


# Greedy decoding and masks ------------------------------------------------------------------------------------


def test_greedy_picks_the_argmax_of_the_allowed_tokens(tok: WhisperTokenizer, config_suppress_ids: set[int]) -> None:
    prompt = [tok.sot, tok.no_timestamps]

    def logits_for(history: list[int], _: int) -> np.ndarray:
        return np.random.default_rng(len(history)).standard_normal(V).astype(np.float32) * 3

    runner = FakeRunner(logits_for)
    options = _no_ts()
    result = decode_once(runner, tok, prompt, LogitRules(tok, V, options), 0.0, 12, np.random.default_rng(0))
    assert len(result.tokens) == 12
    allowed = np.ones(V, bool)
    allowed[sorted(config_suppress_ids)] = False
    allowed[tok.no_timestamps:] = False
    expected_lp = []
    history = list(prompt)
    for i, token in enumerate(result.tokens):
        logits = logits_for(history, 0).astype(np.float64)
        mask = allowed.copy()
        if i == 0:
            mask[[220, tok.eot]] = False  # suppress_blank
        masked = np.where(mask, logits, -np.inf)
        assert token == int(np.argmax(masked)), i
        expected_lp.append(_log_softmax(masked)[token])
        history.append(token)
    np.testing.assert_allclose(result.token_logprobs, expected_lp, atol=1e-4)
    assert runner.feeds[0] == [tok.sot] and runner.feeds[1] == [tok.no_timestamps]
    assert runner.feeds[2:] == [[t] for t in result.tokens[:-1]]  # the capped last token is never fed


def test_suppressed_tokens_and_blank_are_never_chosen(tok: WhisperTokenizer, config_suppress_ids: set[int]) -> None:
    word = tok.encode(" hello")[0]
    prompt = [tok.sot, tok.no_timestamps]
    suppressed = sorted(config_suppress_ids)
    base = np.zeros(V, np.float32)
    base[suppressed] = 100.0

    def logits_for(history: list[int], _: int) -> np.ndarray:
        n = len(history) - len(prompt)
        if n == 0:
            return peaked((220, 50.0), (tok.eot, 50.0), (word, 10.0), base=base)
        if n == 1:
            return peaked((220, 50.0), (tok.eot, 40.0), base=base)
        return peaked((tok.eot, 50.0), base=base)

    result = decode_once(FakeRunner(logits_for), tok, prompt, LogitRules(tok, V, _no_ts()), 0.0, 10,
                         np.random.default_rng(0))
    assert result.tokens == [word, 220]  # blank is suppressed only at the first step
    assert not set(result.tokens) & config_suppress_ids


def test_suppress_blank_off_allows_blank_first(tok: WhisperTokenizer) -> None:
    word = tok.encode(" hello")[0]
    prompt = [tok.sot, tok.no_timestamps]

    def logits_for(history: list[int], _: int) -> np.ndarray:
        n = len(history) - len(prompt)
        return peaked((220, 50.0), (word, 10.0)) if n == 0 else peaked((tok.eot, 50.0))

    on = decode_once(FakeRunner(logits_for), tok, prompt, LogitRules(tok, V, _no_ts()), 0.0, 5,
                     np.random.default_rng(0))
    off = decode_once(FakeRunner(logits_for), tok, prompt, LogitRules(tok, V, _no_ts(suppress_blank=False)), 0.0, 5,
                      np.random.default_rng(0))
    assert on.tokens == [word]
    assert off.tokens == [220]


def test_extra_suppress_tokens(tok: WhisperTokenizer) -> None:
    a, b = tok.encode(" yes")[0], tok.encode(" no")[0]
    prompt = [tok.sot, tok.no_timestamps]

    def logits_for(history: list[int], _: int) -> np.ndarray:
        return peaked((a, 20.0), (b, 10.0)) if len(history) == 2 else peaked((tok.eot, 50.0))

    plain = decode_once(FakeRunner(logits_for), tok, prompt, LogitRules(tok, V, _no_ts()), 0.0, 5,
                        np.random.default_rng(0))
    extra = decode_once(FakeRunner(logits_for), tok, prompt, LogitRules(tok, V, _no_ts(suppress_tokens=(-1, a))),
                        0.0, 5, np.random.default_rng(0))
    assert plain.tokens == [a]
    assert extra.tokens == [b]


def test_without_timestamps_masks_timestamp_tokens(tok: WhisperTokenizer) -> None:
    word = tok.encode(" word")[0]
    ts = tok.timestamp_begin
    prompt = [tok.sot, tok.no_timestamps]

    def logits_for(history: list[int], _: int) -> np.ndarray:
        if len(history) >= 4:
            return peaked((tok.eot, 50.0))
        return peaked((ts, 100.0), (ts + 7, 100.0), (V - 1, 100.0), (tok.no_timestamps, 100.0), (word, 10.0))

    result = decode_once(FakeRunner(logits_for), tok, prompt, LogitRules(tok, V, _no_ts()), 0.0, 10,
                         np.random.default_rng(0))
    assert result.tokens == [word, word]
    rules = LogitRules(tok, V, _no_ts())
    masked = rules.apply(peaked((word, 1.0)), [word])
    assert np.isneginf(masked[tok.no_timestamps:]).all()
    assert np.isfinite(masked[word]) and np.isfinite(masked[tok.eot])


# Timestamp rules ------------------------------------------------------------------------------------------------


def test_first_token_is_a_timestamp_within_max_initial(tok: WhisperTokenizer) -> None:
    ts = tok.timestamp_begin
    word = tok.encode(" word")[0]
    rules = LogitRules(tok, V, DecodingOptions())
    masked = rules.apply(peaked((word, 100.0), (ts + 100, 50.0), (ts + 10, 5.0)), [])
    assert int(np.argmax(masked)) == ts + 10
    assert np.isneginf(masked[:ts]).all()
    assert np.isfinite(masked[ts: ts + 51]).all()  # 0.00 .. 1.00 s
    assert np.isneginf(masked[ts + 51:]).all()

    rules = LogitRules(tok, V, DecodingOptions(max_initial_timestamp=0.5))
    masked = rules.apply(np.zeros(V, np.float32), [])
    assert np.isfinite(masked[ts + 25]) and np.isneginf(masked[ts + 26])


def test_forced_prefix_counts_as_history(tok: WhisperTokenizer) -> None:
    ts = tok.timestamp_begin
    word = tok.encode(" word")[0]
    rules = LogitRules(tok, V, DecodingOptions())
    # after a forced [timestamp 0.10, word] the next token is no longer the "first" one
    masked = rules.apply(peaked((ts + 200, 10.0)), [], forced=[ts + 5, word])
    assert int(np.argmax(masked)) == ts + 200
    assert np.isneginf(masked[ts: ts + 5]).all()  # but it cannot go back before 0.10
    assert np.isfinite(masked[ts + 5])


def test_timestamp_pairs_and_monotonicity(tok: WhisperTokenizer) -> None:
    ts = tok.timestamp_begin
    a = tok.encode(" word")[0]
    rules = LogitRules(tok, V, DecodingOptions())

    def flat() -> np.ndarray:
        # apply() masks its argument in place: a fresh array each time. Timestamps are unlikely enough
        # (total mass log(1501) - 10 < 0) that the "timestamp mass beats text" rule stays out of the way.
        logits = np.zeros(V, np.float32)
        logits[ts:] = -10.0
        return logits

    # a lone initial timestamp: text must follow
    masked = rules.apply(flat(), [ts + 10])
    assert np.isneginf(masked[ts:]).all() and np.isfinite(masked[a])

    # text after a timestamp: later timestamps or more text. (Whisper also forbids the same timestamp
    # again here, CTranslate2 only earlier ones: ts + 10 itself is left unchecked.)
    masked = rules.apply(flat(), [ts + 10, a])
    assert np.isneginf(masked[ts: ts + 10]).all()
    assert np.isfinite(masked[ts + 11:]).all()
    assert np.isfinite(masked[a])

    # an open pair [.., text, ts]: close it (same or later timestamp) or end; no text
    masked = rules.apply(flat(), [ts + 10, a, ts + 20])
    assert np.isneginf(masked[: tok.eot]).all()
    assert np.isfinite(masked[tok.eot])
    assert np.isneginf(masked[ts + 19]) and np.isfinite(masked[ts + 20]) and np.isfinite(masked[ts + 21])

    # a closed pair: text (or eot) follows, no timestamp
    masked = rules.apply(flat(), [ts + 10, a, ts + 20, ts + 20])
    assert np.isneginf(masked[ts:]).all()
    assert np.isfinite(masked[a]) and np.isfinite(masked[tok.eot])

    # text after a closed pair: the next timestamp must be after the pair's
    masked = rules.apply(flat(), [ts + 10, a, ts + 20, ts + 20, a])
    assert np.isneginf(masked[ts: ts + 20]).all() and np.isfinite(masked[ts + 21])

    # never <|notimestamps|>
    for seq in ([], [ts], [ts, a], [ts, a, ts + 5]):
        assert np.isneginf(rules.apply(peaked((tok.no_timestamps, 100.0)), seq)[tok.no_timestamps])


def test_timestamp_probability_mass_beats_text(tok: WhisperTokenizer) -> None:
    ts = tok.timestamp_begin
    a = tok.encode(" word")[0]
    rules = LogitRules(tok, V, DecodingOptions())
    logits = np.full(V, -30.0, np.float32)
    logits[a] = 5.0
    logits[ts + 20: ts + 1000] = 0.0  # 980 timestamps: total log-mass ~ 6.9 > 5
    masked = rules.apply(logits.copy(), [ts, a])
    assert np.isneginf(masked[:ts]).all()
    assert ts + 20 <= int(np.argmax(masked)) < ts + 1000
    logits[a] = 8.0  # now the text token is more likely than all timestamps together
    masked = rules.apply(logits, [ts, a])
    assert int(np.argmax(masked)) == a


def test_decode_with_timestamps_follows_the_grammar(tok: WhisperTokenizer) -> None:
    ts = tok.timestamp_begin
    a = tok.encode(" word")[0]

    def logits_for(history: list[int], _: int) -> np.ndarray:
        return peaked((ts + 70, 30.0), (ts + 3, 20.0), (a, 25.0), (tok.eot, 10.0))

    rules = LogitRules(tok, V, DecodingOptions())
    result = decode_once(FakeRunner(logits_for), tok, [tok.sot], rules, 0.0, 5, np.random.default_rng(0))
    assert result.tokens == [ts + 3, a, ts + 70, ts + 70, a]
    assert result.text == "word word"


@pytest.mark.parametrize("seed", range(6))
def test_random_decoding_obeys_timestamp_invariants(tok: WhisperTokenizer, seed: int) -> None:
    ts = tok.timestamp_begin
    rng = np.random.default_rng(seed)
    words = np.array(tok.encode(" a b c d e f g h"))

    def logits_for(history: list[int], _: int) -> np.ndarray:
        r = np.random.default_rng(hash((seed, len(history))) & 0xFFFFFFFF)
        logits = np.full(V, -20.0, np.float32)
        logits[words] = r.normal(0, 2, words.size)
        logits[ts:] = r.normal(-4, 3, V - ts)
        logits[tok.eot] = -3.0
        return logits

    rules = LogitRules(tok, V, DecodingOptions())
    for temperature in (0.0, 1.0):
        result = decode_once(FakeRunner(logits_for), tok, [tok.sot], rules, temperature, 40, rng)
        seq = result.tokens
        assert seq and ts <= seq[0] <= ts + 50
        stamps = [t for t in seq if t >= ts]
        assert stamps == sorted(stamps)
        for i in range(1, len(seq)):
            prev_ts = seq[i - 1] >= ts
            prev2_ts = i < 2 or seq[i - 2] >= ts
            if prev_ts and prev2_ts:
                assert seq[i] < ts, (i, seq)  # after a closed pair comes text
            elif prev_ts:
                assert seq[i] >= ts, (i, seq)  # an open pair is closed (or decoding ends)
                assert seq[i] >= seq[i - 1]
            elif seq[i] >= ts:
                earlier = [t for t in seq[:i] if t >= ts]
                assert seq[i] >= earlier[-1], (i, seq)  # a new segment does not start before the last one


# Caps, gates and fallback -----------------------------------------------------------------------------------------


def test_max_new_tokens_cap(tok: WhisperTokenizer) -> None:
    words = tok.encode(" one two three four five six seven eight nine ten eleven twelve")
    prompt = [tok.sot, tok.no_timestamps]

    def logits_for(history: list[int], _: int) -> np.ndarray:
        return peaked((words[(len(history) - len(prompt)) % len(words)], 100.0))  # never ends

    options = _no_ts(max_new_tokens=5, temperature=(0.0,))
    result = decode_with_fallback(FakeRunner(logits_for), tok, prompt, options, V, CTX)
    assert result.tokens == words[:5]
    # the context limits too: a long prompt leaves room for only n_text_ctx - len(prompt) tokens
    long_prompt = [tok.sot_prev, *([words[0]] * (CTX - 4)), tok.sot, tok.no_timestamps]
    assert len(long_prompt) == CTX - 1
    runner = FakeRunner(lambda history, _: peaked((words[len(history) % len(words)], 100.0)))
    result = decode_with_fallback(runner, tok, long_prompt, _no_ts(temperature=(0.0,)), V, CTX)
    assert len(result.tokens) == 1
    with pytest.raises(ValueError, match="no room"):
        decode_with_fallback(FakeRunner(logits_for), tok, prompt, options, V, len(prompt))


def test_default_token_cap_is_half_the_text_context(tok: WhisperTokenizer) -> None:
    """Without max_new_tokens, one window yields at most n_text_ctx // 2 = 224 tokens.

    That is OpenAI Whisper's ``sample_len = n_text_ctx // 2`` and CTranslate2's
    ``max_length = min(max_length / 2, max_length - start_step)`` (src/models/whisper.cc), which
    faster-whisper relies on: a hallucination loop stops after 224 tokens, not after 446.
    """
    words = tok.encode(" one two three four five six seven eight nine ten eleven twelve")
    prompt = [tok.sot, tok.no_timestamps]

    def logits_for(history: list[int], _: int) -> np.ndarray:
        return peaked((words[(len(history) - len(prompt)) % len(words)], 100.0))  # never ends

    options = _no_ts(temperature=(0.0,), compression_ratio_threshold=None, log_prob_threshold=None)
    result = decode_with_fallback(FakeRunner(logits_for), tok, prompt, options, V, CTX)
    assert len(result.tokens) == CTX // 2


def test_compression_ratio() -> None:
    repetitive = " ".join(["the same words again"] * 20)
    assert compression_ratio(repetitive) > 2.4
    normal = "And so my fellow Americans, ask not what your country can do for you."
    assert compression_ratio(normal) < 2.4
    assert compression_ratio("") == 0.0
    for text in (repetitive, normal, "üñíçødé ✓ " * 5):
        assert math.isclose(compression_ratio(text), get_compression_ratio(text))


def _two_pass_runner(tok: WhisperTokenizer, prompt: list[int], first: Sequence[int], later: Sequence[int],
                     first_strength: float = 100.0) -> FakeRunner:
    def logits_for(history: list[int], pass_index: int) -> np.ndarray:
        script = first if pass_index == 0 else later
        strength = first_strength if pass_index == 0 else 100.0
        n = len(history) - len(prompt)
        if n < 0:
            return np.zeros(V, np.float32)
        return peaked((script[n] if n < len(script) else tok.eot, strength))

    return FakeRunner(logits_for)


def test_fallback_on_repetitive_output(tok: WhisperTokenizer) -> None:
    prompt = [tok.sot, tok.no_timestamps]
    loop = tok.encode(" the") * 40
    good = tok.encode(" And so my fellow Americans, ask not what your country can do for you.")
    options = _no_ts(temperature=(0.0, 0.2, 0.4), best_of=5)
    runner = _two_pass_runner(tok, prompt, loop, good)
    result = decode_with_fallback(runner, tok, prompt, options, V, CTX)
    assert result.temperature == 0.2
    assert result.tokens == good
    assert result.text == "And so my fellow Americans, ask not what your country can do for you."
    assert result.compression_ratio < 2.4
    assert runner.passes == 1 + 5  # greedy once, then best_of samples at 0.2

    # without a compression gate, the greedy result stands
    runner = _two_pass_runner(tok, prompt, loop, good)
    result = decode_with_fallback(runner, tok, prompt, _no_ts(compression_ratio_threshold=None), V, CTX)
    assert result.temperature == 0.0 and result.tokens == loop and runner.passes == 1
    assert result.compression_ratio > 2.4


def test_all_temperatures_fail_reports_the_last(tok: WhisperTokenizer) -> None:
    prompt = [tok.sot, tok.no_timestamps]
    loop = tok.encode(" the") * 40
    runner = _two_pass_runner(tok, prompt, loop, loop)
    options = _no_ts(temperature=(0.0, 0.5, 1.0), best_of=2)
    result = decode_with_fallback(runner, tok, prompt, options, V, CTX)
    assert runner.passes == 1 + 2 + 2
    assert result.tokens == loop
    assert result.temperature == 1.0


def test_log_prob_gate(tok: WhisperTokenizer) -> None:
    prompt = [tok.sot, tok.no_timestamps]
    text = tok.encode(" ask not what your country can do for you")
    options = _no_ts(temperature=(0.0, 0.2), best_of=3)
    # the first pass picks the same tokens but unsure of each (logprob ~ -8.9)
    runner = _two_pass_runner(tok, prompt, text, text, first_strength=2.0)
    result = decode_with_fallback(runner, tok, prompt, options, V, CTX)
    assert result.temperature == 0.2
    assert result.avg_logprob > -0.01
    assert runner.passes == 1 + 3

    runner = _two_pass_runner(tok, prompt, text, text, first_strength=2.0)
    result = decode_with_fallback(runner, tok, prompt, _no_ts(log_prob_threshold=None), V, CTX)
    assert result.temperature == 0.0 and runner.passes == 1
    assert result.avg_logprob < -5
    assert result.tokens == text


def test_fallback_prefers_results_that_pass_the_compression_gate(tok: WhisperTokenizer) -> None:
    prompt = [tok.sot, tok.no_timestamps]
    unsure = tok.encode(" a fine sentence that is not repetitive")
    loop = tok.encode(" the") * 40
    # pass 0: good compression but low log-prob; later: confident but repetitive
    runner = _two_pass_runner(tok, prompt, unsure, loop, first_strength=2.0)
    result = decode_with_fallback(runner, tok, prompt, _no_ts(temperature=(0.0, 0.3), best_of=2), V, CTX)
    assert result.tokens == unsure
    assert result.temperature == 0.3


def test_avg_logprob_counts_end_of_text(tok: WhisperTokenizer) -> None:
    prompt = [tok.sot, tok.no_timestamps]
    text = tok.encode(" hi there")
    runner = _two_pass_runner(tok, prompt, text, text, first_strength=3.0)
    result = decode_once(runner, tok, prompt, LogitRules(tok, V, _no_ts()), 0.0, 10, np.random.default_rng(0))
    assert result.tokens == text
    assert len(result.token_logprobs) == len(text)
    # the final eot is as unsure as the text tokens, and it is in the sum
    assert result.sum_logprob == pytest.approx(sum(result.token_logprobs) + result.token_logprobs[0], rel=1e-3)
    assert result.avg_logprob == pytest.approx(result.sum_logprob / (len(text) + 1))


# Silence --------------------------------------------------------------------------------------------------------


def _result(no_speech: float, avg_logprob: float, n: int = 4) -> DecodeResult:
    return DecodeResult(list(range(n)), avg_logprob * (n + 1), [avg_logprob] * n, no_speech)


def test_is_silence_rule() -> None:
    options = DecodingOptions()  # no_speech 0.6, log_prob -1.0
    assert is_silence(_result(0.9, -1.5), options)
    assert not is_silence(_result(0.9, -0.2), options)  # confident text is kept
    assert not is_silence(_result(0.5, -3.0), options)
    assert not is_silence(_result(0.6, -3.0), options)  # threshold is exclusive
    assert is_silence(_result(0.61, -1.0), options)  # avg_logprob at the threshold counts as unsure
    assert not is_silence(_result(0.99, -3.0), DecodingOptions(no_speech_threshold=None))
    assert is_silence(_result(0.99, -0.1), DecodingOptions(log_prob_threshold=None))


def _no_speech_runner(tok: WhisperTokenizer, prompt: list[int], text: list[int], sot_no_speech: float,
                      strength: float) -> FakeRunner:
    sot_at = prompt.index(tok.sot)

    def logits_for(history: list[int], _: int) -> np.ndarray:
        if history[-1] == tok.sot:
            assert len(history) == sot_at + 1
            return peaked((tok.no_speech, sot_no_speech))
        n = len(history) - len(prompt)
        assert n >= 0, "the prompt after sot is fed in one step"
        # elsewhere the no-speech logit is huge: it must not be read from here
        return peaked((text[n] if n < len(text) else tok.eot, strength), (tok.no_speech, 60.0))

    return FakeRunner(logits_for)


def test_no_speech_prob_is_read_at_the_sot_position(tok: WhisperTokenizer) -> None:
    previous = tok.encode(" earlier words that came before")
    prompt = build_prompt(tok, tok.sot_sequence(), previous, without_timestamps=True)
    assert prompt.index(tok.sot) == len(previous) + 1
    text = tok.encode(" hello")
    runner = _no_speech_runner(tok, prompt, text, 5.0, 100.0)
    result = decode_once(runner, tok, prompt, LogitRules(tok, V, _no_ts()), 0.0, 10, np.random.default_rng(0))
    expected = math.exp(5.0) / (math.exp(5.0) + V - 1)
    assert result.no_speech_prob == pytest.approx(expected, rel=1e-4)
    assert result.tokens == text
    assert runner.feeds[0] == prompt[: len(previous) + 2]
    assert runner.feeds[1] == [tok.no_timestamps]


def test_silence_stops_the_fallback(tok: WhisperTokenizer) -> None:
    prompt = [tok.sot, tok.no_timestamps]
    text = tok.encode(" um")
    options = _no_ts(temperature=(0.0, 0.5), best_of=2)
    # high no-speech probability and unsure text: silence, no retry
    runner = _no_speech_runner(tok, prompt, text, 20.0, 2.0)
    result = decode_with_fallback(runner, tok, prompt, options, V, CTX)
    assert result.no_speech_prob > 0.9
    assert is_silence(result, options)
    assert runner.passes == 1 and result.temperature == 0.0
    # the same unsure text with a low no-speech probability is retried
    runner = _no_speech_runner(tok, prompt, text, 0.0, 2.0)
    result = decode_with_fallback(runner, tok, prompt, options, V, CTX)
    assert runner.passes == 3 and not is_silence(result, options)


# Prompt layout ----------------------------------------------------------------------------------------------------


def test_build_prompt_layout(tok: WhisperTokenizer) -> None:
    sot = tok.sot_sequence()
    assert build_prompt(tok, sot) == [tok.sot]
    assert build_prompt(tok, sot, without_timestamps=True) == [tok.sot, tok.no_timestamps]
    previous = list(range(1000, 1300))
    prompt = build_prompt(tok, sot, previous, without_timestamps=True)
    assert prompt == [tok.sot_prev, *previous[-223:], tok.sot, tok.no_timestamps]
    assert len(prompt) == 1 + 223 + 2
    short = [5, 6, 7]
    assert build_prompt(tok, sot, short) == [tok.sot_prev, 5, 6, 7, tok.sot]
    prefix = tok.encode(" And so")
    assert build_prompt(tok, sot, prefix=prefix) == [tok.sot, tok.timestamp_begin, *prefix]
    assert build_prompt(tok, sot, short, prefix, without_timestamps=True) == [
        tok.sot_prev, 5, 6, 7, tok.sot, tok.no_timestamps, *prefix]
    long_prefix = list(range(2000, 2400))
    assert build_prompt(tok, sot, prefix=long_prefix, without_timestamps=True)[2:] == long_prefix[:223]
    multilingual = [50258, 50259, 50359]
    assert build_prompt(tok, multilingual, short, without_timestamps=True) == [
        tok.sot_prev, 5, 6, 7, *multilingual, tok.no_timestamps]
    assert build_prompt(tok, sot, list(range(100)), n_text_ctx=40)[1:-1] == list(range(81, 100))


def test_prefix_is_forced_and_not_returned(tok: WhisperTokenizer) -> None:
    prefix = tok.encode(" And so")
    text = tok.encode(" my fellow")
    prompt = build_prompt(tok, tok.sot_sequence(), prefix=prefix, without_timestamps=True)

    def logits_for(history: list[int], _: int) -> np.ndarray:
        n = len(history) - len(prompt)
        if n < 0:
            return np.zeros(V, np.float32)
        # the blank is the top choice right after the prefix: it is suppressed there
        return peaked((text[n] if n < len(text) else tok.eot, 50.0), *([(220, 90.0)] if n == 0 else []))

    runner = FakeRunner(logits_for)
    result = decode_once(runner, tok, prompt, LogitRules(tok, V, _no_ts()), 0.0, 10, np.random.default_rng(0))
    assert result.tokens == text
    assert runner.feeds[1] == [tok.no_timestamps, *prefix]


# Repetition -------------------------------------------------------------------------------------------------------


def test_has_repetition() -> None:
    assert has_repetition([7, 7, 7])
    assert not has_repetition([7, 7])
    assert has_repetition([9, 1, 2, 3, 1, 2, 3, 1, 2, 3])
    assert not has_repetition([1, 2, 3, 1, 2, 3])
    assert not has_repetition([1, 2, 3, 1, 2, 3, 1, 2, 4])
    assert not has_repetition([1, 1, 1, 2])  # only the tail counts
    eight = list(range(8))
    assert has_repetition(eight * 3)
    nine = list(range(9))
    assert not has_repetition(nine * 3)
    assert has_repetition(nine * 3, max_ngram=9)
    assert not has_repetition([])
    assert has_repetition([4, 4], min_repeats=2)
    assert not has_repetition([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])


# Beam search ---------------------------------------------------------------------------------------------------


def _garden_path(tok: WhisperTokenizer, prompt_len: int) -> tuple[LogitFn, list[int], list[int]]:
    """A model whose likeliest first word leads nowhere: greedy takes it, a beam finds the better sentence."""
    a, b, c, d = tok.encode(" the")[0], tok.encode(" a")[0], tok.encode(" cat")[0], tok.encode(" dog")[0]

    def logits_for(history: list[int], _: int) -> np.ndarray:
        said = history[prompt_len:]
        if not said:
            return peaked((a, 5.0), (b, 4.6))  # "the" a little likelier than "a"
        if said == [a]:
            return peaked((c, 3.0), (d, 3.0))  # after "the" nothing is sure: two words share the mass
        if said == [b]:
            return peaked((c, 12.0))  # after "a", "cat" is certain
        return peaked((tok.eot, 12.0))

    return logits_for, [a, c], [b, c]


def test_beam_finds_the_sequence_greedy_misses(tok: WhisperTokenizer) -> None:
    prompt = [tok.sot, tok.no_timestamps]
    logits_for, _, better = _garden_path(tok, len(prompt))
    rules = LogitRules(tok, V, _no_ts())
    greedy = decode_once(FakeRunner(logits_for), tok, prompt, rules, 0.0, 10, np.random.default_rng(0))
    beam = decode_beam(FakeRunner(logits_for), tok, prompt, rules, 5, 10)
    assert greedy.tokens[0] != better[0]
    assert beam.tokens == better
    assert beam.sum_logprob > greedy.sum_logprob
    assert len(beam.token_logprobs) == len(beam.tokens)
    assert -0.5 < beam.sum_logprob - sum(beam.token_logprobs) < 0  # the end-of-text token's share


def test_beam_of_one_is_greedy(tok: WhisperTokenizer) -> None:
    prompt = [tok.sot, tok.no_timestamps]

    def logits_for(history: list[int], _: int) -> np.ndarray:
        if len(history) > len(prompt) + 8:
            return peaked((tok.eot, 50.0))
        return np.random.default_rng(len(history)).standard_normal(V).astype(np.float32) * 3

    rules = LogitRules(tok, V, _no_ts())
    greedy = decode_once(FakeRunner(logits_for), tok, prompt, rules, 0.0, 20, np.random.default_rng(0))
    beam = decode_beam(FakeRunner(logits_for), tok, prompt, rules, 1, 20)
    assert beam.tokens == greedy.tokens


def test_fallback_uses_the_beam_at_temperature_zero(tok: WhisperTokenizer) -> None:
    prompt = [tok.sot, tok.no_timestamps]
    logits_for, _, better = _garden_path(tok, len(prompt))
    result = decode_with_fallback(FakeRunner(logits_for), tok, prompt, _no_ts(beam_size=5, log_prob_threshold=None),
                                  V, CTX)
    assert result.tokens == better and result.temperature == 0.0
    plain = decode_with_fallback(FakeRunner(logits_for), tok, prompt, _no_ts(log_prob_threshold=None), V, CTX)
    assert plain.tokens != better


def test_beam_hypotheses_keep_their_own_states(tok: WhisperTokenizer) -> None:
    """Every step feeds one hypothesis its own history: a shared state would mix the beams' tokens."""
    prompt = [tok.sot, tok.no_timestamps]
    logits_for, _, _ = _garden_path(tok, len(prompt))
    seen: list[list[int]] = []

    def recording(history: list[int], index: int) -> np.ndarray:
        seen.append(history[len(prompt):])
        return logits_for(history, index)

    decode_beam(FakeRunner(recording), tok, prompt, LogitRules(tok, V, _no_ts()), 3, 10)
    assert all(len(h) <= 2 for h in seen)  # never three words: each history is one hypothesis
