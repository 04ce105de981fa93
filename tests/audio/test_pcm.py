"""One ingest for live audio: any rate, channel count and block split gives the same 16 kHz mono stream."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import soxr

from stenod.audio.pcm import PcmStream
from stenod.core import SAMPLE_RATE


def _tone(rate: int, seconds: float = 1.0, hz: float = 440.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def _pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def test_16k_mono_passes_through_unchanged() -> None:
    tone = _tone(SAMPLE_RATE)
    stream = PcmStream(SAMPLE_RATE)
    assert np.array_equal(stream.feed(tone), tone) and stream.finish().size == 0 and stream.frames == len(tone)


def test_a_48k_stream_fed_in_uneven_blocks_matches_one_whole_resample() -> None:
    tone = _tone(48000)
    stream = PcmStream(48000)
    pieces = [stream.feed(tone[a:b]) for a, b in [(0, 1), (1, 4801), (4801, 30000), (30000, 48000)]]
    out = np.concatenate([*pieces, stream.finish()])
    whole = soxr.resample(tone, 48000, SAMPLE_RATE, quality="HQ")
    assert len(out) == len(whole) == SAMPLE_RATE
    assert np.max(np.abs(out - whole)) < 1e-4


def test_stereo_is_mixed_to_mono() -> None:
    left, right = _tone(SAMPLE_RATE), np.zeros(SAMPLE_RATE, np.float32)
    stream = PcmStream(SAMPLE_RATE, channels=2)
    assert np.allclose(stream.feed(np.stack([left, right], axis=1)), left / 2)


def test_pcm16_frames_cut_anywhere_are_joined_and_a_dangling_half_is_dropped_at_the_end() -> None:
    left, right = _tone(SAMPLE_RATE, 0.1), _tone(SAMPLE_RATE, 0.1, hz=220.0)
    data = _pcm16(np.stack([left, right], axis=1).reshape(-1))
    stream = PcmStream(SAMPLE_RATE, channels=2)
    cuts = [0, 1, 3, 7, 1000, 1001, len(data)]
    out = np.concatenate([stream.feed_pcm16(data[a:b]) for a, b in itertools.pairwise(cuts)])
    assert np.allclose(out, (left + right) / 2, atol=1e-4) and stream.frames == len(left)
    assert stream.feed_pcm16(b"\x01").size == 0 and stream.finish().size == 0


@pytest.mark.parametrize("rate, channels", [(0, 1), (16000, 0)])
def test_a_stream_without_rate_or_channels_is_refused(rate: int, channels: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        PcmStream(rate, channels)
