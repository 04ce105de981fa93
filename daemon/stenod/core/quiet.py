"""Noticing an open microphone that hears no speech: a stretch of audio with no utterance, and how loud it was.

:class:`QuietWatch` is fed every block the pipeline gets and told when an utterance starts. Once
``after_s`` seconds of audio have gone by with no utterance it reports the stretch once (its level and
peak). Once speech has been heard the microphone evidently works, and it reports nothing more: a person
who stops talking for a while is not a fault, and the journal of an always-on daemon stays quiet. A block
that comes after a gap in the audio's arrival (paused, suspended, a device reopened) starts the stretch
again. Pure: the time comes from the clock it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stenod.core.clock import Clock
from stenod.core.level import Level, RunningLevel

QUIET_AFTER_S = 30.0
GAP_S = 1.0  # no block for this long: the audio stopped (paused, suspended) and the stretch starts again


@dataclass(frozen=True)
class Quiet:
    """``seconds`` of open microphone with no utterance, at ``level``."""

    seconds: float
    level: Level


class QuietWatch:
    def __init__(self, clock: Clock, after_s: float = QUIET_AFTER_S, gap_s: float = GAP_S) -> None:
        self.clock = clock
        self.after_s = after_s
        self.gap_s = gap_s
        self.armed = True  # may report; cleared for good by a report or by speech
        self._level = RunningLevel()
        self._since: float | None = None  # when the stretch began
        self._last = 0.0  # when the newest block came

    def audio(self, samples: np.ndarray) -> Quiet | None:
        """Count a block; the stretch, once it reaches ``after_s`` with no utterance (reported once)."""
        if not self.armed:
            return None
        now = self.clock.now()
        if self._since is None or now - self._last > self.gap_s:
            self._since = now
            self._level.reset()
        self._last = now
        self._level.add(samples)
        if now - self._since < self.after_s:
            return None
        self.armed = False
        quiet = Quiet(now - self._since, self._level.level())
        self._since = None
        return quiet

    def speech_started(self) -> None:
        """Speech was heard: the microphone works, and nothing more is reported."""
        self.armed = False
