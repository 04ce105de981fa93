"""A private PulseAudio server for a test, stopped with the test's ExitStack, whatever happens."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest

from stenod.errors import StenodError
from stenod_bench.pulse import pid_file, start_pulse, stop_pulse
from support.processes import reap, watch_pid_file


def private_pulse(stack: contextlib.ExitStack, folder: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start the server in ``folder``, its sink kept playing silence; the server and the environment that
    reaches it.

    A real microphone never stops delivering; an idle null sink's monitor does, and then the first few
    hundred milliseconds of what is played next reach the daemon late or not at all (the first words of the
    first utterance). A stream of silence keeps the sink running, like a live device.
    """
    try:
        pulse, env = start_pulse(folder)
    except StenodError as exc:
        pytest.fail(f"{exc} (make deps installs them)", pytrace=False)
    watch_pid_file(pid_file(env), "pulseaudio")
    stack.callback(stop_pulse, pulse, env)
    keeper = subprocess.Popen(["pacat", "--playback", "--raw", "--format=s16le", "--rate=16000", "--channels=1",
                               "/dev/zero"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack.callback(reap, keeper)
    return pulse, env
