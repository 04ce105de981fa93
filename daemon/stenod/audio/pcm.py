"""One ingest for live audio: whatever a source delivers, as 16 kHz mono float32 blocks.

The microphone, ``/v1/listen``, the Realtime session and Wyoming each hold a :class:`PcmStream` for their
stream's rate and channel count. Feed it blocks as they come (float32 frames, or 16-bit little-endian PCM
bytes, split anywhere); it mixes them to mono and resamples them with one filter quality, keeping the
resampler's state and any half sample between blocks. Call :meth:`PcmStream.finish` at the end of the
stream for the resampler's last few milliseconds.
"""

from __future__ import annotations

import numpy as np
import soxr

from stenod.core import SAMPLE_RATE

QUALITY = "HQ"  # soxr's high quality: transparent for speech, cheap next to a decode
EMPTY = np.zeros(0, np.float32)


class PcmStream:
    """Audio at ``rate`` Hz with ``channels`` interleaved channels, converted block by block."""

    def __init__(self, rate: int, channels: int = 1) -> None:
        if rate <= 0 or channels <= 0:
            raise ValueError(f"a PCM stream needs a positive rate and channel count, not {rate} Hz × {channels}")
        self.rate = rate
        self.channels = channels
        self._resampler = (soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality=QUALITY)
                           if rate != SAMPLE_RATE else None)
        self._partial = b""  # bytes of a frame that the last block cut in two
        self.frames = 0  # frames received so far

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Float samples (``[frames]`` or ``[frames, channels]``) at the stream's rate, as 16 kHz mono."""
        block = np.asarray(samples, dtype=np.float32)
        self.frames += len(block)
        if block.ndim == 2:
            block = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
        if self._resampler is not None:
            block = self._resampler.resample_chunk(np.ascontiguousarray(block))
        return np.ascontiguousarray(block, dtype=np.float32)

    def feed_pcm16(self, data: bytes) -> np.ndarray:
        """16-bit little-endian PCM bytes, split anywhere (a frame cut in two waits for its other half)."""
        data = self._partial + data
        frame = 2 * self.channels
        usable = len(data) - len(data) % frame
        self._partial = data[usable:]
        samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
        return self.feed(samples.reshape(-1, self.channels) if self.channels > 1 else samples)

    def finish(self) -> np.ndarray:
        """What the resampler still holds, at the end of the stream; a cut frame is dropped."""
        self._partial = b""
        if self._resampler is None:
            return EMPTY
        return np.ascontiguousarray(self._resampler.resample_chunk(EMPTY, last=True), dtype=np.float32)
