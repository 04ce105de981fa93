"""Whisper's log-mel front end: 25 ms Hann window, 10 ms hop, Slaney mel filters."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from stenod.core import SAMPLE_RATE

N_FFT = 400
HOP_LENGTH = 160
CHUNK_SECONDS = 30
N_FRAMES = CHUNK_SECONDS * SAMPLE_RATE // HOP_LENGTH  # 3000 frames in a 30 s window
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    linear = hz / f_sp
    log = min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = 80, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """Triangular Slaney-normalised filters, shape ``[n_mels, n_fft // 2 + 1]`` (librosa's ``htk=False``)."""
    fft_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - fft_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT + 1)[:-1].astype(np.float32)


CHUNK_FRAMES = 3000  # 30 s of frames per FFT batch


def log_mel(audio: np.ndarray, n_mels: int = 80, padding: int = HOP_LENGTH) -> np.ndarray:
    """Log-mel spectrogram ``[n_mels, frames]`` of 16 kHz mono float audio.

    ``padding`` zero samples are appended first (as faster-whisper does), then the signal is
    reflect-padded by half a window on each side; one frame every 10 ms, the last one dropped.
    Values are clamped to 8 (log10 units) below the maximum and scaled to roughly [-1, 1].
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if padding:
        audio = np.concatenate([audio, np.zeros(padding, dtype=np.float32)])
    half = N_FFT // 2
    if audio.size <= half:
        audio = np.concatenate([audio, np.zeros(half + 1 - audio.size, dtype=np.float32)])
    padded = np.pad(audio, half, mode="reflect")
    n_frames = 1 + (padded.size - N_FFT) // HOP_LENGTH
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, N_FFT), strides=(padded.strides[0] * HOP_LENGTH, padded.strides[0])
    )
    filters, window = mel_filters(n_mels), _window()
    mel = np.empty((n_mels, n_frames - 1), dtype=np.result_type(filters.dtype, np.float32))
    for at in range(0, n_frames - 1, CHUNK_FRAMES):  # in pieces: a long recording's FFT would not fit in memory
        part = frames[at:min(at + CHUNK_FRAMES, n_frames - 1)]
        spectrum = np.fft.rfft(part * window, axis=-1).astype(np.complex64)
        mel[:, at:at + len(part)] = filters @ (np.abs(spectrum) ** 2).T  # the last frame is dropped
    logspec: np.ndarray = np.log10(np.maximum(mel, 1e-10))
    logspec = np.maximum(logspec, logspec.max() - 8.0)
    return ((logspec + 4.0) / 4.0).astype(np.float32)


def pad_or_trim(mel: np.ndarray, frames: int = N_FRAMES) -> np.ndarray:
    """Zero-pad (after normalisation) or cut the time axis to ``frames``."""
    have = mel.shape[-1]
    if have > frames:
        return mel[..., :frames]
    if have < frames:
        return np.pad(mel, [(0, 0)] * (mel.ndim - 1) + [(0, frames - have)])
    return mel
