"""A private PulseAudio server whose default source is a null sink's monitor: a microphone that plays files.

Used by the microphone tests and ``stenod bench daemon``: anything played into the sink (``paplay``) is what
``stenod run`` hears from the default input. The server runs as the current user with its own
``XDG_RUNTIME_DIR``, so it never touches the desktop's sound server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from stenod.errors import StenodError

SINK = "stenod_sink"


def start_pulse(runtime: Path, timeout: float = 20.0) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start the server in ``runtime`` (created, mode 0700); returns it and the environment that reaches it."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            raise StenodError(f"{tool} not found: install pulseaudio and pulseaudio-utils")
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PULSE_SERVER"}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    server = subprocess.Popen(["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1",
                               "--load=module-native-protocol-unix",
                               f"--load=module-null-sink sink_name={SINK} rate=48000"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise StenodError("PulseAudio did not start")
        time.sleep(0.2)
    for args in (["set-default-sink", SINK], ["set-default-source", f"{SINK}.monitor"]):
        subprocess.run(["pactl", *args], env=env, check=True)
    return server, env
