"""A private PulseAudio server whose default source is a null sink's monitor: a microphone that plays files.

Used by the microphone tests and ``stenod bench daemon``: anything played into the sink (``paplay``) is what
``stenod run`` hears from the default input. The server runs as the current user with its own
``XDG_RUNTIME_DIR``, so it never touches the desktop's sound server.

Stop it with :func:`stop_pulse`, which also finds a server that is no longer this process's child (one that a
client autospawned, or one started again by someone else in the same runtime directory) through its pid file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from stenod.errors import StenodError
from stenod_bench.processes import stop

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


def pid_file(env: dict[str, str]) -> Path:
    """Where the server for ``env`` writes its pid."""
    return Path(env["XDG_RUNTIME_DIR"]) / "pulse" / "pid"


def stop_pulse(server: subprocess.Popen | None, env: dict[str, str], timeout: float = 10.0) -> None:
    """Stop the server of ``env``: ``pulseaudio --kill``, then the process itself and whatever its pid file
    names, each with SIGTERM and after ``timeout`` seconds SIGKILL."""
    named = _named_pid(env)
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=timeout)
    if server is not None:
        stop(server, grace=timeout)
    for pid in {named, _named_pid(env)}:
        if pid is not None and (server is None or pid != server.pid):
            _end(pid, timeout)


def _named_pid(env: dict[str, str]) -> int | None:
    """The pid in the pid file, if that process is alive and is a PulseAudio server."""
    try:
        pid = int(pid_file(env).read_text().split()[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"pulseaudio" in command else None


def _end(pid: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:  # a child of ours after all: reap it
                    return
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.05)
