"""A recording's speech windows, read as it streams: blocks in, VAD frames, :class:`SpeechChunker`, windows out.

Only the audio from the oldest window not yet handed out is kept, so memory stays flat however long the
recording is (a window is at most 30 s of speech, though it may span minutes of the recording).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from stenod.audio.reader import AudioReader
from stenod.core import SAMPLE_RATE
from stenod.core.chunking import ChunkConfig, SpeechChunker, Window
from stenod.core.vad import FrameClassifier


@dataclass(frozen=True)
class Chunk:
    window: Window
    audio: np.ndarray  # the window's spans, end to end


class _Held:
    """The recording's samples from ``offset`` on."""

    def __init__(self) -> None:
        self.pieces: list[np.ndarray] = []
        self.offset = 0
        self.length = 0

    def append(self, samples: np.ndarray) -> None:
        self.pieces.append(samples)
        self.length += len(samples)

    def audio(self) -> np.ndarray:
        if len(self.pieces) > 1:
            self.pieces = [np.concatenate(self.pieces)]
        return self.pieces[0] if self.pieces else np.zeros(0, np.float32)

    def drop_before(self, sample: int) -> None:
        cut = sample - self.offset
        if cut <= 0:
            return
        whole = self.audio()
        self.pieces = [whole[cut:]]
        self.offset = sample
        self.length -= min(cut, len(whole))


def speech_chunks(reader: AudioReader, classifier: FrameClassifier, config: ChunkConfig | None = None,
                  on_progress: Callable[[float], None] | None = None) -> Iterator[Chunk]:
    """The recording's windows with their audio, in order; ``on_progress(seconds read)`` after each block."""
    chunker = SpeechChunker(classifier.frame_samples, config)
    frame = classifier.frame_samples
    held = _Held()
    pending = np.zeros(0, np.float32)
    read = 0
    classifier.reset()
    for block in reader.blocks():
        held.append(block)
        read += len(block)
        pending = np.concatenate([pending, block])
        whole = len(pending) // frame
        windows: list[Window] = []
        for i in range(whole):
            part = pending[i * frame:(i + 1) * frame]
            level = float(np.sqrt(np.mean(part.astype(np.float64) ** 2)))
            windows += chunker.push(classifier(part), level)
        pending = pending[whole * frame:]
        yield from _hand_out(windows, held, chunker)
        if on_progress is not None:
            on_progress(read / SAMPLE_RATE)
    yield from _hand_out(chunker.flush(), held, chunker)


def _hand_out(windows: list[Window], held: _Held, chunker: SpeechChunker) -> Iterator[Chunk]:
    for window in windows:
        audio = held.audio()
        yield Chunk(window, window.audio(audio, held.offset))
    # Keep what a window still to come may need: from the open span's padding, or the last window's end.
    keep = chunker.keep_from()
    held.drop_before(min(keep, held.offset + held.length))
