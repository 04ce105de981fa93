"""A recording's speech windows, read as it streams: blocks in, VAD frames, :class:`SpeechChunker`, windows out.

Only the audio from the oldest window not yet handed out is kept, so memory stays flat however long the
recording is (a window is at most 30 s of speech, though it may span minutes of the recording).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.core.chunking import ChunkConfig, SpeechChunker, Window


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


class BlockSource(Protocol):
    """Audio in blocks (``AudioReader`` reads a file so); ``read_seconds`` of it handed out so far."""

    @property
    def read_seconds(self) -> float: ...

    def blocks(self) -> Iterator[np.ndarray]: ...


class ArraySource:
    """Audio already in memory (16 kHz mono float32), handed out in blocks like a file."""

    BLOCK = 4 * SAMPLE_RATE

    def __init__(self, audio: np.ndarray) -> None:
        self.audio = audio
        self.done = 0

    @property
    def read_seconds(self) -> float:
        return self.done / SAMPLE_RATE

    def blocks(self) -> Iterator[np.ndarray]:
        for at in range(0, len(self.audio), self.BLOCK):
            block = self.audio[at:at + self.BLOCK]
            self.done = at + len(block)
            yield block


class SequenceVad(Protocol):
    """Speech probabilities for a run of frames at once (``SileroSequence``), keeping state between runs."""

    frame_samples: int

    def reset(self) -> None: ...

    def probabilities(self, samples: np.ndarray) -> np.ndarray: ...


def speech_chunks(reader: BlockSource, vad: SequenceVad, config: ChunkConfig | None = None,
                  on_progress: Callable[[float], None] | None = None) -> Iterator[Chunk]:
    """The recording's windows with their audio, in order; ``on_progress(seconds read)`` after each block."""
    chunker = SpeechChunker(vad.frame_samples, config)
    frame = vad.frame_samples
    held = _Held()
    pending = np.zeros(0, np.float32)
    vad.reset()
    for block in reader.blocks():
        held.append(block)
        pending = np.concatenate([pending, block])
        whole = len(pending) // frame * frame
        frames, pending = pending[:whole], pending[whole:]
        windows: list[Window] = []
        if whole:
            levels = np.sqrt(np.mean(frames.reshape(-1, frame).astype(np.float64) ** 2, axis=1))
            for probability, level in zip(vad.probabilities(frames), levels):
                windows += chunker.push(float(probability), float(level))
        yield from _hand_out(windows, held, chunker)
        if on_progress is not None:
            on_progress(reader.read_seconds)
    yield from _hand_out(chunker.flush(), held, chunker)


def _hand_out(windows: list[Window], held: _Held, chunker: SpeechChunker) -> Iterator[Chunk]:
    for window in windows:
        audio = held.audio()
        yield Chunk(window, window.audio(audio, held.offset))
    # Keep what a window still to come may need: from the open span's padding, or the last window's end.
    keep = chunker.keep_from()
    held.drop_before(min(keep, held.offset + held.length))

