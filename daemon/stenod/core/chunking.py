"""Long recordings cut into the model's windows by speech, sans I/O.

Feed :class:`SpeechChunker` one speech probability and one RMS level per VAD frame, in order; it returns each
:class:`Window` as soon as it is settled. A window is a list of speech spans (sample ranges of the
recording, each padded a little) whose audio, laid end to end, fits the model's 30 s. What lies between the
spans (silence, noise, music) is never part of a window, so it is never decoded and cannot produce text;
each window is decoded on its own, so nothing said in one can carry into the next. :meth:`Window.to_source`
maps a time in the window's audio back to the recording.

Speech starts when a frame's probability reaches ``threshold`` and ends after ``min_silence_ms`` of frames
under ``neg_threshold``; spans with less than ``min_speech_ms`` of speech are dropped. A span longer than a
window is cut at the quietest frame of its second half.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stenod.core import SAMPLE_RATE


@dataclass(frozen=True)
class ChunkConfig:
    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_speech_ms: int = 250
    min_silence_ms: int = 600
    pad_ms: int = 200
    max_window_s: float = 29.0  # the window's audio, spans end to end (the model sees at most 30 s)

    def samples(self, ms: float) -> int:
        return int(round(ms * SAMPLE_RATE / 1000))


@dataclass(frozen=True)
class Window:
    spans: tuple[tuple[int, int], ...]  # (start, end) sample ranges of the recording, in order, not overlapping

    @property
    def samples(self) -> int:
        return sum(end - start for start, end in self.spans)

    @property
    def start(self) -> int:
        return self.spans[0][0]

    @property
    def end(self) -> int:
        return self.spans[-1][1]

    def to_source(self, seconds: float) -> float:
        """A time in the window's audio (seconds) as a time in the recording."""
        at = int(round(seconds * SAMPLE_RATE))
        done = 0
        for start, end in self.spans:
            if at < done + (end - start):
                return (start + max(0, at - done)) / SAMPLE_RATE
            done += end - start
        return self.end / SAMPLE_RATE

    def audio(self, recording: np.ndarray, offset: int = 0) -> np.ndarray:
        """The window's audio from ``recording`` (which starts at sample ``offset`` of the recording)."""
        return np.concatenate([recording[s - offset:e - offset] for s, e in self.spans]).astype(np.float32)


@dataclass
class _Span:
    start: int  # first speech frame
    end: int  # end of the last speech frame
    levels: list[float] = field(default_factory=list)  # per frame from ``start``


class SpeechChunker:
    """Frames' speech probabilities in, windows out."""

    def __init__(self, frame_samples: int, config: ChunkConfig | None = None) -> None:
        self.config = config or ChunkConfig()
        self.frame = frame_samples
        self.position = 0  # samples classified
        self._span: _Span | None = None
        self._silent_frames = 0
        self._pending: list[tuple[int, int]] = []  # closed spans (unpadded) not yet in a window
        self._window: list[tuple[int, int]] = []  # padded spans of the window being filled
        self._last_end = 0  # no padding reaches back before this

    def push(self, probability: float, level: float) -> list[Window]:
        """One frame's speech probability and RMS level; the windows this settles."""
        c = self.config
        begin = self.position
        self.position += self.frame
        if self._span is None:
            if probability >= c.threshold:
                self._span = _Span(begin, self.position, [level])
                self._silent_frames = 0
            return []
        span = self._span
        span.levels.append(level)
        if probability >= c.neg_threshold:
            span.end = self.position
            self._silent_frames = 0
        else:
            self._silent_frames += 1
            if self._silent_frames * self.frame >= c.samples(c.min_silence_ms):
                return self._close()
        if span.end - span.start >= self._max_span():
            return self._cut()
        return []

    def flush(self) -> list[Window]:
        """End of the recording: every window still open."""
        out = self._close() if self._span is not None else []
        self.position = max(self.position, self._last_end)
        out += self._add(None)
        return out

    def keep_from(self) -> int:
        """The earliest sample of the recording that a window still to come may hold."""
        pad = self.config.samples(self.config.pad_ms)
        if self._window:
            return self._window[0][0]
        start = self._span.start if self._span is not None else self.position
        return max(self._last_end, start - pad, 0)

    # Internals ------------------------------------------------------------------------------
    def _max_span(self) -> int:
        return int(self.config.max_window_s * SAMPLE_RATE) - 2 * self.config.samples(self.config.pad_ms)

    def _close(self) -> list[Window]:
        span, self._span = self._span, None
        assert span is not None
        if span.end - span.start < self.config.samples(self.config.min_speech_ms):
            return []
        return self._add((span.start, span.end))

    def _cut(self) -> list[Window]:
        """A span as long as a window: end it at the quietest frame of its second half, go on after it."""
        span = self._span
        assert span is not None
        half = len(span.levels) // 2
        quietest = half + int(np.argmin(span.levels[half:]))
        at = span.start + (quietest + 1) * self.frame
        self._span = _Span(at, max(at, span.end), span.levels[quietest + 1:])
        return self._add((span.start, at), padded=False)

    def _add(self, span: tuple[int, int] | None, padded: bool = True) -> list[Window]:
        """Put a closed span into the window being filled (None: close that window)."""
        out: list[Window] = []
        if span is not None:
            pad = self.config.samples(self.config.pad_ms) if padded else 0
            start = max(self._last_end, span[0] - pad, 0)
            end = span[1] + pad
            if self._window and sum(e - s for s, e in self._window) + (end - start) > \
                    self.config.max_window_s * SAMPLE_RATE:
                out.append(Window(tuple(self._window)))
                self._window = []
            if self._window and start <= self._window[-1][1]:
                self._window[-1] = (self._window[-1][0], end)  # touching spans become one
            else:
                self._window.append((start, end))
            self._last_end = end
        elif self._window:
            out.append(Window(tuple(self._window)))
            self._window = []
        return out
