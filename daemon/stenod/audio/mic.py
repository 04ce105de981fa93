"""Microphone capture with sounddevice (PortAudio), kept going for as long as the daemon runs.

:class:`Microphone` is one open input stream: the PortAudio callback only copies the block and hands it to the
event loop; it never blocks. Blocks that find the queue full are dropped and counted. A :class:`PcmStream`
turns them into 16 kHz mono. :class:`Capture` keeps a microphone open: it waits for a device to appear when
there is none, notices one that stops delivering, and opens one again with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from stenod.audio.pcm import PcmStream
from stenod.errors import StenodError

log = logging.getLogger("stenod.audio.mic")
RETRY_S = (1.0, 8.0)  # the first wait before looking for a device again, and the longest


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


def refresh_devices() -> None:
    """Make PortAudio list the devices again: it looks for them once, when it starts, so a microphone plugged in
    (or a sound server started) later is not seen otherwise. Only while no stream is open."""
    sd = _sounddevice()
    try:
        sd._terminate()
        sd._initialize()
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices: {exc}") from None


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
        self._pcm = PcmStream(self.rate, self.channels)
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
        mono = self._pcm.feed(block)
        if len(mono):
            self.on_audio(mono)


class Capture:
    """The daemon's microphone, kept open. Run :meth:`run` as a task; cancel it (then :meth:`stop`) to end.

    ``on_state(state, message)`` hears ``no_microphone`` while no device can be opened at start,
    ``device_lost`` when the open device stops delivering (it is looked for again with backoff), and
    ``capturing`` each time a device delivers; ``on_audio`` gets 16 kHz mono blocks. ``device`` is read at each
    attempt, so a reloaded configuration applies; ``paused`` (no blocks are expected while it holds) keeps a
    device that stays quiet from being taken for lost.
    """

    def __init__(self, device: Callable[[], str], on_audio: Callable[[np.ndarray], None], block_ms: int,
                 on_state: Callable[[str, str], None], paused: Callable[[], bool] = lambda: False) -> None:
        self.device = device
        self.on_audio = on_audio
        self.block_ms = block_ms
        self.on_state = on_state
        self.paused = paused
        self.microphone: Microphone | None = None
        self.overflows = 0  # blocks lost by the microphones closed so far

    @property
    def lost_blocks(self) -> int:
        """Audio blocks lost to a full queue or PortAudio overflows, over every device opened."""
        return self.overflows + (self.microphone.overflows if self.microphone else 0)

    async def start(self) -> None:
        """Try to open a device once, now: ``capturing`` or ``no_microphone`` is reported either way."""
        try:
            self.microphone = await self._attempt()
        except DeviceError as exc:
            self.on_state("no_microphone", f"{exc}; waiting for an input device")
        else:
            self._report_capturing("input device")

    async def run(self) -> None:
        """Keep a device open, forever: call :meth:`start` first."""
        found = "input device found"  # it was not there at start
        while True:
            if self.microphone is None:
                self.microphone = await self._open()
                self._report_capturing(found)
            device = self.microphone.device
            while self.microphone.healthy() or self.paused():
                await asyncio.sleep(1.0)
            log.warning("input device lost: %s", device["name"])
            self.stop()
            self.on_state("device_lost", f"input device {device['name']!r} stopped delivering audio")
            found = "input device back"

    def stop(self) -> None:
        if self.microphone is not None:
            self.microphone.stop()
            self.overflows += self.microphone.overflows
            self.microphone = None

    def _report_capturing(self, what: str) -> None:
        assert self.microphone is not None
        device = self.microphone.device
        self.on_state("capturing", f"{what}: {device['name']} ({device['rate']} Hz)")

    async def _open(self) -> Microphone:
        """A microphone that started, after as many attempts as it takes, looking again with backoff."""
        delay = RETRY_S[0]
        while True:
            await asyncio.sleep(delay)
            try:
                return await self._attempt()
            except DeviceError as exc:
                log.debug("no input device yet (%s); looking again in %.0f s", exc, delay)
            delay = min(RETRY_S[1], delay * 2)

    async def _attempt(self) -> Microphone:
        await asyncio.to_thread(refresh_devices)
        microphone = Microphone(choose_device(self.device()), self.on_audio, self.block_ms)
        try:
            microphone.start()
        except DeviceError:
            microphone.stop()
            raise
        return microphone
