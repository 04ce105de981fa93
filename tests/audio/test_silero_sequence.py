"""Silero over whole blocks gives the per-frame classifier's probabilities, whatever the block boundaries."""

from __future__ import annotations

import itertools

import numpy as np

from stenod.audio.silero import SileroClassifier
from stenod.audio.silero_sequence import SileroSequence


def test_blocks_give_the_per_frame_probabilities(jfk_audio) -> None:
    audio = jfk_audio[: len(jfk_audio) // 512 * 512]
    one = SileroClassifier()
    expected = np.array([one(audio[i:i + 512]) for i in range(0, len(audio), 512)])
    sequence = SileroSequence()
    cuts = [0, 512 * 7, 512 * 100, 512 * 101, len(audio)]  # uneven blocks: the state carries across them
    got = np.concatenate([sequence.probabilities(audio[a:b]) for a, b in itertools.pairwise(cuts)])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4
    assert (expected > 0.5).mean() > 0.5  # JFK is mostly speech: the comparison is not of zeros
