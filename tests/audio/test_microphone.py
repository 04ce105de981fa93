"""The real microphone path: PulseAudio with a null sink whose monitor is the default source.

A private PulseAudio server (its own XDG_RUNTIME_DIR) plays a dev-set session into the sink with
``paplay``; ``stenod run`` captures the monitor through PortAudio, and a WebSocket subscriber checks what
comes out.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection

from stenod.errors import StenodError
from stenod_bench.evaluation import word_error_rate
from stenod_bench.pulse import pid_file, start_pulse, stop_pulse
from support.daemon import Daemon, utterances_closed
from support.processes import reap, watch_pid_file
from support.waits import until

SESSION = "session_01_mixed_read"  # 20 read sentences, 122 s; the digit-string session's WER swings too much
MIC_MARGIN = 0.02  # the microphone path (48 kHz capture, resampling, real time) may cost this much WER


@pytest.fixture(scope="module")
def file_wer(sessions) -> float:
    """The session's WER when its file goes through the same pipeline (Silero, tiny.en int8) without a
    microphone, as ``stenod bench stream`` measures it: the reference the microphone is held to."""
    from stenod.audio.classifiers import make_classifier
    from stenod.core.events import Final
    from stenod.engine.recognizer import WhisperRecognizer
    from stenod.engine.whisper import WhisperEngine
    from stenod.live.files import run_fast

    session = sessions[SESSION]
    recognizer = WhisperRecognizer(WhisperEngine.load("tiny.en", "int8"))
    stats = run_fast(session["samples"], recognizer, make_classifier("silero"))
    return word_error_rate([session["text"]], [" ".join(e.text for e in stats.events if isinstance(e, Final))])


@pytest.fixture
def pulse(tmp_path) -> Iterator[dict[str, str]]:
    """A private PulseAudio server; the environment that reaches it. It is stopped however the test ends."""
    try:
        server, env = start_pulse(tmp_path / "xdg")
    except StenodError as exc:
        pytest.fail(f"{exc} (.ci/run installs them)", pytrace=False)
    watch_pid_file(pid_file(env), "pulseaudio")
    try:
        yield env
    finally:
        stop_pulse(server, env)


def _daemon(env: dict[str, str], tmp_path: Path) -> Daemon:
    """``stenod run`` on the default input of the PulseAudio server of ``env``, once it is ready."""
    return Daemon(tmp_path, "--device", "pulse", runtime=Path(env["XDG_RUNTIME_DIR"]), env=env)


def test_devices_lists_the_pulseaudio_inputs(pulse) -> None:
    out = subprocess.run([sys.executable, "-m", "stenod", "devices"], env=pulse, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "pulse" in out.stdout


def test_dictation_through_the_microphone(pulse, sessions, eval_dir, tmp_path, file_wer) -> None:
    session = sessions[SESSION]
    events: list[dict] = []
    with _daemon(pulse, tmp_path) as daemon, daemon.connect("/v1/events") as ws:

        def read() -> None:
            try:
                while True:
                    events.append(json.loads(ws.recv(timeout=4.0 + session["duration_s"])))
            except Exception:  # timeout or close: the test looks at what arrived
                pass

        reader = threading.Thread(target=read)
        reader.start()
        try:
            subprocess.run(["paplay", str(eval_dir / session["audio"])], env=pulse, check=True,
                           timeout=session["duration_s"] + 30)
            until(lambda: utterances_closed(list(events)), "the last utterance has its final and its end")
        finally:
            ws.close()
            reader.join()
        assert daemon.stop() == 0
    kinds = [e["type"] for e in events]
    assert kinds[0] == "hello" and "speech_start" in kinds and "partial" in kinds
    finals = [e["text"] for e in events if e["type"] == "final"]
    wer = word_error_rate([session["text"]], [" ".join(finals)])
    print(f"WER through the microphone: {wer:.3f}; from the file: {file_wer:.3f}")
    assert wer <= file_wer + MIC_MARGIN, f"WER {wer:.3f} through the microphone, {file_wer:.3f} from the file"


def test_a_lost_device_is_reported_and_reopened(pulse, tmp_path) -> None:
    revived = None
    try:
        with _daemon(pulse, tmp_path) as daemon, daemon.connect("/v1/events") as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            subprocess.run(["pulseaudio", "--kill"], env=pulse, check=False)  # the sound server goes away
            states = []
            deadline = time.monotonic() + 30
            while "device_lost" not in states and time.monotonic() < deadline:
                event = json.loads(ws.recv(timeout=30))
                if event["type"] == "status":
                    states.append(event["state"])
            assert "device_lost" in states
            revived, _ = start_pulse(Path(pulse["XDG_RUNTIME_DIR"]))
            deadline = time.monotonic() + 60
            back = None
            while back is None and time.monotonic() < deadline:
                event = json.loads(ws.recv(timeout=60))
                if event["type"] == "status" and event["state"] == "listening":
                    back = event
            assert back is not None and "back" in back["message"]
            assert daemon.proc.poll() is None  # it kept serving throughout
    finally:
        if revived is not None:
            stop_pulse(revived, pulse)


def _until(ws: ClientConnection, wanted, timeout: float, seen: list[dict]) -> dict | None:
    """Read events into ``seen`` until one makes ``wanted`` true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            return None
        seen.append(event)
        if wanted(event):
            return event
    return None


def test_the_sink_unloaded_mid_utterance_and_loaded_again(pulse, tmp_path, eval_dir) -> None:
    with contextlib.ExitStack() as stack:
        daemon = stack.enter_context(_daemon(pulse, tmp_path))
        ws = stack.enter_context(daemon.connect("/v1/events"))
        seen: list[dict] = []
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        player = subprocess.Popen(["paplay", str(eval_dir / "sessions" / f"{SESSION}.wav")], env=pulse)
        stack.callback(reap, player)
        assert _until(ws, lambda e: e["type"] == "partial", 60, seen), "no speech heard"
        modules = subprocess.run(["pactl", "list", "short", "modules"], env=pulse, capture_output=True,
                                 text=True, check=True).stdout
        index = next(line.split()[0] for line in modules.splitlines() if "module-null-sink" in line)
        subprocess.run(["pactl", "unload-module", index], env=pulse, check=True)  # unplugged mid-sentence
        cut = seen[-1]["utterance_id"]
        assert _until(ws, lambda e: e["type"] == "status" and e["state"] == "device_lost", 30, seen)
        assert any(e["type"] == "speech_end" and e["utterance_id"] == cut for e in seen) or _until(
            ws, lambda e: e["type"] == "speech_end" and e["utterance_id"] == cut, 30, seen)
        reap(player)
        subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=stenod_sink", "rate=48000"],
                       env=pulse, check=True, capture_output=True)
        for args in (["set-default-sink", "stenod_sink"], ["set-default-source", "stenod_sink.monitor"]):
            subprocess.run(["pactl", *args], env=pulse, check=True)
        assert _until(ws, lambda e: e["type"] == "status" and e["state"] == "listening", 90, seen), "not back"
        subprocess.run(["paplay", str(eval_dir / "utterances" / "en" / "whisper_jfk.wav")], env=pulse,
                       check=True, timeout=60)
        final = _until(ws, lambda e: e["type"] == "final" and "country" in e["text"].lower(), 30, seen)
        assert final is not None, "dictation did not resume"
        assert daemon.proc.poll() is None
