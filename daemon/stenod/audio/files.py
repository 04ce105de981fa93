"""Reading audio files into 16 kHz mono float32."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from stenod.core import SAMPLE_RATE
from stenod.errors import AudioError


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


def decode_audio(data: bytes, name: str = "the upload", max_seconds: float = 3600.0) -> np.ndarray:
    """Encoded audio (WAV, FLAC, OGG/Vorbis/Opus, MP3, …) as 16 kHz mono float32, or an AudioError.

    It is decoded a second at a time into 16 kHz mono, so a small file that unpacks to hours of many-channel
    audio never sits in memory at its own rate; more than ``max_seconds`` of audio is refused.
    """
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = f.samplerate
            if f.frames > max_seconds * rate:
                raise AudioError(f"{name}: {f.frames / rate:.0f} s of audio; the limit is {max_seconds:.0f} s")
            resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
            pieces: list[np.ndarray] = []
            read = 0
            for block in f.blocks(blocksize=rate, dtype="float32", always_2d=True):
                read += len(block)
                if read > max_seconds * rate:
                    raise AudioError(f"{name}: more than {max_seconds:.0f} s of audio, the limit")
                pieces.append(resampler.resample_chunk(block.mean(axis=1)))
            pieces.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(exc).split(":")[-1].strip() or "unrecognised format"
        raise AudioError(f"{name}: not a readable audio file ({reason})") from None
    if read == 0:
        raise AudioError(f"{name}: contains no audio")
    return np.ascontiguousarray(np.concatenate(pieces), dtype=np.float32)


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
