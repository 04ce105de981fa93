"""A private PulseAudio server for a test, stopped with the test's ExitStack, whatever happens."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest

from stenod.errors import StenodError
from stenod_bench.pulse import pid_file, start_pulse, stop_pulse
from support.processes import watch_pid_file


def private_pulse(stack: contextlib.ExitStack, folder: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start the server in ``folder``; the server and the environment that reaches it."""
    try:
        pulse, env = start_pulse(folder)
    except StenodError as exc:
        pytest.fail(f"{exc} (make deps installs them)", pytrace=False)
    watch_pid_file(pid_file(env), "pulseaudio")
    stack.callback(stop_pulse, pulse, env)
    return pulse, env
