"""No microphone at start: the daemon serves everything else, says so, and picks one up when it appears.

The machine has no sound card, and the sound server is not running (its clients may not start one). Once
the daemon serves, a private PulseAudio server with a null sink comes up in the daemon's runtime folder; the
daemon finds it on its own and dictation through it works without a restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stenod.core import SAMPLE_RATE
from stenod_bench.evaluation import word_error_rate
from stenod_bench.pulse import pid_file, start_pulse, stop_pulse
from support.daemon import JFK, Daemon, collect, pcm
from support.processes import watch_pid_file


@pytest.fixture
def silent_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The daemon's runtime folder, where no sound server runs and none may be started behind its back."""
    client = tmp_path / "pulse-client.conf"
    client.write_text("autospawn = no\n")
    monkeypatch.setenv("PULSE_CLIENTCONFIG", str(client))
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    devices = subprocess.run([sys.executable, "-m", "stenod", "devices"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    if devices.returncode == 0:
        pytest.skip(f"this machine has a sound card the test cannot hide: {devices.stdout.strip()[:200]}")
    return runtime


def _health(daemon: Daemon) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/health", timeout=10) as response:
        return json.loads(response.read())


def test_the_daemon_serves_without_a_microphone_and_takes_one_when_it_appears(
        silent_machine: Path, tmp_path: Path, jfk_audio: np.ndarray) -> None:
    with Daemon(tmp_path, runtime=silent_machine) as daemon:
        assert _health(daemon)["state"] == "no_microphone"
        with daemon.connect("/v1/events") as events:
            hello = json.loads(events.recv(timeout=10))
            assert (hello["type"], hello["state"]) == ("hello", "no_microphone")
            with daemon.connect("/v1/listen") as listen:  # remote audio is served meanwhile
                assert json.loads(listen.recv(timeout=10))["type"] == "hello"
                listen.send(pcm(jfk_audio))
                listen.send(json.dumps({"type": "end"}))
                finals = [e["text"] for e in collect(listen, until="__closed__", timeout=120) if e["type"] == "final"]
            assert word_error_rate([JFK], [" ".join(finals)]) < 0.2

            server, env = start_pulse(silent_machine)
            watch_pid_file(pid_file(env), "pulseaudio")
            try:
                states = _states_until(events, "listening", timeout=60)
                assert _health(daemon)["state"] == "listening", states
                # A second of silence first: a null sink that was idle may swallow the start of what plays.
                clip = tmp_path / "jfk-after-silence.wav"
                sf.write(clip, np.concatenate([np.zeros(SAMPLE_RATE, np.float32), jfk_audio]), SAMPLE_RATE)
                subprocess.run(["paplay", str(clip)], env=env, check=True, timeout=60)
                said = collect(events, timeout=60, stop=_last_words)  # the clip is two utterances
                heard = " ".join(e["text"] for e in said if e["type"] == "final")
            finally:
                stop_pulse(server, env)
        # tiny.en through the 44.1 kHz monitor now and then mishears the first words ("I fell in America")
        assert word_error_rate([JFK], [heard]) < 0.35, heard
    assert "waiting for an input device" in daemon.log and daemon.proc.returncode == 0


def _last_words(event: dict) -> bool:
    return event["type"] == "final" and event["text"].rstrip(" .!").lower().endswith("for your country")


def _states_until(ws, state: str, timeout: float) -> list[str]:
    """The states of the status events that arrive, up to and including ``state``."""
    states: list[str] = []
    deadline = time.monotonic() + timeout
    while state not in states:
        if time.monotonic() > deadline:
            pytest.fail(f"no {state!r} status within {timeout} s; saw {states}")
        event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if event["type"] == "status":
            states.append(event["state"])
    return states


def test_a_device_named_that_does_not_exist_is_a_configuration_error(silent_machine: Path, tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "stenod", "run", "--device", "no-such-microphone"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "XDG_RUNTIME_DIR": str(silent_machine),
                              "XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1].startswith("stenod: error: no audio input device"), run.stderr
