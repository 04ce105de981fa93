"""``stenod check`` for real: a private PulseAudio server's null-sink monitor is the microphone, a dev-set file
played into the sink is the speaker; a file with ``--input``; and a device another program holds."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from stenod.cli import main
from stenod.core import SAMPLE_RATE
from support.processes import reap
from support.pulse import private_pulse
from support.waits import until


def _check(stack: contextlib.ExitStack, env: dict[str, str], *args: str) -> tuple[subprocess.Popen, list[str]]:
    """``stenod check`` started, its output lines gathered as they come; stopped with ``stack``."""
    proc = subprocess.Popen([sys.executable, "-m", "stenod", "check", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    stack.callback(reap, proc)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stack.callback(reader.join, 10)
    return proc, lines


def _finished(proc: subprocess.Popen, lines: list[str]) -> tuple[int, str]:
    code = proc.wait(timeout=180)
    until(lambda: any(line.startswith(("ok:", "next:")) for line in lines), "the verdict is printed", timeout=10)
    return code, "\n".join(lines)


def test_it_hears_a_voice_played_into_the_microphone(tmp_path: Path, jfk_wav: Path) -> None:
    with contextlib.ExitStack() as stack:
        _, env = private_pulse(stack, tmp_path / "xdg")
        env = {**env, "XDG_CONFIG_HOME": str(tmp_path / "config")}
        proc, lines = _check(stack, env, "--device", "pulse", "--seconds", "8")
        until(lambda: any(line.startswith("listening to") for line in lines) or proc.poll() is not None,
              "it listens", timeout=60)
        subprocess.run(["paplay", str(jfk_wav)], env=env, check=True, timeout=60)
        code, shown = _finished(proc, lines)
    print(shown)
    assert code == 0, shown
    assert "level:  ok" in shown and " s of speech" in shown, shown
    heard = next(line for line in lines if line.startswith("heard:")).lower()
    assert "americans" in heard and "country" in heard, shown
    assert "ok: stenod hears you" in shown
    assert sum(" dBFS  peak " in line for line in lines) >= 7  # the meter, a line a second (not a terminal)


def test_silence_is_no_speech_and_exit_status_one(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        _, env = private_pulse(stack, tmp_path / "xdg")
        env = {**env, "XDG_CONFIG_HOME": str(tmp_path / "config")}
        proc, lines = _check(stack, env, "--device", "pulse", "--seconds", "3")
        code, shown = _finished(proc, lines)
    assert code == 1, shown
    assert "speech: none detected" in shown and "heard:  nothing" in shown
    assert any(line.startswith("next: the input is silent: unmute it") for line in lines), shown


@pytest.fixture
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def test_a_file_with_input(jfk_wav: Path, tmp_path: Path, own_config: None, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", "--input", str(jfk_wav)]) == 0
    shown = capsys.readouterr().out
    heard = next(line for line in shown.splitlines() if line.startswith("heard:")).lower()
    assert "americans" in heard and "country" in heard and "ok: stenod hears you" in shown
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(3 * SAMPLE_RATE, np.float32), SAMPLE_RATE)
    assert main(["check", "--input", str(quiet)]) == 1
    assert "speech: none detected" in capsys.readouterr().out


class _PortAudioError(Exception):
    pass


def _busy_sounddevice() -> SimpleNamespace:
    """A PortAudio with one input, which another program holds."""
    def refuse(**kwargs: object) -> None:
        raise _PortAudioError("Error opening InputStream: Device unavailable [PaErrorCode -9985]")

    return SimpleNamespace(PortAudioError=_PortAudioError, default=SimpleNamespace(device=(0, 0)), InputStream=refuse,
                           query_devices=lambda: [{"name": "hw:0,0", "max_input_channels": 2,
                                                   "default_samplerate": 48000.0}])


def test_a_busy_device_is_refused_politely(own_config: None, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr("stenod.audio.mic._sounddevice", _busy_sounddevice)
    assert main(["check", "--seconds", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == ("stenod check: cannot open input device 'hw:0,0': Error opening InputStream: Device "
                       "unavailable [PaErrorCode -9985]")
    assert out[-1].startswith("next: if another program holds the device (a running `stenod run`")
    assert not any(line.startswith("transcribing with") for line in out)  # nothing was handed to the model
