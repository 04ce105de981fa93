"""Reading a recording a block at a time, as 16 kHz mono float32, whatever its container.

WAV, FLAC, OGG and MP3 are read with libsndfile (soundfile); anything else (m4a, aac, opus in webm, mp4…)
through ``ffmpeg`` when it is installed, with a one-line error naming it when not. Only a block is in memory
at a time. A file that ends early (a truncated download, a recording cut off) yields what could be read
and then says so in :attr:`AudioReader.warning`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from stenod.core import SAMPLE_RATE
from stenod.errors import AudioError

BLOCK_S = 4.0  # seconds per block read
SNDFILE_FORMATS = {"WAV", "FLAC", "OGG", "MP3", "AIFF", "W64", "RF64", "CAF"}


def _declared_frames(path: Path) -> int:
    """The frame count a PCM WAV header announces (libsndfile counts what is there), or 0."""
    try:
        with wave.open(str(path), "rb") as handle:
            return handle.getnframes()
    except (wave.Error, EOFError, OSError):
        return 0


class AudioReader:
    """One recording (a path, or ``-`` for standard input, copied to a temporary file first). Iterate
    :meth:`blocks`; :attr:`duration` is known up front for files libsndfile reads (else None). :meth:`close`
    removes the copy of standard input."""

    def __init__(self, source: str | Path) -> None:
        self.name = str(source)
        self.warning = ""
        self.duration: float | None = None
        self.read_seconds = 0.0  # of 16 kHz audio delivered so far
        self._info: sf._SoundFileInfo | None = None
        self._spool: Path | None = None
        try:
            path = Path(source)
            if self.name == "-":
                path = self._spooled(sys.stdin.buffer)
            elif path.exists() and not path.is_file() and not path.is_dir():  # a pipe: <(ffmpeg …), a FIFO
                with path.open("rb") as stream:
                    path = self._spooled(stream)
            self._path = str(path)
            self._check(path)
        except OSError as exc:
            self.close()
            raise AudioError(f"{self.name}: cannot read ({exc.strerror or exc})") from None
        except BaseException:
            self.close()
            raise

    def _check(self, path: Path) -> None:
        """A one-line AudioError unless ``path`` is something to read; which reader it needs."""
        name = self.name
        if not path.exists():
            raise AudioError(f"{name}: no such file")
        if path.is_dir():
            raise AudioError(f"{name}: is a directory, not an audio file")
        if path.stat().st_size == 0:
            raise AudioError(f"{name}: is empty (0 bytes)")
        try:
            info = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
            info = None  # not a format libsndfile reads: ffmpeg may
        except OSError as exc:
            raise AudioError(f"{name}: cannot read ({exc.strerror})") from None
        if info is not None and info.format in SNDFILE_FORMATS:
            if info.frames == 0:
                raise AudioError(f"{name}: contains no audio")
            self._info = info
            self.duration = info.frames / info.samplerate if info.frames > 0 else None
            declared = _declared_frames(path) if info.format == "WAV" else 0
            if declared > info.frames:
                self.warning = (f"{name}: the file ends after {info.frames / info.samplerate:.1f} s of the "
                                f"{declared / info.samplerate:.1f} s its header announces (truncated?); "
                                "transcribed what could be read")
        elif shutil.which("ffmpeg") is None:
            raise AudioError(f"{name}: not a WAV, FLAC, OGG or MP3 file; other formats need ffmpeg "
                             "(sudo apt install ffmpeg)")

    def blocks(self) -> Iterator[np.ndarray]:
        """The recording in blocks of about ``BLOCK_S`` seconds of 16 kHz mono float32."""
        for block in self._sndfile() if self._info is not None else self._ffmpeg():
            self.read_seconds += len(block) / SAMPLE_RATE
            yield block

    def _sndfile(self) -> Iterator[np.ndarray]:
        read = 0
        try:
            with sf.SoundFile(self._path) as f:
                resampler = soxr.ResampleStream(f.samplerate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
                for block in f.blocks(blocksize=int(BLOCK_S * f.samplerate), dtype="float32", always_2d=True):
                    read += len(block)
                    yield resampler.resample_chunk(block.mean(axis=1))
                yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)
                expected = f.frames
                rate = f.samplerate
        except (sf.LibsndfileError, RuntimeError) as exc:  # the data ends or breaks part-way
            if read == 0:
                raise AudioError(f"{self.name}: not a readable audio file ({exc})") from None
            self.warning = f"{self.name}: the audio breaks off after {read / self._rate():.1f} s ({exc}); " \
                           "transcribed what could be read"
            return
        if expected > 0 and read < expected:
            self.warning = (f"{self.name}: the file ends after {read / rate:.1f} s of the {expected / rate:.1f} s "
                            "its header announces (truncated?); transcribed what could be read")

    def _rate(self) -> int:
        return self._info.samplerate if self._info is not None else SAMPLE_RATE

    def close(self) -> None:
        """Remove the copy of standard input, if one was made."""
        if self._spool is not None:
            self._spool.unlink(missing_ok=True)
            self._spool = None

    def _spooled(self, stream: BinaryIO) -> Path:
        """A stream (standard input, a pipe) copied to a temporary file a block at a time: MP4 and others
        need to seek."""
        if stream.isatty():
            raise AudioError(f"{self.name}: standard input is a terminal; pipe a recording into it")
        handle = tempfile.NamedTemporaryFile(prefix="stenod-stdin-", delete=False)  # noqa: SIM115
        self._spool = Path(handle.name)
        with handle:
            shutil.copyfileobj(stream, handle, 1 << 20)
        return self._spool

    def _ffmpeg(self) -> Iterator[np.ndarray]:
        if shutil.which("ffmpeg") is None:
            raise AudioError(f"{self.name}: reading this needs ffmpeg (sudo apt install ffmpeg)")
        argv = ["ffmpeg", "-hide_banner", "-v", "error", "-nostdin", "-i", self._path, "-vn", "-ac", "1",
                "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1"]
        # ffmpeg's complaints go to a file: a pipe read only at the end would fill and stall it.
        with tempfile.TemporaryFile() as complaints:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=complaints)
            assert proc.stdout is not None
            size = int(BLOCK_S * SAMPLE_RATE) * 4
            got = 0
            ended = False
            try:
                while data := proc.stdout.read(size):
                    usable = len(data) - len(data) % 4
                    got += usable
                    yield np.frombuffer(data[:usable], dtype="<f4").astype(np.float32)
                ended = True
            finally:
                proc.stdout.close()
                if not ended:
                    proc.kill()  # the caller stopped reading (an error, or Ctrl-C)
                code = proc.wait()
                complaints.seek(0)
                errors = complaints.read()[-4000:].decode(errors="replace").strip().splitlines()
        if code != 0 or errors:
            reason = errors[-1] if errors else f"ffmpeg exited {code}"
            if got == 0:
                raise AudioError(f"{self.name}: not a readable audio file ({reason})")
            self.warning = f"{self.name}: decoding stopped early ({reason}); transcribed what could be read"
