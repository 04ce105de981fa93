"""The captions overlay on Wayland: a GTK 3 layer-shell surface (wlroots compositors: sway, Hyprland, river…).

Ordinary Wayland windows cannot place themselves, stay on top or let clicks through; a layer-shell
surface can. The captions sit on the overlay layer, anchored at the bottom centre (or top, or middle) of
the output, ``width`` percent of its width (70); they never take the keyboard, and their input region is
empty, so clicks go to the windows under them. What they show follows the same :class:`CaptionModel` as
the Qt overlay, styled with the captions page's CSS: ``size`` pixels, and the ``outline`` theme's text
shadow with no box.
Needs ``gir1.2-gtklayershell-0.1`` and PyGObject (``python3-gi``, ``python3-gi-cairo``).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from html import escape
from typing import Any

from stenod.core.events import Event, Partial
from stenod.errors import StenodError
from stenod_clients.captions.model import PARTIAL, CaptionModel, Line
from stenod_clients.captions.options import Options

TICK_MS = 100
OUTLINE = "0 0 3px #000, 0 0 3px #000, 1px 1px 2px #000, -1px -1px 2px #000"  # the captions page's
THEMES = {  # backdrop, text colour, text shadow
    "dark": ("rgba(12, 12, 12, 0.7)", "#ffffff", "none"),
    "light": ("rgba(250, 250, 250, 0.85)", "#141414", "none"),
    "outline": ("transparent", "#ffffff", OUTLINE),
}


def say(message: str) -> None:
    print(f"stenod captions: {message}", file=sys.stderr, flush=True)


def load() -> tuple[Any, Any, Any, Any]:
    """Gtk, Gdk, GLib and GtkLayerShell, or one line saying what is missing."""
    try:
        import gi

        gi.require_version("Gtk", "3.0")
        gi.require_version("Gdk", "3.0")
        gi.require_version("GtkLayerShell", "0.1")
        from gi.repository import Gdk, GLib, Gtk, GtkLayerShell
    except (ImportError, ValueError) as exc:
        raise StenodError("the Wayland overlay needs gtk-layer-shell: sudo apt install gir1.2-gtklayershell-0.1 "
                          f"python3-gi python3-gi-cairo, then `make install` ({exc})") from None
    return Gtk, Gdk, GLib, GtkLayerShell


def markup(line: Line) -> str:
    """Pango markup for a caption line: a fading final's opacity, a partial's unstable words dimmer."""
    if line.kind == PARTIAL and line.unstable:
        stable = escape(line.stable) + " " if line.stable else ""
        return f'{stable}<span alpha="55%">{escape(line.unstable)}</span>'
    alpha = max(1, round(line.opacity * 100))
    return escape(line.text) if alpha >= 100 else f'<span alpha="{alpha}%">{escape(line.text)}</span>'


def stylesheet(options: Options) -> str:
    """The window's GTK CSS: transparent, with the theme's box, text colour and outline, ``size`` pixels."""
    backdrop, text, shadow = THEMES[options.theme]
    return f"""
        window {{ background: transparent; }}
        .captions {{ background: {backdrop}; border-radius: 14px; padding: 10px 22px; }}
        .captions label {{ color: {text}; font-size: {options.size:g}px; font-weight: 600; text-shadow: {shadow}; }}
    """


def supported() -> str:
    """'' when a layer-shell overlay can open here, else why not."""
    try:
        Gtk, _, _, GtkLayerShell = load()
    except StenodError as exc:
        return str(exc)
    if not Gtk.init_check(sys.argv[:1])[0]:
        return "GTK cannot open the Wayland display"
    if not GtkLayerShell.is_supported():
        return "this compositor has no layer-shell (GNOME: use --backend qt)"
    return ""


class LayerCaptions:
    """The overlay window and its lines. ``feed`` and ``refresh`` run on GTK's main loop."""

    def __init__(self, options: Options) -> None:
        Gtk, Gdk, GLib, GtkLayerShell = load()
        self.Gtk, self.GLib = Gtk, GLib
        self.options = options
        self.model = CaptionModel(lines=options.lines, fade=options.model_fade)
        self.shown: list[Line] = []
        window = self.window = Gtk.Window(title="stenod captions")
        GtkLayerShell.init_for_window(window)
        GtkLayerShell.set_namespace(window, "stenod-captions")
        GtkLayerShell.set_layer(window, GtkLayerShell.Layer.OVERLAY)
        GtkLayerShell.set_keyboard_mode(window, GtkLayerShell.KeyboardMode.NONE)
        edge = {"top": GtkLayerShell.Edge.TOP, "bottom": GtkLayerShell.Edge.BOTTOM}.get(options.position)
        if edge is not None:
            GtkLayerShell.set_anchor(window, edge, True)
            GtkLayerShell.set_margin(window, edge, 40)
        screen = window.get_screen()
        if (visual := screen.get_rgba_visual()) is not None:
            window.set_visual(visual)
        window.set_app_paintable(True)
        monitor = Gdk.Display.get_default().get_monitor(0)
        width = int((monitor.get_geometry().width if monitor else 1280) * options.width / 100)
        css = Gtk.CssProvider()
        css.load_from_data(stylesheet(options).encode())
        Gtk.StyleContext.add_provider_for_screen(screen, css, Gtk.STYLE_PROVIDER_PRIORITY_APPLICATION)
        self.box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        self.box.get_style_context().add_class("captions")
        self.width = width
        self._chars = 0
        window.add(self.box)
        if options.click_through:
            window.connect("realize", self._click_through)
        self._ticking = False

    def _click_through(self, window: Any) -> None:
        import cairo

        window.input_shape_combine_region(cairo.Region())  # type: ignore[call-arg]  # empty: clicks fall through

    def feed(self, event: Event) -> bool:
        if isinstance(event, Partial) and not self.options.partials:
            return False
        self.model.feed(event, time.monotonic())
        self.refresh()
        return False  # as an idle callback: once

    def refresh(self) -> bool:
        now = time.monotonic()
        lines = self.model.visible(now)
        if lines != self.shown:
            self.shown = lines
            self._draw(lines)
        ticking = self.options.fades and self.model.changes_with_time(now)
        if ticking and not self._ticking:
            self.GLib.timeout_add(TICK_MS, self.refresh)
        self._ticking = ticking
        return ticking  # as a timeout: again while a line is fading

    def caption_text(self) -> str:
        return "\n".join(line.text for line in self.shown)

    def _measure(self, label: Any) -> int:
        sample = "the quick brown fox jumps over a lazy dog, THE QUICK BROWN FOX"
        layout = label.create_pango_layout(sample)
        self._chars = max(10, int(self.width / (layout.get_pixel_size()[0] / len(sample))))
        return self._chars

    def _draw(self, lines: list[Line]) -> None:
        Gtk = self.Gtk
        for child in self.box.get_children():
            self.box.remove(child)
        for line in lines:
            label = Gtk.Label()
            label.set_markup(markup(line))
            label.set_line_wrap(True)
            label.set_justify(Gtk.Justification.CENTER)
            self.box.add(label)
            # A wrapping label asks for the height of its widest layout: give it the overlay's width in
            # characters of its own font, so it wraps there and the backdrop fits the lines.
            chars = self._chars or self._measure(label)
            label.set_width_chars(chars)
            label.set_max_width_chars(chars)
        # Nothing to show: the surface is unmapped (an empty layer surface has no size to map with).
        if lines:
            self.window.resize(1, 1)  # shrink back to what the lines need
            self.window.show_all()
        else:
            self.window.hide()


def main(options: Options, url: str | None) -> int:
    """Run the overlay until SIGTERM (0) or Ctrl-C (130)."""
    if why := supported():
        raise StenodError(why)
    from stenod_clients.connection import Subscription, daemon_url

    captions = LayerCaptions(options)
    GLib, Gtk = captions.GLib, captions.Gtk
    url = url or daemon_url()
    interrupted: list[bool] = []

    def stop(signum: int) -> bool:
        interrupted.append(signum == signal.SIGINT)
        Gtk.main_quit()
        return False

    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, stop, signum)

    async def follow() -> None:
        async for event in Subscription(url, on_status=say):
            GLib.idle_add(captions.feed, event)

    threading.Thread(target=lambda: asyncio.run(follow()), name="stenod-captions-events", daemon=True).start()
    say(f"following {url} (a layer-shell overlay; clicks pass through)")
    Gtk.main()
    return 130 if any(interrupted) else 0
