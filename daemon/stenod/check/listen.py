"""A few seconds from an input device, each block shown as it comes: the microphone side of a check.

The device is opened as the daemon opens it (:class:`stenod.audio.mic.Microphone`: any rate and channel count,
16 kHz mono out); one that cannot be opened (busy, gone) is a :class:`stenod.audio.mic.DeviceError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from stenod.audio.mic import Microphone
from stenod.core import SAMPLE_RATE

STALL_S = 3.0  # listening ends this long past its due end even if the device fell short (a stalled device)


def record(device: dict[str, Any], seconds: float, block_ms: int, on_block: Callable[[np.ndarray], None]
           ) -> np.ndarray:
    """``seconds`` of ``device``'s audio (less if it stops delivering), each block to ``on_block`` as it comes."""
    return asyncio.run(_record(device, seconds, block_ms, on_block))


async def _record(device: dict[str, Any], seconds: float, block_ms: int,
                  on_block: Callable[[np.ndarray], None]) -> np.ndarray:
    wanted = int(seconds * SAMPLE_RATE)
    blocks: list[np.ndarray] = []
    got = 0
    done = asyncio.Event()

    def on_audio(mono: np.ndarray) -> None:
        nonlocal got
        take = mono[:wanted - got]
        if len(take):
            blocks.append(take)
            got += len(take)
            on_block(take)
        if got >= wanted:
            done.set()

    microphone = Microphone(device, on_audio, block_ms)
    try:
        microphone.start()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done.wait(), seconds + STALL_S)
    finally:
        microphone.stop()
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
