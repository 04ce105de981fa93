"""Cutting a long recording into the model's windows by speech (pure, on scripted frame probabilities)."""

from __future__ import annotations

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.core.chunking import JOIN, ChunkConfig, SpeechChunker, Window

FRAME = 512  # Silero's frame: 32 ms


def frames(pattern: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(seconds, probability) pieces → one (probability, level) per frame."""
    out = []
    for seconds, probability in pattern:
        out += [(probability, 0.1 if probability > 0.5 else 0.001)] * int(round(seconds * SAMPLE_RATE / FRAME))
    return out


def chunk(pattern: list[tuple[float, float]], config: ChunkConfig | None = None) -> tuple[list[Window], list[int]]:
    chunker = SpeechChunker(FRAME, config)
    windows: list[Window] = []
    keeps = []
    for probability, level in frames(pattern):
        windows += chunker.push(probability, level)
        keeps.append(chunker.keep_from())
    return windows + chunker.flush(), keeps


def seconds(window: Window) -> list[tuple[float, float]]:
    return [(round(s / SAMPLE_RATE, 2), round(e / SAMPLE_RATE, 2)) for s, e in window.spans]


def test_silence_noise_and_music_between_speech_are_left_out() -> None:
    windows, _ = chunk([(10, 0.0), (3, 0.9), (60, 0.1), (2, 0.9), (0.5, 0.2), (1, 0.9), (30, 0.0)])
    assert len(windows) == 1  # 6 s of speech: one window
    spans = seconds(windows[0])
    assert abs(spans[0][0] - 9.8) < 0.05 and spans[0][1] > 13.0  # padded by 0.2 s
    assert all(not (20 < s < 70 or 20 < e < 70) for s, e in spans)  # nothing of the minute of noise
    assert len(spans) == 2  # the 0.5 s dip is inside the second span
    assert windows[0].samples < 8 * SAMPLE_RATE


def test_windows_fill_up_to_the_limit_and_a_blip_is_dropped() -> None:
    speech = [(8, 0.9), (5, 0.0)] * 6 + [(0.1, 0.9), (5, 0.0)]  # 48 s of speech, then a 0.1 s click
    windows, _ = chunk(speech)
    assert [round(w.samples / SAMPLE_RATE) for w in windows] == [26, 26]  # three 8.4 s spans each, 2 joins
    assert all(w.samples <= 29 * SAMPLE_RATE for w in windows)
    assert windows[-1].end / SAMPLE_RATE < 78  # the click at 78 s is not a span


def test_a_long_monologue_is_cut_at_its_quietest_frame() -> None:
    levels = frames([(70, 0.9)])
    levels[int(20 * SAMPLE_RATE / FRAME)] = (0.9, 0.0001)  # a breath at 20 s
    chunker = SpeechChunker(FRAME)
    windows: list[Window] = []
    for probability, level in levels:
        windows += chunker.push(probability, level)
    windows += chunker.flush()
    assert len(windows) == 3 and all(w.samples <= 29 * SAMPLE_RATE for w in windows)
    assert abs(windows[0].end / SAMPLE_RATE - 20.03) < 0.05  # cut just after the breath
    assert windows[1].start == windows[0].end  # nothing lost at the cut


def test_times_map_back_to_the_recording_and_memory_can_be_let_go() -> None:
    windows, keeps = chunk([(10, 0.0), (3, 0.9), (60, 0.0), (2, 0.9), (5, 0.0)])
    window = windows[0]
    first, second = window.spans
    assert window.to_source(0.0) == first[0] / SAMPLE_RATE
    inside_second = (first[1] - first[0]) / SAMPLE_RATE + 0.3 + 0.5  # past the first span and the join
    assert abs(window.to_source(inside_second) - (second[0] / SAMPLE_RATE + 0.5)) < 1e-3
    assert keeps == sorted(keeps)  # what must be kept only moves forward
    joint = (first[1] - first[0]) / SAMPLE_RATE
    start, end = window.interval_to_source(joint - 0.3, joint + 0.1)  # a word across the joint, mostly before
    assert start == window.to_source(joint - 0.3) and end == first[1] / SAMPLE_RATE  # not 60 s later
    recording = np.arange(80 * SAMPLE_RATE, dtype=np.float32)
    audio = window.audio(recording[first[0]:], offset=first[0])
    assert len(audio) == window.samples and audio[0] == first[0]
    joined = first[1] - first[0]
    join = int(0.3 * SAMPLE_RATE)
    assert not audio[joined:joined + join].any() and audio[joined + join] == second[0]
    assert window.to_source(joined / SAMPLE_RATE + 0.1) == first[1] / SAMPLE_RATE  # in the join: the span's end


def test_sparse_speech_never_holds_more_than_two_minutes_of_recording() -> None:
    windows, keeps = chunk([(1, 0.9), (100, 0.0), (1, 0.9), (100, 0.0), (1, 0.9), (5, 0.0)])
    assert len(windows) == 2  # 3 s of speech, but a window spans at most 120 s of the recording
    assert all(w.end - w.start <= 120 * SAMPLE_RATE for w in windows)
    assert max(p - k for p, k in zip(range(0, 10**9, FRAME), keeps)) < 125 * SAMPLE_RATE


def test_a_cut_monologue_keeps_its_leading_padding() -> None:
    windows, _ = chunk([(5, 0.0), (70, 0.9)])
    assert abs(windows[0].start / SAMPLE_RATE - (5 - 0.2)) < 0.05


def test_span_offsets_agree_with_the_window_clock() -> None:
    window = Window(((100, 200), (500, 900), (1000, 1100)))
    assert window.offsets == [0, 100 + JOIN, 100 + JOIN + 400 + JOIN]
    for (start, _), offset in zip(window.spans, window.offsets):
        assert window.to_source(offset / SAMPLE_RATE) == start / SAMPLE_RATE
