"""``stenod ime`` for real: a private D-Bus, a real ibus-daemon, a GTK 3 window under Xvfb with IBus as its input
method, and the daemon hearing a dev-set utterance through the PulseAudio virtual microphone.

The window's text must equal the daemon's finals, and while the person speaks the words must appear in the
window as preedit (a screenshot shows it, underlined, after the committed text). A spoken "Delete that." then
takes the last sentence back out of the field.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.sync.client import connect

from stenod.errors import StenodError
from stenod.net.auth import session_token
from stenod_bench.clients import start_xvfb
from stenod_bench.evaluation import word_error_rate
from support.daemon import JFK, free_port, utterances_closed, valid
from support.dbus_session import session_bus
from support.processes import reap, reap_group
from support.pulse import private_pulse
from support.speech import DELETE_THAT, spoken
from support.waits import until

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WINDOW = Path(__file__).resolve().parents[1] / "support" / "gtk_window.py"


@dataclass
class Dictated:
    truth: list[dict] = field(default_factory=list)
    window: list[dict] = field(default_factory=list)
    speech_s: float = 0.0
    dictated_upto: int = 0  # window log entries before the spoken command


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _ibus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ibus", *args], env=env, capture_output=True, text=True, timeout=20)


def _focused(env: dict[str, str]) -> bool:
    done = subprocess.run(["xdotool", "getwindowfocus", "getwindowname"], env=env, capture_output=True, text=True,
                          timeout=10)
    return done.stdout.strip() == "stenod input method window"


def _read_all(ws, out: list[dict]) -> None:
    with contextlib.suppress(Exception):
        while True:
            out.append(json.loads(ws.recv()))


def _desktop(stack: contextlib.ExitStack, tmp: Path, components: Path | None = None) -> dict[str, str]:
    """Xvfb, a session bus and an ibus-daemon of their own (reading ``components`` too, if given); the
    environment that reaches them. What ibus-daemon and the engines it starts write goes to tmp/ibus.log."""
    for tool in ("ibus-daemon", "ibus", "Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (make deps installs ibus, ibus-gtk3 and xvfb)", pytrace=False)
    try:
        server, display = start_xvfb()
    except StenodError as exc:
        pytest.fail(str(exc))
    stack.callback(reap, server)
    bus = stack.enter_context(session_bus())
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP", "GTK_IM_MODULE")}
    env.update(DISPLAY=display, DBUS_SESSION_BUS_ADDRESS=bus, IBUS_ADDRESS=f"unix:path={tmp / 'ibus.sock'}",
               XDG_CACHE_HOME=str(tmp / "cache"), GTK_IM_MODULE="ibus", NO_AT_BRIDGE="1")
    ibus_env = {**env, "XDG_CONFIG_HOME": str(tmp / "ibus")}
    if components is not None:
        ibus_env["IBUS_COMPONENT_PATH"] = f"{components}:/usr/share/ibus/component"
    log = stack.enter_context((tmp / "ibus.log").open("w"))
    ibus = subprocess.Popen(["ibus-daemon", "--verbose", "--panel=disable", "--emoji-extension=disable", "--cache=none",
                             "--address", env["IBUS_ADDRESS"]], env=ibus_env, start_new_session=True,
                            stdout=log, stderr=log)
    stack.callback(reap_group, ibus)
    until(lambda: _ibus(env, "engine").returncode in (0, 1) and (tmp / "ibus.sock").exists()
          and "Can't connect" not in _ibus(env, "engine").stderr, "ibus-daemon serves", timeout=30)
    return env


@pytest.fixture(scope="module")
def dictated(eval_dir, tmp_path_factory) -> Iterator[Dictated]:
    tmp = tmp_path_factory.mktemp("ime")
    result = Dictated()
    with contextlib.ExitStack() as stack:
        _, pulse_env = private_pulse(stack, tmp / "xdg")
        env = _desktop(stack, tmp)
        port = free_port()
        env.update({k: pulse_env[k] for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER") if k in pulse_env},
                   XDG_CONFIG_HOME=str(tmp / "config"), STENOD_URL=f"ws://127.0.0.1:{port}")
        daemon = subprocess.Popen([sys.executable, "-m", "stenod", "run", "--device", "pulse", "--listen",
                                   f"127.0.0.1:{port}"], env={**pulse_env, **env}, stderr=subprocess.DEVNULL)
        stack.callback(reap, daemon)
        ime_log = (tmp / "ime.log").open("w")
        stack.callback(ime_log.close)
        ime = subprocess.Popen([sys.executable, "-m", "stenod", "ime"], env=env, stderr=ime_log)
        stack.callback(reap, ime)
        window_log = tmp / "window.jsonl"
        screenshot = tmp / "ime-preedit.png"
        window = subprocess.Popen([sys.executable, str(WINDOW), str(window_log), str(screenshot)], env=env)
        stack.callback(reap, window)
        until(lambda: _jsonl(window_log)[:1] == [{"ready": True}] or window.poll() is not None, "the window opens")
        assert window.poll() is None, "the GTK window exited"
        until(lambda: _focused(env), "the window has the keyboard focus", timeout=20)
        until(lambda: "connected to" in (tmp / "ime.log").read_text(), "the engine follows the daemon", timeout=120)
        until(lambda: _ibus(env, "engine", "stenod").returncode >= 0 and _ibus(env, "engine").stdout.strip()
              == "stenod", "the stenod engine is selected", timeout=30)
        with connect(f"ws://127.0.0.1:{port}/v1/events",
                     additional_headers={"Authorization": f"Bearer {session_token(env)}"}) as ws:
            ws.recv(timeout=10)
            reader = threading.Thread(target=_read_all, args=(ws, result.truth), daemon=True)
            reader.start()
            started = time.monotonic()
            subprocess.run(["paplay", str(eval_dir / "utterances" / "en" / "whisper_jfk.wav")], env=pulse_env,
                           check=True, timeout=120)
            result.speech_s = time.monotonic() - started
            until(lambda: utterances_closed(list(result.truth)), "every utterance has its final and its end")
            finals = [e["text"] for e in list(result.truth) if e["type"] == "final"]
            until(lambda: [e for e in _jsonl(window_log) if "text" in e][-1:] == [{"text": " ".join(finals)}],
                  "the window holds the finals", timeout=30)
            result.dictated_upto = len(_jsonl(window_log))
            closed = sum(e["type"] == "speech_end" for e in list(result.truth))
            subprocess.run(["paplay", str(spoken(DELETE_THAT, tmp))], env=pulse_env, check=True, timeout=60)
            until(lambda: utterances_closed(list(result.truth), past=closed), "the command's utterance ends")
            until(lambda: [e for e in _jsonl(window_log) if "text" in e][-1:] == [{"text": " ".join(finals[:-1])}],
                  "the window lost the last sentence", timeout=30)
        reader.join(10)
        result.window = _jsonl(window_log)
        if screenshot.exists():
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(screenshot, ARTIFACTS / "ime-preedit.png")
            if os.environ.get("STENOD_UPDATE_SCREENSHOTS") == "1":
                shutil.copyfile(screenshot, Path(__file__).resolve().parents[2] / "docs" / "images" / "ime-preedit.png")
    yield result


def test_the_window_holds_exactly_the_finals(dictated) -> None:
    finals = [e["text"] for e in valid(dictated.truth) if e["type"] == "final"]
    assert word_error_rate([JFK], [" ".join(finals)]) <= 0.15
    texts = [e["text"] for e in dictated.window[:dictated.dictated_upto] if "text" in e]
    assert texts[-1] == " ".join(finals)
    # Committed text only ever grows: nothing reached the field that was taken back.
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts))


def test_delete_that_erased_exactly_the_last_sentence_from_the_field(dictated) -> None:
    events = valid(dictated.truth)
    finals = [e for e in events if e["type"] == "final"]
    retracts = [e for e in events if e["type"] == "retract"]
    assert [r["utterance_id"] for r in retracts] == [finals[-1]["utterance_id"]]
    after = [e["text"] for e in dictated.window[dictated.dictated_upto:] if "text" in e]
    assert after[-1] == " ".join(f["text"] for f in finals[:-1])
    assert all(earlier.startswith(later) for earlier, later in itertools.pairwise(after))  # only erased


def test_words_showed_as_preedit_while_spoken(dictated) -> None:
    shown = [e["preedit"] for e in dictated.window if e.get("preedit")]
    assert len(shown) >= 3 and max(len(p.split()) for p in shown) >= 3
    partial_words = {w.strip(",.!?").lower() for e in dictated.truth if e["type"] == "partial"
                     for w in f"{e['stable']} {e['unstable']}".split()}
    assert {w.strip(",.!?").lower() for p in shown for w in p.split()} <= partial_words
    assert any(e.get("screenshot") for e in dictated.window), "no screenshot of the preedit"
    assert (ARTIFACTS / "ime-preedit.png").stat().st_size > 1000
    print(f"preedit updates: {len(shown)} over {dictated.speech_s:.1f} s of speech "
          f"({len(shown) / dictated.speech_s:.1f}/s)")


def test_the_installed_component_lets_ibus_list_and_start_the_engine(tmp_path, monkeypatch) -> None:
    from stenod_clients.ime.install import install

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    lines = install(str(Path(sys.executable).with_name("stenod")), refresh=False)
    components = tmp_path / "data" / "ibus" / "component"
    assert lines[0] == f"installed {components / 'stenod.xml'}"
    environment = (tmp_path / "config" / "environment.d" / "60-stenod-ibus.conf").read_text()
    assert environment == f"IBUS_COMPONENT_PATH={components}:/usr/share/ibus/component\n"
    with contextlib.ExitStack() as stack:
        env = _desktop(stack, tmp_path, components)
        env["STENOD_URL"] = f"ws://127.0.0.1:{free_port()}"  # no daemon: the engine waits for one
        listed = _ibus(env, "list-engine").stdout
        assert "stenod - Dictation (stenod)" in listed
        _ibus(env, "engine", "stenod")
        until(lambda: "engine 'stenod' ready" in (tmp_path / "ibus.log").read_text(),
              "ibus-daemon starts the engine from the component", timeout=60)
        assert _ibus(env, "engine").stdout.strip() == "stenod"
