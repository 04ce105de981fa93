"""The log-mel front end against faster-whisper's FeatureExtractor."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from stenod.engine.mel import HOP_LENGTH, N_FRAMES, log_mel, mel_filters, pad_or_trim


@pytest.fixture(scope="module")
def extractor() -> FeatureExtractor:
    return FeatureExtractor()


def test_mel_filters_match_faster_whisper(extractor: FeatureExtractor) -> None:
    ours = mel_filters()
    assert ours.shape == (80, 201)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, extractor.mel_filters, rtol=1e-6, atol=1e-8)
    # every filter has some weight and they are triangular (one peak each)
    assert (ours.max(axis=1) > 0).all()
    peaks = ours.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all()


def test_mel_filters_128(extractor: FeatureExtractor) -> None:
    reference = FeatureExtractor(feature_size=128).mel_filters
    np.testing.assert_allclose(mel_filters(128), reference, rtol=1e-6, atol=1e-8)


def test_log_mel_matches_faster_whisper_on_jfk(jfk_audio: np.ndarray, extractor: FeatureExtractor) -> None:
    ours = log_mel(jfk_audio)
    reference = extractor(jfk_audio)
    assert ours.shape == reference.shape == (80, len(jfk_audio) // HOP_LENGTH + 1)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)
    # values are the normalised log-mel range
    assert ours.max() <= 1.5 and ours.min() >= ours.max() - 2.0 - 1e-6


def test_log_mel_matches_faster_whisper_on_a_short_clip(jfk_audio: np.ndarray, extractor: FeatureExtractor) -> None:
    clip = jfk_audio[16000: 16000 + 800]  # 0.05 s
    ours = log_mel(clip)
    reference = extractor(clip)
    assert ours.shape == reference.shape == (80, 6)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("n", [1, 100, 160, 161, 400, 401, 800, 16000, 16001, 48_123])
def test_frame_count(n: int, extractor: FeatureExtractor) -> None:
    audio = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    mel = log_mel(audio)
    assert mel.shape == (80, n // HOP_LENGTH + 1)
    assert mel.shape == extractor(audio).shape
    assert np.isfinite(mel).all()


def test_log_mel_accepts_other_shapes_and_dtypes(jfk_audio: np.ndarray) -> None:
    clip = jfk_audio[:8000]
    base = log_mel(clip)
    np.testing.assert_allclose(log_mel(clip.astype(np.float64)), base, atol=1e-6)
    np.testing.assert_allclose(log_mel(clip[None, :]), base, atol=1e-6)


def test_silence_is_flat() -> None:
    mel = log_mel(np.zeros(16000, np.float32))
    assert np.isfinite(mel).all()
    np.testing.assert_allclose(mel, (-10.0 + 4.0) / 4.0, rtol=1e-6)


def test_dynamic_range_is_clamped_to_8() -> None:
    rng = np.random.default_rng(0)
    audio = np.concatenate([rng.standard_normal(8000), np.zeros(8000)]).astype(np.float32)
    mel = log_mel(audio)
    assert mel.max() - mel.min() <= 2.0 + 1e-6  # 8 log10 units / 4
    assert mel.max() - mel.min() > 1.9


def test_pad_or_trim() -> None:
    rng = np.random.default_rng(0)
    short = rng.standard_normal((80, 1234)).astype(np.float32)
    padded = pad_or_trim(short)
    assert padded.shape == (80, N_FRAMES)
    assert padded.dtype == np.float32
    np.testing.assert_array_equal(padded[:, :1234], short)
    assert not padded[:, 1234:].any()  # zero, after normalisation

    long = rng.standard_normal((80, 3500)).astype(np.float32)
    trimmed = pad_or_trim(long)
    assert trimmed.shape == (80, N_FRAMES)
    np.testing.assert_array_equal(trimmed, long[:, :N_FRAMES])

    exact = rng.standard_normal((80, N_FRAMES)).astype(np.float32)
    np.testing.assert_array_equal(pad_or_trim(exact), exact)

    assert pad_or_trim(short, 600).shape == (80, 600)
    np.testing.assert_array_equal(pad_or_trim(short, 600), short[:, :600])
    batch = rng.standard_normal((1, 80, 10)).astype(np.float32)
    out = pad_or_trim(batch, 16)
    assert out.shape == (1, 80, 16)
    np.testing.assert_array_equal(out[..., :10], batch)
    assert not out[..., 10:].any()
