"""A GTK 3 window with one text field, for the input method's tests: ``python gtk_window.py LOG SCREENSHOT``.

It reports as JSON lines in LOG: ``{"ready": true}`` once shown, ``{"text": …}`` whenever the field's text
changes (what was committed), ``{"preedit": …}`` whenever the input method's preedit changes. It saves the
window as SCREENSHOT (a PNG) and reports it the first time the preedit holds three words or more, and again
the first time that happens after some text was committed (the picture then shows both).
"""

from __future__ import annotations

import json
import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402

TITLE = "stenod input method window"


def main(log_path: str, screenshot: str) -> None:
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (open for the window's life)

    def report(**fields: object) -> None:
        log.write(json.dumps(fields) + "\n")

    window = Gtk.Window(title=TITLE)
    window.set_default_size(1000, 120)
    entry = Gtk.Entry()
    css = Gtk.CssProvider()
    css.load_from_data(b"entry { font: 20px 'DejaVu Sans'; }")
    Gtk.StyleContext.add_provider_for_screen(Gdk.Screen.get_default(), css, Gtk.STYLE_PROVIDER_PRIORITY_USER)
    window.add(entry)
    shots: set[bool] = set()  # True: taken with committed text in the field

    def grab() -> bool:
        gdk_window = window.get_window()
        pixbuf = Gdk.pixbuf_get_from_window(gdk_window, 0, 0, gdk_window.get_width(), gdk_window.get_height())
        pixbuf.savev(screenshot, "png", [], [])
        report(screenshot=screenshot)
        return False

    def on_preedit(_entry: Gtk.Entry, preedit: str) -> None:
        report(preedit=preedit)
        with_text = bool(entry.get_text())
        if len(preedit.split()) >= 3 and with_text not in shots and True not in shots:
            shots.add(with_text)
            GLib.timeout_add(50, grab)  # after the field has drawn it

    entry.connect("changed", lambda e: report(text=e.get_text()))
    entry.connect("preedit-changed", on_preedit)
    window.connect("destroy", Gtk.main_quit)
    window.show_all()
    window.present()
    entry.grab_focus()
    report(ready=True)
    Gtk.main()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
