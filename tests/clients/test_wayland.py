"""The clients on a real Wayland compositor: sway 1.7 headless, a GTK 3 window whose text is read back,
``stenod type --backend wtype`` typing the daemon's finals into it, and ``stenod captions`` as a layer-shell
overlay that shows them without taking the keyboard, photographed with grim."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from stenod_clients.captions.layer import OUTLINE, markup, stylesheet
from stenod_clients.captions.model import FINAL, PARTIAL, Line
from stenod_clients.captions.options import Options
from support.daemon import Daemon, utterances_closed, valid
from support.processes import reap
from support.sway import focused_name, headless_sway, screenshot
from support.waits import until

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WINDOW = Path(__file__).resolve().parents[1] / "support" / "gtk_window.py"
TITLE = "stenod input method window"
PAGE = Path(__file__).resolve().parents[2] / "daemon" / "stenod" / "data" / "captions.html"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _text(log: Path) -> str:
    texts = [e["text"] for e in _jsonl(log) if "text" in e]
    return texts[-1] if texts else ""


@pytest.fixture(scope="module")
def sway(tmp_path_factory) -> Iterator[dict[str, str]]:
    with headless_sway(tmp_path_factory.mktemp("sway")) as env:
        yield env


@contextlib.contextmanager
def gtk_window(env: dict[str, str], tmp: Path) -> Iterator[Path]:
    """The GTK window on sway, focused; yields the log of its text."""
    log = tmp / "window.jsonl"
    proc = subprocess.Popen([sys.executable, str(WINDOW), str(log), str(tmp / "unused.png")], env=env)
    try:
        until(lambda: _jsonl(log)[:1] == [{"ready": True}] or proc.poll() is not None, "the window opens")
        assert proc.poll() is None, "the GTK window exited"
        until(lambda: focused_name(env) == TITLE, "sway focuses the window", timeout=20)
        yield log
    finally:
        reap(proc)


def test_wtype_types_every_character_into_a_wayland_window(sway, tmp_path) -> None:
    from stenod_clients.typing.backends import Wtype

    with gtk_window(sway, tmp_path) as log:
        saved = {k: os.environ.get(k) for k in ("WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "XDG_CURRENT_DESKTOP")}
        os.environ.update({k: sway[k] for k in saved})
        try:
            assert Wtype().problem() == ""
            for text in ("Grüße, naïve café 東京", " -and again"):  # the first character of each run arrives
                Wtype().type(text)
            until(lambda: _text(log) == "Grüße, naïve café 東京 -and again", "the window holds the text", timeout=10)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@dataclass
class Spoken:
    truth: list[dict] = field(default_factory=list)
    typed: str = ""
    pixels: np.ndarray | None = None
    focus_after_overlay: str = ""
    overlay_log: str = ""


def _read_all(ws, out: list[dict]) -> None:
    with contextlib.suppress(Exception):
        while True:
            out.append(json.loads(ws.recv()))


@pytest.fixture(scope="module")
def spoken(sway, eval_dir, tmp_path_factory) -> Iterator[Spoken]:
    """The daemon (paused, a dev session as its microphone) heard for a few utterances, with `stenod type
    --backend wtype` and `stenod captions` following it on sway."""
    tmp = tmp_path_factory.mktemp("wayland")
    result = Spoken()
    session = eval_dir / "sessions" / "session_01_mixed_read.wav"
    with contextlib.ExitStack() as stack:
        daemon = stack.enter_context(Daemon(tmp, "--paused", "--input", str(session)))
        env = {**sway, "STENOD_URL": f"ws://127.0.0.1:{daemon.port}", "STENOD_TOKEN": daemon.token}
        log = stack.enter_context(gtk_window(env, tmp))
        typer = subprocess.Popen([sys.executable, "-m", "stenod", "type", "--backend", "wtype"], env=env)
        stack.callback(reap, typer)
        overlay_log = stack.enter_context((tmp / "captions.log").open("w"))
        overlay = subprocess.Popen([sys.executable, "-m", "stenod", "captions", "--fade", "600", "--lines", "2"],
                                   env=env, stderr=overlay_log)
        stack.callback(reap, overlay)
        ws = stack.enter_context(daemon.connect("/v1/events"))
        ws.recv(timeout=10)
        until(lambda: "layer-shell overlay" in (tmp / "captions.log").read_text() or overlay.poll() is not None,
              "the overlay starts", timeout=60)
        until(lambda: daemon.health()["subscribers"] >= 3, "both clients follow the daemon", timeout=60)
        result.focus_after_overlay = focused_name(sway)
        reader = threading.Thread(target=_read_all, args=(ws, result.truth), daemon=True)
        reader.start()
        ws.send(json.dumps({"type": "resume"}))
        until(lambda: sum(e["type"] == "final" for e in list(result.truth)) >= 2, "two finals", timeout=120)
        ws.send(json.dumps({"type": "pause"}))
        until(lambda: utterances_closed(list(result.truth)), "every utterance heard has its final", timeout=60)
        finals = [e["text"] for e in list(result.truth) if e["type"] == "final"]
        until(lambda: _text(log) == " ".join(finals), "the window holds the finals", timeout=60)
        result.typed = _text(log)
        ARTIFACTS.mkdir(exist_ok=True)
        result.pixels = screenshot(sway, ARTIFACTS / "captions-layer-shell.png")
        if os.environ.get("STENOD_UPDATE_SCREENSHOTS") == "1":
            shutil.copyfile(ARTIFACTS / "captions-layer-shell.png",
                            Path(__file__).resolve().parents[2] / "docs" / "images" / "captions-layer-shell.png")
    result.overlay_log = (tmp / "captions.log").read_text()
    yield result


def test_stenod_type_wtype_typed_the_finals(spoken) -> None:
    finals = [e["text"] for e in valid(spoken.truth) if e["type"] == "final"]
    assert len(finals) >= 2 and spoken.typed == " ".join(finals)


def test_the_overlay_is_a_layer_surface_that_leaves_the_focus_alone(spoken) -> None:
    assert "layer-shell overlay; clicks pass through" in spoken.overlay_log
    assert spoken.focus_after_overlay == TITLE  # the captions took neither the focus nor a tile
    pixels = spoken.pixels
    assert pixels is not None
    height, width, _ = pixels.shape
    # The GTK window fills the output (white); the captions' translucent dark backdrop over it is grey, with
    # white text on it, in the bottom fifth of the screen.
    band = pixels[int(height * 0.8):, width // 5: 4 * width // 5]
    backdrop = (band.max(axis=2) < 120).mean()
    text = ((band.min(axis=2) > 230) & (np.abs(band.astype(int) - 255).sum(axis=2) < 30)).mean()
    above = pixels[int(height * 0.1): int(height * 0.4), width // 5: 4 * width // 5]
    assert backdrop > 0.3, f"no caption backdrop at the bottom of the screen ({backdrop:.2f})"
    assert 0.02 < text < 0.7, f"no caption text on the backdrop ({text:.2f})"
    assert (above.max(axis=2) < 120).mean() < 0.01  # and none higher up


def test_the_focused_wayland_window_is_named_by_sway(sway, tmp_path) -> None:
    from stenod_clients.typing.focus import focused_app

    with gtk_window(sway, tmp_path):
        app = focused_app(sway)
        assert app.via == "sway" and "gtk_window.py" in app.name.split()


def test_caption_markup() -> None:
    assert markup(Line("a < b", FINAL)) == "a &lt; b"
    assert markup(Line("old", FINAL, opacity=0.5)) == '<span alpha="50%">old</span>'
    assert markup(Line("so far more", PARTIAL, 1.0, "so far", "more")) == 'so far <span alpha="55%">more</span>'


def test_caption_stylesheet_follows_the_page_s_size_and_themes() -> None:
    dark = stylesheet(Options())
    assert "font-size: 44px" in dark and "background: rgba(12, 12, 12, 0.7)" in dark and "text-shadow: none" in dark
    assert "background: rgba(250, 250, 250, 0.85)" in stylesheet(Options(theme="light"))
    outline = stylesheet(Options(theme="outline", size=30.5))
    assert "font-size: 30.5px" in outline and "background: transparent; border-radius" in outline
    assert f"text-shadow: {OUTLINE};" in outline and f"text-shadow: {OUTLINE};" in PAGE.read_text()
