"""The captions overlay: ``CaptionModel``'s rules, its options (the captions page's vocabulary), each theme and
position drawn offscreen, and the real window following a real daemon offscreen."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from websockets.exceptions import ConnectionClosed

from stenod.cli import build_parser
from stenod.core.events import Hello, SpeechStart
from stenod_clients.captions.model import FINAL, PARTIAL, CaptionModel, Line
from stenod_clients.captions.options import POSITIONS, THEMES, Options
from support.daemon import Daemon
from support.events import final, partial, speech_end

if TYPE_CHECKING:
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "captions-overlay.png"
PAGE = Path(__file__).resolve().parents[2] / "daemon" / "stenod" / "data" / "captions.html"


# CaptionModel, with a plain float clock -------------------------------------------------------------------


def texts(model: CaptionModel, now: float) -> list[tuple[str, str]]:
    return [(line.kind, line.text) for line in model.visible(now)]


def test_a_partial_is_replaced_in_place_and_its_final_takes_its_place() -> None:
    model = CaptionModel(lines=2)
    model.feed(SpeechStart(seq=1, emitted_at=0.0, audio_ms=0, utterance_id=1, start_ms=0), 0.0)
    assert model.visible(0.0) == []
    model.feed(partial(1, "", "And so"), 0.1)
    model.feed(partial(1, "And so", "my fellow"), 0.2)
    assert model.visible(0.2) == [Line("And so my fellow", PARTIAL, 1.0, "And so", "my fellow")]
    model.feed(final(1, "And so my fellow Americans."), 0.3)
    assert texts(model, 0.3) == [(FINAL, "And so my fellow Americans.")]
    model.feed(speech_end(1), 0.3)
    model.feed(partial(2, "Ask", "not"), 0.4)
    assert texts(model, 0.4) == [(FINAL, "And so my fellow Americans."), (PARTIAL, "Ask not")]
    assert model.visible(0.4)[-1].stable == "Ask" and model.visible(0.4)[-1].unstable == "not"


def test_finals_are_appended_and_only_the_last_lines_are_kept() -> None:
    model = CaptionModel(lines=2)
    for i, text in enumerate(["One.", "Two.", "Three."], start=1):
        model.feed(final(i, text), float(i))
    assert texts(model, 3.0) == [(FINAL, "Two."), (FINAL, "Three.")]
    model.feed(final(4, "  "), 4.0)  # an empty final adds no line
    model.feed(final(5, "Five\n lines."), 5.0)
    assert texts(model, 5.0) == [(FINAL, "Three."), (FINAL, "Five lines.")]


def test_finals_fade_linearly_after_fade_seconds_then_disappear() -> None:
    model = CaptionModel(lines=3, fade=8.0, fade_out=1.0)
    model.feed(final(1, "Old."), 10.0)
    model.feed(final(2, "New."), 14.0)
    assert [line.opacity for line in model.visible(18.0)] == [1.0, 1.0]
    assert [line.opacity for line in model.visible(18.25)] == pytest.approx([0.75, 1.0])
    assert [line.opacity for line in model.visible(18.5)] == pytest.approx([0.5, 1.0])
    assert texts(model, 19.0) == [(FINAL, "New.")]
    assert model.changes_with_time(19.0)
    model.feed(partial(3, "", "still talking"), 30.0)
    assert model.visible(30.0) == [Line("still talking", PARTIAL, 1.0, "", "still talking")]  # partials never fade
    assert not model.changes_with_time(30.0)
    assert texts(model, 10.0) == [(PARTIAL, "still talking")]  # a faded line does not come back


def test_a_discarded_utterance_s_partial_disappears() -> None:
    model = CaptionModel()
    model.feed(final(1, "Kept."), 0.0)
    model.feed(partial(2, "", "uh"), 1.0)
    model.feed(speech_end(2, discarded="too_short"), 1.5)
    assert texts(model, 1.5) == [(FINAL, "Kept.")]
    model.feed(partial(3, "", "hmm"), 2.0)
    model.feed(speech_end(2), 2.0)  # an older utterance's end leaves the current partial alone
    assert texts(model, 2.0)[-1] == (PARTIAL, "hmm")
    model.feed(Hello(seq=9, emitted_at=0.0, audio_ms=0, protocol=1, server="stenod", model="tiny.en",
                     language="en", sample_rate=16000, state="listening"), 3.0)
    assert texts(model, 3.0) == [(FINAL, "Kept.")]  # a reconnection: the daemon may have restarted


def test_lines_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CaptionModel(lines=0)


# Options: the captions page's names, values and units -----------------------------------------------------


def options(*argv: str) -> Options:
    args = build_parser().parse_args(["captions", *argv])
    return Options.from_args(args)


def test_the_defaults_are_the_page_s_but_the_width() -> None:
    assert options() == Options(lines=2, size=44.0, fade=8.0, position="bottom", theme="dark", width=70.0,
                                partials=True, click_through=True)


@pytest.mark.parametrize("position", ["top", "middle", "bottom"])
def test_every_position(position: str) -> None:
    assert options("--position", position).position == position


@pytest.mark.parametrize("theme", ["dark", "light", "outline"])
def test_every_theme(theme: str) -> None:
    assert options("--theme", theme).theme == theme


def test_centre_is_still_read_as_middle() -> None:
    assert options("--position", "centre").position == "middle"
    assert "centre" not in _captions_help()


def test_size_is_in_pixels_and_font_size_in_points_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    assert options("--size", "60").size == 60.0
    assert capsys.readouterr().err == ""
    assert options("--font-size", "30").size == pytest.approx(40.0)  # 30 pt at 96 px to 72 pt
    assert "--font-size is deprecated; use --size 40 (pixels)" in capsys.readouterr().err
    assert options("--font-size", "30", "--size", "50").size == 50.0  # the last one given wins
    assert "--font-size" not in _captions_help()


def test_fade_width_lines_and_partials() -> None:
    assert options("--fade", "0").fade == 0.0 and not options("--fade", "0").fades
    assert Options(fade=0).model_fade == float("inf") and Options(fade=2.5).model_fade == 2.5
    assert options("--width", "55").width == 55.0
    assert options("--no-partials").partials is False
    assert options("--lines", "3").lines == 3


def test_values_are_clamped_as_the_page_clamps_them() -> None:
    low = options("--lines", "0", "--size", "2", "--fade", "-1", "--width", "3")
    assert (low.lines, low.size, low.fade, low.width) == (1, 8.0, 0.0, 10.0)
    high = options("--lines", "9999", "--size", "1000", "--fade", "1e6", "--width", "150")
    assert (high.lines, high.size, high.fade, high.width) == (500, 400.0, 3600.0, 100.0)


@pytest.mark.parametrize("argv", [["--position", "left"], ["--theme", "neon"], ["--size", "big"]])
def test_other_values_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        options(*argv)
    assert "invalid" in capsys.readouterr().err


def test_options_take_only_the_page_s_positions_and_themes() -> None:
    with pytest.raises(ValueError, match="position"):
        Options(position="centre")
    with pytest.raises(ValueError, match="theme"):
        Options(theme="neon")


def _captions_help() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args(["captions", "--help"])
    return out.getvalue()


def test_the_page_reads_the_same_options() -> None:
    """The page's script: the same names, defaults and ranges, the same positions and themes."""
    script = PAGE.read_text()
    numbers = {name: (float(default), float(low), float(high)) for name, default, low, high
               in re.findall(r'number\("(\w+)", ([\d.]+), ([\d.]+), ([\d.]+)\)', script)}
    defaults = Options()
    assert numbers == {"size": (defaults.size, 8, 400), "lines": (defaults.lines, 1, 500),
                       "fade": (defaults.fade, 0, 3600), "width": (90, 10, 100)}
    lists = re.findall(r"\[([^\]]*)\]\.includes\(query\.get\(\"(\w+)\"\)\)", script)
    assert {name: tuple(json.loads(f"[{values}]")) for values, name in lists} == {"position": POSITIONS,
                                                                                   "theme": THEMES}
    assert 'query.get("partials") !== "0"' in script
    help_text = _captions_help()
    for flag in ("--size", "--lines", "--position", "--theme", "--fade", "--width", "--no-partials"):
        assert flag in help_text


# The overlay window, offscreen, following a real daemon ---------------------------------------------------


@pytest.fixture(scope="module")
def qapp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QApplication]:
    """A QApplication on Qt's offscreen platform, with one 1280×720 screen."""
    screens = tmp_path_factory.mktemp("qt") / "screens.json"
    screens.write_text(json.dumps({"screens": [{"name": "desktop", "x": 0, "y": 0, "width": 1280, "height": 720,
                                                "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QT_QPA_PLATFORM", f"offscreen:configfile={screens}")
        from PySide6.QtWidgets import QApplication

        yield QApplication.instance() or QApplication(["stenod-captions-test"])


def _finals_of(daemon: Daemon, into: list[str], done: threading.Event, timeout: float = 60) -> None:
    """The ground truth: every final of the daemon's stream (replayed from the start) until it finishes."""
    deadline = time.monotonic() + timeout
    try:
        with daemon.connect("/v1/events?since=0") as ws:
            while time.monotonic() < deadline:
                try:
                    event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                except (TimeoutError, ConnectionClosed):
                    return
                if event["type"] == "final":
                    into.append(event["text"])
                elif event["type"] == "status" and event["state"] == "finished":
                    return
    finally:
        done.set()


def _visible_pixels(image: QImage) -> tuple[int, int]:
    """How many pixels are not fully transparent, and how many distinct colours there are."""
    opaque, colours = 0, set()
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            pixel = image.pixelColor(x, y)
            if pixel.alpha() > 0:
                opaque += 1
                colours.add(pixel.rgba())
    return opaque, len(colours)


def _on_a_desktop(window_image: QImage, screen: tuple[int, int], at: tuple[int, int]) -> QImage:
    """The overlay as it appears on a screen: drawn over a neutral gradient where the window sits."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter

    desktop = QImage(screen[0], screen[1], QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(desktop)
    gradient = QLinearGradient(0, 0, screen[0], screen[1])
    gradient.setColorAt(0.0, QColor(92, 118, 140))
    gradient.setColorAt(0.55, QColor(150, 160, 150))
    gradient.setColorAt(1.0, QColor(214, 196, 160))
    painter.fillRect(desktop.rect(), gradient)
    painter.drawImage(QPoint(*at), window_image)
    painter.end()
    return desktop


def test_the_overlay_shows_a_real_daemon_s_finals(qapp: QApplication, tmp_path: Path, jfk_wav: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from stenod_clients.captions.overlay import CaptionsWindow, EventFeed, Options

    lines = 3
    truth: list[str] = []
    finished = threading.Event()
    statuses: list[str] = []
    live: QImage | None = None  # a moment with finals and a partial, for the docs' picture
    with contextlib.ExitStack() as stack:
        daemon = stack.enter_context(Daemon(tmp_path, "--input", str(jfk_wav)))
        monkeypatch.setenv("STENOD_TOKEN", daemon.token)
        window = CaptionsWindow(Options(lines=lines, fade=300.0))
        stack.callback(window.close)
        feed = EventFeed(daemon.url, since=0, on_status=statuses.append)
        feed.received.connect(window.feed)
        window.show()
        feed.start()
        stack.callback(feed.stop)
        threading.Thread(target=_finals_of, args=(daemon, truth, finished), daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            qapp.processEvents()
            last = window.shown[-1] if window.shown else None
            if (last and last.kind == PARTIAL and last.stable and 0 < len(last.unstable.split()) <= 4
                    and window.shown[0].kind == FINAL):
                live = window.grab().toImage()
            if finished.is_set() and truth and window.caption_text().splitlines() == truth[-lines:]:
                break
            time.sleep(0.02)
        qapp.processEvents()
        shown = window.caption_text()
        grab = window.grab().toImage()
        screen = window.screen().availableGeometry()
        geometry = window.geometry()
        stack.close()  # the feed, the window, then the daemon
        code = daemon.stop()
        log = daemon.log

    assert code == 0, log[-2000:]
    assert finished.is_set() and truth, "the daemon sent no final"
    assert shown.splitlines() == truth[-lines:], f"the overlay shows {shown!r}; the daemon's finals: {truth}"
    assert "country" in shown.lower()
    assert window.accessibleDescription() == shown
    assert any(s.startswith(f"connected to {daemon.url}") for s in statuses), statuses
    assert geometry.width() == pytest.approx(screen.width() * 0.7, abs=2)
    assert abs(geometry.center().x() - screen.center().x()) <= 2 and geometry.center().y() > screen.center().y()

    opaque, colours = _visible_pixels(grab)
    assert opaque > grab.width() * grab.height() // 4 // 20, "the grab is (nearly) blank"
    assert colours > 10, "the grab has no text on its backdrop"
    ARTIFACTS.mkdir(exist_ok=True)
    assert grab.save(str(ARTIFACTS / "captions-overlay-window.png"))
    picture = _on_a_desktop(live or grab, (screen.width(), screen.height()), (geometry.x(), geometry.y()))
    assert picture.save(str(ARTIFACTS / "captions-overlay.png"))
    if os.environ.get("STENOD_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "captions-overlay.png", DOCS_IMAGE)


# Each theme and position, drawn offscreen ------------------------------------------------------------------


@pytest.mark.parametrize(("theme", "position"), [("dark", "bottom"), ("light", "top"), ("outline", "middle")])
def test_each_theme_and_position_is_drawn(qapp: QApplication, theme: str, position: str) -> None:
    from stenod_clients.captions.overlay import CaptionsWindow
    from support.events import final

    window = CaptionsWindow(Options(theme=theme, position=position, size=40, width=50, fade=0),
                            clock=lambda: 0.0)
    try:
        window.feed(final(1, "Ask not what your country can do for you."))
        assert not window._fade_timer.isActive()  # fade 0: the line stays, nothing to repaint
        assert window.caption_font.pixelSize() == 40
        screen, geometry = window.screen().availableGeometry(), window.geometry()
        assert geometry.width() == pytest.approx(screen.width() * 0.5, abs=2)
        where = {"top": geometry.center().y() < screen.center().y(),
                 "middle": abs(geometry.center().y() - screen.center().y()) <= 2,
                 "bottom": geometry.center().y() > screen.center().y()}
        assert where[position], (position, geometry)
        image = window.grab().toImage()
    finally:
        window.close()
    pixels = [image.pixelColor(x, y) for y in range(0, image.height(), 2) for x in range(0, image.width(), 2)]
    boxed = sum(1 for p in pixels if 170 <= p.alpha() <= 220)  # the translucent backdrop (dark 180, light 215)
    dark = sum(1 for p in pixels if p.alpha() > 200 and max(p.red(), p.green(), p.blue()) < 60)
    light = sum(1 for p in pixels if p.alpha() > 200 and min(p.red(), p.green(), p.blue()) > 220)
    share = {"box": boxed / len(pixels), "dark": dark / len(pixels), "light": light / len(pixels)}
    text = "dark" if theme == "light" else "light"
    assert share[text] > 0.01, share
    if theme == "outline":  # white letters edged in black, no box
        assert share["box"] < 0.01 and share["dark"] > 0.01, share
    else:
        assert share["box"] > 0.1, share


def test_no_partials_shows_finals_only(qapp: QApplication) -> None:
    from stenod_clients.captions.overlay import CaptionsWindow
    from support.events import final, partial

    window = CaptionsWindow(Options(partials=False), clock=lambda: 0.0)
    try:
        window.feed(partial(1, "Ask", "not"))
        assert window.caption_text() == ""
        window.feed(final(1, "Ask not."))
        window.feed(partial(2, "", "what"))
        assert window.caption_text() == "Ask not."
    finally:
        window.close()
