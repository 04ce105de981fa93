"""The streaming core is sans-I/O: importing it pulls in no event loop, sockets, sound or inference runtime."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("asyncio", "socket", "sounddevice", "onnxruntime", "threading")


def test_core_imports_no_io() -> None:
    code = (
        "import sys\n"
        "import stenod.core.pipeline, stenod.core.fake, stenod.core.events, stenod.core.cleanup, stenod.core.guards\n"
        f"print([m for m in {FORBIDDEN!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
