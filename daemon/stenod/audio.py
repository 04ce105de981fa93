"""Reading audio files into 16 kHz mono float32."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from stenod.errors import AudioError

SAMPLE_RATE = 16000


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Average the channels and resample with soxr's high-quality filter."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if rate != SAMPLE_RATE and samples.size:
        samples = soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(samples, dtype=np.float32)


def load_audio(path: str | Path) -> np.ndarray:
    """Any WAV/FLAC/OGG file as 16 kHz mono float32, or an :class:`AudioError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    return _read(str(path), str(path))


def decode_audio(data: bytes, name: str = "the upload") -> np.ndarray:
    """Encoded audio (WAV, FLAC, OGG/Vorbis/Opus, MP3, …) as 16 kHz mono float32, or an AudioError."""
    return _read(io.BytesIO(data), name)


def _read(source: str | io.BytesIO, name: str) -> np.ndarray:
    try:
        samples, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(exc).split(":")[-1].strip() or "unrecognised format"
        raise AudioError(f"{name}: not a readable audio file ({reason})") from None
    except OSError as exc:
        raise AudioError(f"{name}: cannot read ({exc.strerror})") from None
    if samples.shape[0] == 0:
        raise AudioError(f"{name}: contains no audio")
    return to_mono_16k(samples, rate)
