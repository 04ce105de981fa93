"""The open microphone that hears no speech: reported once per quiet stretch, with its level, on a fake clock."""

from __future__ import annotations

import numpy as np
import pytest

from stenod.core.clock import FakeClock
from stenod.core.quiet import QuietWatch

BLOCK_S = 0.05
HUM = np.full(800, 0.001, np.float32)  # 50 ms at -60 dBFS


def feed(watch: QuietWatch, clock: FakeClock, seconds: float, block: np.ndarray = HUM) -> list:
    """Blocks every 50 ms for ``seconds``; the reports they brought."""
    reports = []
    for _ in range(round(seconds / BLOCK_S)):
        clock.advance(BLOCK_S)
        report = watch.audio(block)
        if report is not None:
            reports.append(report)
    return reports


def test_thirty_seconds_without_an_utterance_are_reported_once_with_their_level() -> None:
    clock = FakeClock()
    watch = QuietWatch(clock, after_s=30)
    assert feed(watch, clock, 29.9) == []
    reports = feed(watch, clock, 0.2)
    assert len(reports) == 1
    assert reports[0].seconds == pytest.approx(30, abs=0.06)
    assert reports[0].level.rms_dbfs == pytest.approx(-60, abs=0.1)
    assert reports[0].level.peak_dbfs == pytest.approx(-60, abs=0.1)
    assert feed(watch, clock, 120) == []  # said once


def test_once_speech_was_heard_a_quiet_stretch_is_no_fault() -> None:
    clock = FakeClock()
    watch = QuietWatch(clock, after_s=30)
    feed(watch, clock, 20)
    watch.speech_started()
    assert feed(watch, clock, 45, np.full(800, 0.3, np.float32)) == []  # a long utterance is not quiet
    assert feed(watch, clock, 600) == []  # the person stopped talking: the microphone works


def test_a_gap_in_the_audio_paused_or_suspended_starts_the_stretch_again() -> None:
    clock = FakeClock()
    watch = QuietWatch(clock, after_s=30)
    feed(watch, clock, 20)
    clock.advance(600)  # paused: no blocks reach it
    assert feed(watch, clock, 29.9) == []
    assert len(feed(watch, clock, 0.2)) == 1


def test_digital_silence_is_minus_infinity() -> None:
    clock = FakeClock()
    watch = QuietWatch(clock, after_s=1)
    [report] = feed(watch, clock, 1.1, np.zeros(800, np.float32))
    assert report.level.describe() == "input level -inf dBFS, peak -inf dBFS"
