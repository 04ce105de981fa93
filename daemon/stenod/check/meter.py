"""The input level while a check listens: a bar redrawn in place on a terminal, a plain line a second otherwise."""

from __future__ import annotations

import math
from typing import TextIO

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.core.level import Level, RunningLevel, show_dbfs

FLOOR_DBFS = -60.0  # the bar's left end
WIDTH = 30  # the bar's characters
TERMINAL_STEP_S = 0.1
PLAIN_STEP_S = 1.0


def bar(level: Level) -> str:
    """``[#######.......]``: the level's RMS from FLOOR_DBFS (empty) to full scale (full)."""
    value = level.rms_dbfs
    share = 0.0 if not math.isfinite(value) else min(1.0, max(0.0, 1 - value / FLOOR_DBFS))
    filled = round(share * WIDTH)
    return "[" + "#" * filled + "." * (WIDTH - filled) + "]"


class Meter:
    """Call it with each block (16 kHz mono); :meth:`close` when the listening is over."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.step = int((TERMINAL_STEP_S if self.tty else PLAIN_STEP_S) * SAMPLE_RATE)
        self.samples = 0
        self._level = RunningLevel()

    def __call__(self, block: np.ndarray) -> None:
        while len(block):
            room = self.step - self._level.count
            self._level.add(block[:room])
            self.samples += len(block[:room])
            block = block[room:]
            if self._level.count >= self.step:
                self._show(self._level.level())
                self._level.reset()

    def close(self) -> None:
        if self.tty and self.samples:
            self.out.write("\r\033[K")
            self.out.flush()

    def _show(self, level: Level) -> None:
        seconds = self.samples / SAMPLE_RATE
        numbers = f"{show_dbfs(level.rms_dbfs):>9}  peak {show_dbfs(level.peak_dbfs):>9}"
        if self.tty:
            self.out.write(f"\r\033[K{seconds:4.1f} s  {bar(level)} {numbers}")
        else:
            self.out.write(f"{seconds:4.1f} s  {numbers}\n")
        self.out.flush()
