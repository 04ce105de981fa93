"""The captions overlay: a frameless, translucent, always-on-top PySide6 window over the desktop.

The window is centred horizontally at the bottom (or top, or middle) of the primary screen, ``width``
percent of its width (70), and draws ``CaptionModel``'s lines in type ``size`` pixels high on a
semi-transparent rounded backdrop, so they read on any background; the ``outline`` theme draws no backdrop
but outlines the letters in black instead, as the captions page does. A partial's unstable words are dimmer
than its committed ones; ``partials`` off, the overlay ignores partials and shows finals only.

**Click-through, and moving the window.** By default the overlay is transparent for input: clicks go to
the windows under it. A click-through window gets no mouse events, so the overlay polls the global
keyboard state (10 times a second) and, while **Alt or Super** is held, stops being click-through: drag it
with the left button (the window manager moves it where it can, else the overlay moves itself), and
right-click it for a menu to quit. On release it is click-through again. This works on X11 (and XWayland).
Wayland compositors do not tell an unfocused window about the keyboard, so there the modifier is not
seen: run with ``--no-click-through`` to drag the overlay with the mouse at any time (or run it under
XWayland with ``QT_QPA_PLATFORM=xcb``). Wayland compositors also place windows themselves, so
``--position`` is a request there.

Events come from a ``Subscription`` running in a background thread with its own asyncio loop; they reach
the GUI thread as a queued Qt signal. A timer repaints 10 times a second while a line may still fade.
Ctrl-C (SIGINT), SIGTERM and closing the window end it; connection changes go to stderr as
``stenod captions: …``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import PySide6
from PySide6.QtCore import QObject, QPoint, QPointF, QRect, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QGuiApplication,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QTextCharFormat,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from stenod.core.events import Event, Partial
from stenod_clients.captions.model import PARTIAL, CaptionModel, Line
from stenod_clients.captions.options import Options
from stenod_clients.connection import Subscription, daemon_url


def _check_bindings() -> None:
    """Refuse Qt bindings that drop a reference to ``None`` on each call of a method returning nothing.

    PySide6 6.12.0 does so on CPython 3.11 (where ``None`` is reference-counted), and the interpreter
    aborts ("deallocating None") after a few thousand such calls: a few minutes of captions.
    """
    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(3):
        timer.setInterval(1)
    if sys.getrefcount(None) < before:
        raise ImportError(f"PySide6 {PySide6.__version__} miscounts references to None on Python "
                          f"{sys.version.split()[0]} and would crash; install another version "
                          "(pip install 'PySide6-Essentials>=6.7,!=6.12.0')")


_check_bindings()

TICK_MS = 100
DRAG_MODIFIERS = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier  # Meta is Super on Linux


def say(message: str) -> None:
    print(f"stenod captions: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Theme:
    backdrop: QColor | None  # the box behind each row; None: no box
    text: QColor
    unstable: QColor
    outline: QColor | None = None  # the edge drawn around each letter; None: no edge


THEMES = {
    "dark": Theme(QColor(12, 12, 12, 180), QColor(255, 255, 255), QColor(255, 255, 255, 140)),
    "light": Theme(QColor(250, 250, 250, 215), QColor(20, 20, 20), QColor(20, 20, 20, 125)),
    "outline": Theme(None, QColor(255, 255, 255), QColor(255, 255, 255, 160), QColor(0, 0, 0, 230)),
}


def glyph_outlines(layout: QTextLayout, origin: QPointF) -> QPainterPath:
    """The outlines of a laid-out text's letters, placed as ``layout.draw(painter, origin)`` draws them."""
    path = QPainterPath()
    for run in layout.glyphRuns():
        font = run.rawFont()
        for index, position in zip(run.glyphIndexes(), run.positions()):
            path.addPath(font.pathForGlyph(index).translated(origin + position))
    return path


class CaptionsWindow(QWidget):
    """The overlay. ``feed`` it events (on the GUI thread); ``caption_text`` is what it shows."""

    def __init__(self, options: Options | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        options = options or Options()
        flags = (Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
                 | Qt.WindowType.WindowDoesNotAcceptFocus)
        if options.click_through:
            flags |= Qt.WindowType.WindowTransparentForInput
        super().__init__(None, flags)
        self.options = options
        self.theme = THEMES[options.theme]
        self.clock = clock
        self.model = CaptionModel(lines=options.lines, fade=options.model_fade)
        self.shown: list[Line] = []
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setWindowTitle("stenod captions")
        self.setAccessibleName("stenod captions")
        self.setAccessibleDescription("")
        self.caption_font = QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont)
        self.caption_font.setPixelSize(max(1, round(options.size)))
        self.caption_font.setWeight(QFont.Weight.DemiBold)
        metrics = QFontMetricsF(self.caption_font)
        self.pad = max(6.0, metrics.height() * 0.25)  # backdrop around the text, and the gap between lines
        self.row_height = metrics.lineSpacing()
        self.outline_width = max(2.5, metrics.height() / 12)  # the outline theme's edge, half of it outside
        self._place()
        self._fade_timer = QTimer(self, interval=TICK_MS)
        self._fade_timer.timeout.connect(self.refresh)
        self._drag_from: QPoint | None = None
        self._grabbable = not options.click_through
        if options.click_through:
            self._modifier_timer = QTimer(self, interval=TICK_MS)
            self._modifier_timer.timeout.connect(self._poll_modifiers)
            self._modifier_timer.start()
        else:
            self.setCursor(Qt.CursorShape.OpenHandCursor)

    def _place(self) -> None:
        screen = QGuiApplication.primaryScreen()
        area = screen.availableGeometry() if screen is not None else QRect(0, 0, 1280, 720)
        rows = 2 * self.options.lines + 2  # a final or a partial may wrap once
        height = min(int(rows * (self.row_height + self.pad)) + int(2 * self.pad), int(area.height() * 0.6))
        width = int(area.width() * self.options.width / 100)
        x = area.x() + (area.width() - width) // 2
        margin = int(area.height() * 0.05)
        y = {"top": area.y() + margin, "middle": area.y() + (area.height() - height) // 2}.get(
            self.options.position, area.y() + area.height() - height - margin)
        self.setGeometry(x, y, width, height)

    # What is shown ------------------------------------------------------------------------------------

    @Slot(object)
    def feed(self, event: Event) -> None:
        """Take one of the daemon's events and redraw."""
        if isinstance(event, Partial) and not self.options.partials:
            return
        self.model.feed(event, self.clock())
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Recompute the visible lines (fading ones change with time); repaint if they changed."""
        now = self.clock()
        lines = self.model.visible(now)
        if lines != self.shown:
            self.shown = lines
            self.setAccessibleDescription(self.caption_text())
            self.update()
        if self.options.fades and self.model.changes_with_time(now):
            if not self._fade_timer.isActive():
                self._fade_timer.start()
        else:
            self._fade_timer.stop()

    def caption_text(self) -> str:
        """The text currently shown, one line per caption line, oldest first."""
        return "\n".join(line.text for line in self.shown)

    # Drawing ------------------------------------------------------------------------------------------

    def _layout(self, line: Line, width: float) -> QTextLayout:
        layout = QTextLayout(line.text, self.caption_font)
        option = QTextOption(Qt.AlignmentFlag.AlignHCenter)
        option.setWrapMode(QTextOption.WrapMode.WordWrap)
        layout.setTextOption(option)
        if line.kind == PARTIAL and line.unstable:
            dim = QTextLayout.FormatRange()
            dim.start = len(line.text) - len(line.unstable)
            dim.length = len(line.unstable)
            dim.format = QTextCharFormat()
            dim.format.setForeground(self.theme.unstable)
            layout.setFormats([dim])
        layout.beginLayout()
        y = 0.0
        while (row := layout.createLine()).isValid():
            row.setLineWidth(width)
            row.setPosition(QPointF(0, y))
            y += row.height()
        layout.endLayout()
        return layout

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self.shown:
            return
        width = self.width() - 4 * self.pad
        blocks = [(line, self._layout(line, width)) for line in self.shown]
        spare = self.height() - sum(layout.boundingRect().height() + 2 * self.pad for _, layout in blocks)
        # with too many rows, as in a scrolling caption, the oldest ones go off the top edge
        top = {"top": 0.0, "middle": spare / 2}.get(self.options.position, spare) if spare >= 0 else spare
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        radius = self.pad * 1.2
        hidden_above = 0.0  # rows above this are (partly) off the window: not drawn
        for line, layout in blocks:
            origin = QPointF(2 * self.pad, top + self.pad)
            backdrop = QPainterPath()
            backdrop.setFillRule(Qt.FillRule.WindingFill)
            for i in range(layout.lineCount()):
                row = layout.lineAt(i).naturalTextRect().translated(origin)
                if row.top() < self.pad / 2:
                    hidden_above = max(hidden_above, row.bottom())
                elif row.width() > 0:
                    backdrop.addRoundedRect(row.adjusted(-1.5 * self.pad, -self.pad / 2, 1.5 * self.pad,
                                                         self.pad / 2), radius, radius)
            painter.setOpacity(line.opacity)
            painter.setClipping(False)
            if self.theme.backdrop is not None:
                painter.fillPath(backdrop, self.theme.backdrop)
            if hidden_above > 0:
                painter.setClipRect(QRectF(0, hidden_above, self.width(), self.height()))
            if self.theme.outline is not None:
                painter.strokePath(glyph_outlines(layout, origin), QPen(self.theme.outline, self.outline_width,
                                   Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
            painter.setPen(self.theme.text)
            layout.draw(painter, origin)
            top += layout.boundingRect().height() + 2 * self.pad
        painter.end()

    # Moving it ----------------------------------------------------------------------------------------

    @Slot()
    def _poll_modifiers(self) -> None:
        held = bool(QGuiApplication.queryKeyboardModifiers() & DRAG_MODIFIERS)
        if held == self._grabbable or (not held and self._drag_from is not None):
            return
        self._grabbable = held
        handle = self.windowHandle()
        if handle is not None:
            handle.setFlag(Qt.WindowType.WindowTransparentForInput, not held)
        if held:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.unsetCursor()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            menu = QMenu(self)
            menu.addAction("Quit captions", self.close)
            menu.exec(event.globalPosition().toPoint())
        elif event.button() == Qt.MouseButton.LeftButton:
            handle = self.windowHandle()
            if handle is None or not handle.startSystemMove():  # no window-manager move: move it ourselves
                self._drag_from = event.globalPosition().toPoint() - self.frameGeometry().topLeft()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None:
            self.move(event.globalPosition().toPoint() - self._drag_from)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag_from = None

    def closeEvent(self, event: QCloseEvent) -> None:
        self._fade_timer.stop()
        super().closeEvent(event)
        QApplication.quit()


class EventFeed(QObject):
    """A ``Subscription`` in a background thread with its own asyncio loop.

    Each event is emitted as ``received`` from that thread; connected to a slot of a GUI object, Qt queues
    it to the GUI thread. ``stop`` closes the connection and ends the thread.
    """

    received = Signal(object)

    def __init__(self, url: str | None = None, since: int | None = None,
                 on_status: Callable[[str], None] = say) -> None:
        super().__init__()
        self.url = url or daemon_url()
        self._on_status = on_status
        self._stopping = False
        self.subscription = Subscription(self.url, on_status=self._status, since=since)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stenod-captions-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _status(self, message: str) -> None:
        if not self._stopping:
            self._on_status(message)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            self._task = loop.create_task(self._follow())
            self._started.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        except Exception as exc:  # the thread must not die silently
            say(f"stopped following the daemon: {exc!r}")
        finally:
            self._started.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _follow(self) -> None:
        async for event in self.subscription:
            self.received.emit(event)

    async def _close(self) -> None:
        connection = self.subscription.connection
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 1.0)
        if self._task is not None:
            self._task.cancel()

    def stop(self, timeout: float = 3.0) -> None:
        """Close the connection and wait (up to ``timeout`` seconds) for the thread to end."""
        self._stopping = True
        if not self._thread.is_alive():
            return
        self._started.wait(timeout)
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
                asyncio.run_coroutine_threadsafe(self._close(), loop)
        self._thread.join(timeout)


def main(args: argparse.Namespace) -> int:
    """Run the overlay until its window closes or SIGTERM (0), or Ctrl-C (130)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("stenod captions")
    window = CaptionsWindow(Options.from_args(args))
    feed = EventFeed(args.url)
    feed.received.connect(window.feed)
    interrupted = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = interrupted or signum == signal.SIGINT
        app.quit()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    wakeup = QTimer(interval=200)  # Python runs signal handlers only when Qt's loop gives it control
    wakeup.timeout.connect(lambda: None)
    wakeup.start()
    say(f"following {feed.url}" + (" (hold Alt or Super to drag)" if window.options.click_through else ""))
    try:
        window.show()
        feed.start()
        app.exec()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        wakeup.stop()
        feed.stop()
        window.close()
    return 130 if interrupted else 0
