"""Microphone capture with sounddevice (PortAudio).

The PortAudio callback only copies the block and hands it to the event loop; it never blocks. Blocks that
find the queue full are dropped and counted. Audio is resampled to 16 kHz mono with soxr.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr

from stenod.errors import StenodError


class DeviceError(StenodError):
    """No usable input device."""


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # PortAudio itself is missing
        raise DeviceError(f"PortAudio is not available ({exc}); install libportaudio2") from None
    return sounddevice


def input_devices() -> list[dict[str, Any]]:
    """Every device with input channels: index, name, channels, default rate, and whether it is the default."""
    sd = _sounddevice()
    try:
        default = sd.default.device[0]
        devices = sd.query_devices()
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices: {exc}") from None
    return [{"index": i, "name": d["name"], "channels": d["max_input_channels"],
             "rate": int(d["default_samplerate"]), "default": i == default}
            for i, d in enumerate(devices) if d["max_input_channels"] > 0]


def choose_device(spec: str) -> dict[str, Any]:
    """The input device named by ``spec`` (an index or a case-insensitive name substring; "" = default)."""
    devices = input_devices()
    if not devices:
        raise DeviceError("no audio input device found")
    if not spec:
        default = [d for d in devices if d["default"]]
        return default[0] if default else devices[0]
    if spec.isdigit():
        match = [d for d in devices if d["index"] == int(spec)]
    else:
        match = [d for d in devices if spec.lower() in d["name"].lower()]
    if not match:
        names = ", ".join(f"{d['index']}: {d['name']}" for d in devices)
        raise DeviceError(f"no input device matches {spec!r} (have: {names})")
    return match[0]


class Microphone:
    """An open input stream feeding 16 kHz mono float32 blocks to ``on_audio`` in the event loop."""

    def __init__(self, device: dict[str, Any], on_audio: Callable[[np.ndarray], None], block_ms: int = 20,
                 max_pending: int = 250) -> None:
        self.device = device
        self.on_audio = on_audio
        self.rate = device["rate"]
        self.channels = min(2, device["channels"])
        self.block = max(1, self.rate * block_ms // 1000)
        self.max_pending = max_pending
        self.pending = 0
        self.overflows = 0  # blocks dropped because the loop fell behind, plus PortAudio's own overflows
        self._resampler = soxr.ResampleStream(self.rate, 16000, 1, dtype="float32", quality="HQ") \
            if self.rate != 16000 else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None
        self.last_audio = 0.0  # loop time of the newest block

    def start(self) -> None:
        sd = _sounddevice()
        self._loop = asyncio.get_running_loop()
        self.last_audio = self._loop.time()
        try:
            self._stream = sd.InputStream(device=self.device["index"], channels=self.channels,
                                          samplerate=self.rate, blocksize=self.block, dtype="float32",
                                          callback=self._callback)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise DeviceError(f"cannot open input device {self.device['name']!r}: {exc}") from None

    def stop(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):  # a device that went away may fail to stop cleanly
                self._stream.stop()
                self._stream.close()
            self._stream = None

    def healthy(self, silence_limit: float = 2.0) -> bool:
        """The stream is running and blocks keep coming (PortAudio may stall instead of failing)."""
        assert self._loop is not None
        return self.active and self._loop.time() - self.last_audio < silence_limit

    @property
    def active(self) -> bool:
        try:
            return self._stream is not None and bool(self._stream.active)
        except Exception:  # PortAudio errors once the device is gone
            return False

    def _callback(self, data: np.ndarray, frames: int, time: Any, status: Any) -> None:
        if status and status.input_overflow:
            self.overflows += 1
        if self.pending >= self.max_pending:
            self.overflows += 1
            return
        self.pending += 1
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver, data.copy())

    def _deliver(self, block: np.ndarray) -> None:
        self.pending -= 1
        assert self._loop is not None
        self.last_audio = self._loop.time()
        mono = block.mean(axis=1) if block.ndim == 2 else block
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono.astype(np.float32))
        if len(mono):
            self.on_audio(np.ascontiguousarray(mono, dtype=np.float32))
