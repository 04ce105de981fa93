"""The input level: RMS and peak in dBFS, as a whole and as a running sum, and the word for it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stenod.core.level import Level, RunningLevel, dbfs, show_dbfs


def test_dbfs_of_full_scale_half_and_zero() -> None:
    assert dbfs(1.0) == 0.0
    assert dbfs(0.5) == pytest.approx(-6.02, abs=0.01)
    assert dbfs(0.0) == -math.inf
    assert show_dbfs(-62.4) == "-62 dBFS" and show_dbfs(-math.inf) == "-inf dBFS"


def test_a_sine_s_rms_and_peak() -> None:
    sine = 0.5 * np.sin(np.linspace(0, 200 * np.pi, 16000, endpoint=False)).astype(np.float32)
    level = Level.of(sine)
    assert level.peak_dbfs == pytest.approx(-6.02, abs=0.05)
    assert level.rms_dbfs == pytest.approx(-9.03, abs=0.05)
    assert level.loudness == "ok" and level.clipped == 0


def test_the_running_sum_is_the_level_of_the_whole() -> None:
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(16000) * 0.1).astype(np.float32)
    running = RunningLevel()
    for block in np.array_split(audio, 7):
        running.add(block)
    whole = Level.of(audio)
    assert running.level().rms == pytest.approx(whole.rms, rel=1e-5)
    assert running.level().peak == pytest.approx(whole.peak)
    running.reset()
    assert running.level() == Level()


def test_too_quiet_clipping_and_silence() -> None:
    assert Level.of(np.full(1000, 0.005, np.float32)).loudness == "too quiet"  # -46 dBFS
    clipped = np.where(np.arange(1000) % 10 == 0, 1.0, 0.2).astype(np.float32)
    assert Level.of(clipped).loudness == "clipping"
    silence = Level.of(np.zeros(1000, np.float32))
    assert silence.peak == 0 and silence.loudness == "too quiet"
    assert silence.describe() == "input level -inf dBFS, peak -inf dBFS"
    assert Level.of(np.zeros(0, np.float32)) == Level()
