"""Voice-activity segmentation: audio frames in, utterance boundaries out (sample counts, no clock).

A frame classifier scores fixed-size frames (WebRTC's VAD here; Silero's is an adapter). The segmenter
turns those scores into utterances with a pre-roll (the onset is not clipped), a pause mark after a short
silence (the caller may start the final decode speculatively), a hangover that confirms the end, a minimum
speech length and a maximum utterance length (cut at the quietest frame and carried on as a new utterance).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from stenod.core import SAMPLE_RATE


class FrameClassifier(Protocol):
    """Scores one frame of 16 kHz float32 audio: the probability that it holds speech."""

    frame_samples: int

    def __call__(self, frame: np.ndarray) -> float: ...

    def reset(self) -> None: ...


class WebRtcClassifier:
    """Google's WebRTC VAD (``webrtcvad-wheels``): 10, 20 or 30 ms frames, aggressiveness 0-3."""

    def __init__(self, aggressiveness: int = 2, frame_ms: int = 30) -> None:
        import webrtcvad

        if frame_ms not in (10, 20, 30):
            raise ValueError(f"WebRTC VAD frames are 10, 20 or 30 ms, not {frame_ms}")
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"WebRTC VAD aggressiveness is 0 to 3, not {aggressiveness}")
        self.frame_samples = SAMPLE_RATE * frame_ms // 1000
        self.aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)

    def __call__(self, frame: np.ndarray) -> float:
        pcm = (np.clip(frame, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        return 1.0 if self._vad.is_speech(pcm, SAMPLE_RATE) else 0.0

    def reset(self) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(self.aggressiveness)


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5  # a frame is speech when its score reaches this
    onset_ms: int = 120  # speech needed within the onset window to start an utterance
    onset_window_ms: int = 240
    pre_roll_ms: int = 300  # audio kept before the detected onset
    tail_ms: int = 90  # silence after the last speech frame that marks a pause (and is kept as the tail)
    hangover_ms: int = 450  # silence after the last speech frame that ends the utterance
    min_speech_ms: int = 250  # utterances with less speech than this are dropped
    max_utterance_s: float = 25.0  # longer utterances are cut at their quietest frame
    min_level_dbfs: float = -60.0  # frames quieter than this are never speech

    def samples(self, ms: float) -> int:
        return int(round(ms * SAMPLE_RATE / 1000))


@dataclass(frozen=True)
class VadStart:
    start: int  # first sample of the utterance, pre-roll included
    onset: int  # first sample of its first speech frame (after a cut: the cut)


@dataclass(frozen=True)
class VadPause:
    at: int  # a short silence: the utterance would end here if it stays silent


@dataclass(frozen=True)
class VadResume:
    at: int  # speech came back before the hangover ran out


@dataclass(frozen=True)
class VadEnd:
    end: int  # one past the last sample of the utterance (the tail included)
    speech_ms: int  # speech frames in the utterance
    cut: bool = False  # ended by the length limit; the next VadStart begins at ``end``


VadEvent = VadStart | VadPause | VadResume | VadEnd


class Segmenter:
    """Feeds frames to a classifier and reports utterance boundaries as sample offsets in the stream."""

    def __init__(self, classifier: FrameClassifier, config: VadConfig | None = None) -> None:
        self.classifier = classifier
        self.config = config or VadConfig()
        self.frame = classifier.frame_samples
        c = self.config
        self._onset_frames = max(1, -(-c.samples(c.onset_ms) // self.frame))
        self._window: deque[bool] = deque(maxlen=max(self._onset_frames, c.samples(c.onset_window_ms) // self.frame))
        self._min_level = 10 ** (c.min_level_dbfs / 20)
        self._pending = np.zeros(0, dtype=np.float32)
        self.position = 0  # samples classified so far
        self._floor = 0  # no utterance may start before this (the end of the last one)
        self.start: int | None = None  # the open utterance's first sample
        self._last_speech_end = 0
        self._paused = False
        self._levels: list[float] = []  # RMS per frame of the open utterance, from its onset frame
        self._speech: list[bool] = []  # speech flags of the open utterance (the onset counted as speech)
        self._levels_start = 0

    @property
    def in_speech(self) -> bool:
        return self.start is not None

    def push(self, samples: np.ndarray) -> list[VadEvent]:
        """Classify what completes frames; keep the rest for the next call."""
        audio = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        events: list[VadEvent] = []
        n = len(audio) // self.frame
        for i in range(n):
            events.extend(self._frame(audio[i * self.frame:(i + 1) * self.frame]))
        self._pending = audio[n * self.frame:].copy()
        return events

    def flush(self) -> list[VadEvent]:
        """End of stream: close the open utterance where its speech stopped."""
        if self.start is None:
            return []
        end = min(self.position, self._last_speech_end + self.config.samples(self.config.tail_ms))
        return self._end(end)

    def _frame(self, frame: np.ndarray) -> list[VadEvent]:
        c = self.config
        begin = self.position
        self.position += self.frame
        level = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
        speech = level >= self._min_level and self.classifier(frame) >= c.threshold
        if self.start is None:
            self._window.append(speech)
            if sum(self._window) < self._onset_frames:
                return []
            first = begin - (len(self._window) - 1 - self._window.index(True)) * self.frame
            self.start = max(self._floor, first - c.samples(c.pre_roll_ms), 0)
            onset = max(self.start, first)
            self._window.clear()
            self._last_speech_end = self.position
            self._paused = False
            self._levels = [level]
            self._speech = [True] * self._onset_frames
            self._levels_start = begin
            return [VadStart(self.start, onset)]
        self._levels.append(level)
        self._speech.append(speech)
        events: list[VadEvent] = []
        if speech:
            self._last_speech_end = self.position
            if self._paused:
                self._paused = False
                events.append(VadResume(self.position))
        else:
            silence = self.position - self._last_speech_end
            if not self._paused and silence >= c.samples(c.tail_ms):
                self._paused = True
                events.append(VadPause(self._last_speech_end + c.samples(c.tail_ms)))
            if silence >= c.samples(c.hangover_ms):
                return events + self._end(self._last_speech_end + c.samples(c.tail_ms))
        if self.position - self.start >= c.samples(c.max_utterance_s * 1000):
            if self._paused:  # already quiet: end where the speech stopped
                return events + self._end(self._last_speech_end + c.samples(c.tail_ms))
            events.extend(self._cut())
        return events

    def _end(self, end: int, cut: bool = False) -> list[VadEvent]:
        speech_ms = sum(self._speech) * self.frame * 1000 // SAMPLE_RATE
        self.start = None
        self._floor = end
        self._levels = []
        self._speech = []
        self._window.clear()
        return [VadEnd(end, speech_ms, cut)]

    def _cut(self) -> list[VadEvent]:
        """Cut at the quietest frame of the utterance's second half and carry on from there."""
        assert self.start is not None
        half = (self.start + self.position) // 2
        first = min(len(self._levels) - 1, max(0, (half - self._levels_start) // self.frame))
        quietest = first + int(np.argmin(self._levels[first:]))
        at = self._levels_start + quietest * self.frame + self.frame // 2
        levels, speech = self._levels[quietest + 1:], self._speech[quietest + 1:]
        self._speech = self._speech[:quietest + 1]
        events = self._end(at, cut=True)
        self.start = at
        self._floor = at
        self._levels, self._speech = levels, speech
        self._levels_start += (quietest + 1) * self.frame
        return [*events, VadStart(at, at)]
