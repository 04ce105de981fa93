"""Long recordings cut into the model's windows by speech, sans I/O.

Feed :class:`SpeechChunker` one speech probability and one RMS level per VAD frame, in order; it returns each
:class:`Window` as soon as it is settled. A window is a list of speech spans (sample ranges of the
recording, each padded a little) whose audio, laid end to end with 0.3 s of silence between, fits the
model's 30 s. What lies between the
spans (silence, noise, music) is never part of a window, so it is never decoded and cannot produce text;
each window is decoded on its own. :meth:`Window.to_source` maps a time in the window's audio back to the
recording. A window never stretches over more than ``max_extent_s`` of the recording, so the audio held until
it is decoded stays bounded however sparse the speech.

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
    max_extent_s: float = 120.0  # the recording a window may stretch over (what is held until it is decoded)

    def samples(self, ms: float) -> int:
        return int(round(ms * SAMPLE_RATE / 1000))


JOIN = int(0.3 * SAMPLE_RATE)  # silence put between two spans in a window: the model hears where one ends


@dataclass(frozen=True)
class Window:
    """Spans of the recording, and their audio laid end to end with ``JOIN`` samples of silence between."""

    spans: tuple[tuple[int, int], ...]  # (start, end) sample ranges of the recording, in order, not overlapping

    @property
    def samples(self) -> int:
        return sum(end - start for start, end in self.spans) + JOIN * (len(self.spans) - 1)

    @property
    def start(self) -> int:
        return self.spans[0][0]

    @property
    def end(self) -> int:
        return self.spans[-1][1]

    @property
    def offsets(self) -> list[int]:
        """Where each span begins in the window's audio (samples)."""
        out, at = [], 0
        for start, end in self.spans:
            out.append(at)
            at += end - start + JOIN
        return out

    def _locate(self, seconds: float) -> tuple[int, int]:
        """(span index, samples into that span) of a time in the window's audio; in a join: the span before
        it, at its end."""
        at = int(round(seconds * SAMPLE_RATE))
        done = 0
        for i, (start, end) in enumerate(self.spans):
            if at < done + (end - start) + (JOIN if i + 1 < len(self.spans) else 0):
                return i, min(max(0, at - done), end - start)
            done += end - start + JOIN
        last = len(self.spans) - 1
        return last, self.spans[last][1] - self.spans[last][0]

    def to_source(self, seconds: float) -> float:
        """A time in the window's audio (seconds) as a time in the recording."""
        span, into = self._locate(seconds)
        return (self.spans[span][0] + into) / SAMPLE_RATE

    def span_of(self, seconds: float) -> int:
        """The index of the span that a time in the window's audio falls in (a join counts to the span before)."""
        return self._locate(seconds)[0]

    def interval_to_source(self, start: float, end: float) -> tuple[float, float]:
        """A stretch of the window's audio (a word) in the recording's time. One that straddles the joint
        of two spans is put in the span that holds its middle, cut at that span's edge."""
        first, last = self.to_source(start), self.to_source(end)
        home = self.span_of((start + end) / 2)
        if self.span_of(start) != home:
            first = self.spans[home][0] / SAMPLE_RATE
        if self.span_of(end) != home:
            last = self.spans[home][1] / SAMPLE_RATE
        return first, max(first, last)

    def audio(self, recording: np.ndarray, offset: int = 0) -> np.ndarray:
        """The window's audio from ``recording`` (which starts at sample ``offset`` of the recording)."""
        silence = np.zeros(JOIN, np.float32)
        pieces: list[np.ndarray] = []
        for i, (s, e) in enumerate(self.spans):
            pieces += [silence] if i else []
            pieces.append(recording[s - offset:e - offset])
        return np.concatenate(pieces).astype(np.float32)


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
            elif self._window and self.position - self._window[0][0] >= c.max_extent_s * SAMPLE_RATE:
                return self._add(None)  # nothing said from now on can join it: decode it, let its audio go
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
        return self._add((span.start, at), pad_end=False)  # the cut edge is not padded: nothing overlaps

    def _add(self, span: tuple[int, int] | None, pad_end: bool = True) -> list[Window]:
        """Put a closed span into the window being filled (None: close that window)."""
        out: list[Window] = []
        if span is not None:
            pad = self.config.samples(self.config.pad_ms)
            start = max(self._last_end, span[0] - pad, 0)
            end = span[1] + (pad if pad_end else 0)
            full = self._window and Window(tuple(self._window)).samples + JOIN + (end - start) > \
                self.config.max_window_s * SAMPLE_RATE
            if full or (self._window and end - self._window[0][0] > self.config.max_extent_s * SAMPLE_RATE):
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
