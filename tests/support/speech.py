"""Spoken commands for end-to-end tests, synthesised by espeak-ng (the dev set has nobody saying them).

The voice and rate are the ones Whisper tiny.en hears right: "Delete that." at 120 words a minute with a
low pitch is decoded as said, where espeak's "Scratch that." comes out as "Crash note."
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DELETE_THAT = "Delete that."


def spoken(text: str, folder: Path) -> Path:
    """A WAV file of ``text`` said by espeak-ng."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.fail("espeak-ng is needed to speak a command (make test installs it)", pytrace=False)
    path = folder / (text.strip(".").replace(" ", "-").lower() + ".wav")
    subprocess.run([espeak, "-v", "en-us", "-s", "120", "-p", "30", "-w", str(path), text], check=True, timeout=60)
    return path
