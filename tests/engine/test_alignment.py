"""DTW, the median filter and punctuation merging used for word timestamps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stenod.engine.alignment import Word, dtw, median_filter, merge_punctuations


def _check_path(rows: np.ndarray, cols: np.ndarray, n: int, m: int) -> None:
    assert len(rows) == len(cols) >= max(n, m)
    assert (rows[0], cols[0]) == (0, 0)
    assert (rows[-1], cols[-1]) == (n - 1, m - 1)
    steps = np.stack([np.diff(rows), np.diff(cols)], axis=1)
    allowed = {(1, 1), (1, 0), (0, 1)}
    assert {tuple(int(v) for v in s) for s in steps} <= allowed  # monotonic, contiguous


def _path_cost(cost: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> float:
    return float(cost[rows, cols].sum())


def _brute_force_dtw_cost(cost: np.ndarray) -> float:
    """The minimal path cost by straightforward dynamic programming."""
    n, m = cost.shape
    acc = np.full((n, m), np.inf)
    for i, j in itertools.product(range(n), range(m)):
        if i == 0 and j == 0:
            acc[i, j] = cost[0, 0]
            continue
        best = min(acc[i - 1, j - 1] if i and j else np.inf, acc[i - 1, j] if i else np.inf,
                   acc[i, j - 1] if j else np.inf)
        acc[i, j] = cost[i, j] + best
    return float(acc[-1, -1])


def test_dtw_finds_a_clear_diagonal() -> None:
    cost = np.ones((5, 5))
    np.fill_diagonal(cost, 0.0)
    rows, cols = dtw(cost)
    np.testing.assert_array_equal(rows, np.arange(5))
    np.testing.assert_array_equal(cols, np.arange(5))


def test_dtw_rectangular_staircase() -> None:
    # 3 tokens over 9 frames: token k owns frames 3k .. 3k+2
    cost = np.ones((3, 9))
    for k in range(3):
        cost[k, 3 * k: 3 * k + 3] = 0.0
    rows, cols = dtw(cost)
    _check_path(rows, cols, 3, 9)
    assert _path_cost(cost, rows, cols) == 0.0
    for r, c in zip(rows, cols):
        assert c // 3 == r


def test_dtw_tall_matrix() -> None:
    cost = np.ones((6, 2))
    cost[:3, 0] = 0.0
    cost[3:, 1] = 0.0
    rows, cols = dtw(cost)
    _check_path(rows, cols, 6, 2)
    np.testing.assert_array_equal(cols, [0, 0, 0, 1, 1, 1])


@pytest.mark.parametrize(("n", "m"), [(1, 1), (1, 6), (6, 1), (2, 3), (4, 7), (7, 4), (10, 10), (5, 20)])
def test_dtw_is_optimal_and_monotonic_on_random_costs(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 100 + m)
    for _ in range(5):
        cost = rng.uniform(0.0, 1.0, (n, m))
        rows, cols = dtw(cost)
        _check_path(rows, cols, n, m)
        assert _path_cost(cost, rows, cols) == pytest.approx(_brute_force_dtw_cost(cost))


def test_dtw_negative_costs_as_used_for_attention() -> None:
    """Alignment runs DTW on negated attention: the path goes through the high-attention cells."""
    attention = np.zeros((4, 12))
    peaks = [1, 4, 7, 10]
    for token, frame in enumerate(peaks):
        attention[token, frame] = 1.0
    rows, cols = dtw(-attention)
    _check_path(rows, cols, 4, 12)
    for token, frame in enumerate(peaks):
        assert frame in cols[rows == token]


def _brute_median(x: np.ndarray, width: int) -> np.ndarray:
    n = x.shape[-1]
    pad = width // 2
    out = np.empty_like(x)
    for t in range(n):
        idx = []
        for k in range(t - pad, t + pad + 1):
            if k < 0:
                k = -k  # reflect without repeating the edge
            elif k >= n:
                k = 2 * (n - 1) - k
            idx.append(k)
        out[..., t] = np.median(x[..., idx], axis=-1)
    return out


@pytest.mark.parametrize("width", [3, 5, 7])
@pytest.mark.parametrize("shape", [(20,), (3, 17), (2, 4, 30)])
def test_median_filter_matches_brute_force(width: int, shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(width + len(shape)).standard_normal(shape).astype(np.float32)
    got = median_filter(x, width)
    assert got.shape == x.shape and got.dtype == x.dtype
    np.testing.assert_allclose(got, _brute_median(x, width), rtol=0, atol=1e-6)


def test_median_filter_removes_spikes_and_keeps_steps() -> None:
    x = np.zeros(15, np.float32)
    x[5] = 10.0  # a one-frame spike
    x[10:] = 1.0  # a step
    y = median_filter(x, 3)
    assert y[5] == 0.0
    np.testing.assert_array_equal(y[10:], 1.0)
    np.testing.assert_array_equal(y[:5], 0.0)


def test_median_filter_short_or_trivial_inputs_are_unchanged() -> None:
    x = np.arange(3, dtype=np.float32)[None]
    np.testing.assert_array_equal(median_filter(x, 7), x)  # too short for the window
    y = np.random.default_rng(0).standard_normal((2, 9))
    np.testing.assert_array_equal(median_filter(y, 1), y)


def _words(*texts: str) -> list[Word]:
    return [Word(t, float(i), float(i) + 0.5, 0.9, [100 + i]) for i, t in enumerate(texts)]


def test_merge_punctuations_appends_and_prepends() -> None:
    merged = merge_punctuations(_words(' "', "Hello", ",", " world", "!", '"'))
    assert [w.word for w in merged] == [' "Hello,', ' world!"']
    assert merged[0].tokens == [100, 101, 102]
    assert merged[1].tokens == [103, 104, 105]
    # timings are those of the word the punctuation joined
    assert (merged[0].start, merged[0].end) == (1.0, 1.5)
    assert (merged[1].start, merged[1].end) == (3.0, 3.5)


def test_merge_punctuations_brackets_and_quotes() -> None:
    merged = merge_punctuations(_words(" (", " yes", ")", " he", " said", " ¿", "Qué", "?"))
    assert [w.word for w in merged] == [" ( yes)", " he", " said", " ¿Qué?"]


def test_merge_punctuations_leaves_plain_words() -> None:
    words = _words(" one", " two", " three")
    merged = merge_punctuations(words)
    assert [w.word for w in merged] == [" one", " two", " three"]
    assert [w.tokens for w in merged] == [[100], [101], [102]]


def test_merge_punctuations_only_whole_marks() -> None:
    # "..." is not a single APPEND mark and " -" prepends onto the next word
    merged = merge_punctuations(_words(" wait", "...", " -", "no", "."))
    assert [w.word for w in merged] == [" wait", "...", " -no."]
    # punctuation after a word that ends with a space is left alone
    merged = merge_punctuations(_words(" a ", "."))
    assert [w.word for w in merged] == [" a ", "."]


def test_merge_punctuations_empty_and_single() -> None:
    assert merge_punctuations([]) == []
    assert [w.word for w in merge_punctuations(_words(" solo"))] == [" solo"]
    assert [w.word for w in merge_punctuations(_words("."))] == ["."]


def test_median_network_and_row_dtw_match_the_plain_definitions() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 12, 50)).astype(np.float32)
    padded = np.pad(x, [(0, 0), (0, 0), (3, 3)], mode="reflect")
    plain = np.median(np.lib.stride_tricks.sliding_window_view(padded, 7, axis=-1), axis=-1)
    assert np.array_equal(median_filter(x, 7), plain.astype(np.float32))
    cost = -np.abs(rng.standard_normal((9, 40)))
    acc = np.full((10, 41), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, 10):
        for j in range(1, 41):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    rows, cols = dtw(cost)
    assert rows[0] == 0 and cols[0] == 0 and rows[-1] == 8 and cols[-1] == 39
    assert np.all(np.diff(rows) >= 0) and np.all(np.diff(cols) >= 0)
    assert cost[rows, cols].sum() == pytest.approx(acc[9, 40])
