"""Word timestamps: DTW over the cross-attention of the alignment heads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stenod.engine.tokenizer import WhisperTokenizer

TOKENS_PER_SECOND = 50  # encoder frames per second
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass
class Word:
    word: str
    start: float
    end: float
    probability: float
    tokens: list[int]


# A sorting network for seven values (Knuth): after these compare-exchanges the middle one is the median.
_SORT7 = ((0, 6), (2, 3), (4, 5), (0, 2), (1, 4), (3, 6), (0, 1), (2, 5), (3, 4), (1, 2), (4, 6), (2, 3),
          (4, 5), (1, 2), (3, 4), (5, 6))


def median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """Median over a sliding window of odd ``width`` along the last axis, reflect-padded."""
    if width <= 1 or x.shape[-1] <= width // 2:
        return x
    pad = width // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    n = x.shape[-1]
    if width == 7:  # Whisper's width: a network of minima and maxima, ten times quicker than np.median
        lanes = [padded[..., k:k + n] for k in range(7)]
        for a, b in _SORT7:
            lanes[a], lanes[b] = np.minimum(lanes[a], lanes[b]), np.maximum(lanes[a], lanes[b])
        return lanes[3].astype(x.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    median: np.ndarray = np.median(windows, axis=-1)
    return median.astype(x.dtype)


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic alignment path through ``cost [N, M]`` (lower is better): (row indices, column indices).

    Row by row: with ``b[j] = cost[j] + min(diagonal, up)``, a cell is ``min(b[j], cost[j] + left)``, which
    unrolls to ``S[j] + min over k <= j of (b[k] - S[k])`` for the running sum ``S`` of the row's costs: a
    cumulative minimum, so each row is a handful of vector operations. Ties go as in Whisper's loop.
    """
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    trace = np.zeros((n + 1, m + 1), dtype=np.int8)
    for i in range(1, n + 1):
        row = cost[i - 1]
        diag, up = acc[i - 1, :-1], acc[i - 1, 1:]
        running = np.cumsum(row)
        acc[i, 1:] = running + np.minimum.accumulate(row + np.minimum(diag, up) - running)  # inf where unreached
        left = acc[i, :-1]
        trace[i, 1:] = np.where((diag < up) & (diag < left), 0, np.where((up < diag) & (up < left), 1, 2))
    trace[0, :] = 2
    trace[:, 0] = 1
    return _backtrack(trace, n, m)


def _backtrack(trace: np.ndarray, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = n, m
    rows: list[int] = []
    cols: list[int] = []
    while i > 0 or j > 0:
        rows.append(i - 1)
        cols.append(j - 1)
        step = trace[i, j]
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
    return np.array(rows[::-1]), np.array(cols[::-1])


def token_times(attention: np.ndarray, n_frames: int, n_skip: int, filter_width: int = 7
                ) -> tuple[np.ndarray, np.ndarray]:
    """DTW path from ``attention [heads, T, S]`` over the first ``n_frames`` encoder frames.

    Rows ``n_skip .. T-2`` (the no-timestamps token up to the last text token) are aligned.
    """
    weights = attention[:, :, :n_frames].astype(np.float32)
    std = weights.std(axis=-2, keepdims=True)
    mean = weights.mean(axis=-2, keepdims=True)
    weights = (weights - mean) / np.maximum(std, 1e-10)
    weights = median_filter(weights, filter_width)
    matrix = weights.mean(axis=0)[n_skip:-1]
    return dtw(-matrix.astype(np.float64))


def merge_punctuations(words: list[Word]) -> list[Word]:
    """Attach leading quotes/brackets to the next word and trailing punctuation to the previous."""
    i = len(words) - 2
    j = len(words) - 1
    while i >= 0:
        prev, nxt = words[i], words[j]
        if prev.word.startswith(" ") and prev.word.strip() in PREPEND_PUNCTUATIONS:
            nxt.word = prev.word + nxt.word
            nxt.tokens = prev.tokens + nxt.tokens
            prev.word, prev.tokens = "", []
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(words):
        prev, nxt = words[i], words[j]
        if not prev.word.endswith(" ") and nxt.word in APPEND_PUNCTUATIONS:
            prev.word += nxt.word
            prev.tokens = prev.tokens + nxt.tokens
            nxt.word, nxt.tokens = "", []
        else:
            i = j
        j += 1
    return [w for w in words if w.word]


def align_words(tokenizer: WhisperTokenizer, text_tokens: list[int], token_logprobs: list[float],
                attention: np.ndarray, n_frames: int, n_skip: int, language: str | None = None) -> list[Word]:
    """Words with start/end seconds (relative to the window) and mean token probability.

    ``attention`` is the alignment heads' cross-attention for ``[sot…, notimestamps, text…, eot]``.
    """
    if not text_tokens:
        return []
    rows, cols = token_times(attention, max(1, n_frames), n_skip)
    words, groups = tokenizer.split_to_word_tokens([*text_tokens, tokenizer.eot], language)
    if len(groups) <= 1:
        return []
    jumps = np.pad(np.diff(rows), (1, 0), constant_values=1).astype(bool)
    jump_times = cols[jumps] / TOKENS_PER_SECOND
    bounds = np.pad(np.cumsum([len(g) for g in groups[:-1]]), (1, 0))
    probs = np.exp(np.array(token_logprobs + [0.0]))
    out = [
        Word(word, float(jump_times[a]), float(jump_times[b]), float(np.mean(probs[a:b])), list(group))
        for word, group, a, b in zip(words[:-1], groups[:-1], bounds[:-1], bounds[1:])
    ]
    _clip_long_words(out)
    return merge_punctuations(out)


def _clip_long_words(words: list[Word]) -> None:
    """Keep words at sentence boundaries from swallowing the pause around them."""
    durations = np.array([w.end - w.start for w in words])
    durations = durations[durations.nonzero()]
    if not len(durations):
        return
    median = min(0.7, float(np.median(durations)))
    longest = median * 2
    marks = ".。!！?？"
    for i in range(1, len(words)):
        if words[i].end - words[i].start > longest:
            if words[i].word in marks:
                words[i].end = words[i].start + longest
            elif words[i - 1].word in marks:
                words[i].start = words[i].end - longest
