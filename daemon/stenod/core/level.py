"""How loud the input is: RMS and peak in dBFS, kept as a running sum, and a word for it (too quiet, clipping, ok).

Full scale is 1.0 (float32 audio); a signal of all zeros is ``-inf`` dBFS, which :func:`show_dbfs` writes
as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

QUIET_PEAK_DBFS = -40.0  # speech that never peaks above this is too quiet for the VAD and the model
CLIPPED_SAMPLE = 0.999  # a sample this close to full scale was clipped (or nearly)
CLIPPING_SHARE = 0.001  # clipping: more than this share of the samples at full scale


def dbfs(amplitude: float) -> float:
    """``amplitude`` (1.0 = full scale) in dBFS; ``-inf`` for zero."""
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


def show_dbfs(value: float) -> str:
    return f"{value:.0f} dBFS" if math.isfinite(value) else "-inf dBFS"


@dataclass(frozen=True)
class Level:
    """A stretch of audio's loudness: ``rms`` and ``peak`` (linear, 1.0 = full scale) and the share of its
    samples at full scale."""

    rms: float = 0.0
    peak: float = 0.0
    clipped: float = 0.0

    @classmethod
    def of(cls, audio: np.ndarray) -> Level:
        if not len(audio):
            return cls()
        samples = np.abs(np.asarray(audio, dtype=np.float32))
        rms = math.sqrt(float(np.dot(samples, samples)) / len(samples))
        return cls(rms, float(samples.max()), float(np.count_nonzero(samples >= CLIPPED_SAMPLE)) / len(samples))

    @property
    def rms_dbfs(self) -> float:
        return dbfs(self.rms)

    @property
    def peak_dbfs(self) -> float:
        return dbfs(self.peak)

    @property
    def loudness(self) -> str:
        """``too quiet``, ``clipping`` or ``ok``."""
        if self.clipped > CLIPPING_SHARE:
            return "clipping"
        return "too quiet" if self.peak_dbfs < QUIET_PEAK_DBFS else "ok"

    def describe(self) -> str:
        """``input level -62 dBFS, peak -48 dBFS``."""
        return f"input level {show_dbfs(self.rms_dbfs)}, peak {show_dbfs(self.peak_dbfs)}"


class RunningLevel:
    """The level of everything added since the last :meth:`reset`: a sum of squares, a count and a peak."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.squares = 0.0
        self.count = 0
        self.peak = 0.0

    def add(self, samples: np.ndarray) -> None:
        if len(samples):
            self.squares += float(np.dot(samples, samples))
            self.count += len(samples)
            self.peak = max(self.peak, float(samples.max()), -float(samples.min()))

    def level(self) -> Level:
        return Level(math.sqrt(self.squares / self.count) if self.count else 0.0, self.peak)
