"""``stenod hotkeys``: keyboard shortcuts to copy into a desktop's settings, with this stenod's absolute path.

A desktop runs a shortcut's command without the user's shell, so ``stenod`` must be named by its full path.
Each desktop gets what it can do: sway and Hyprland bind a key's press and release (push-to-talk with
``stenod hold``/``release``); GNOME and KDE fire custom shortcuts on press only (``stenod toggle``; for
hold-to-talk there, ``stenod ptt``). ``stenod paste-last`` types the last final again.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

DESKTOPS = ("gnome", "kde", "sway", "hyprland")
GNOME_KEYS = "org.gnome.settings-daemon.plugins.media-keys"
GNOME_PATH = "/org/gnome/settings-daemon/plugins/media-keys/custom-keybindings"
# gsettings prints "@as []" or "['/a/', '/b/']"; the new paths are added once, and Python's list repr is a GVariant
ADD_TO_LIST = ("import ast, sys; have = ast.literal_eval(sys.argv[1].removeprefix('@as ')); "
               "print(have + [p for p in sys.argv[2:] if p not in have])")


def stenod_command() -> str:
    """This installation's ``stenod``, as an absolute command line."""
    script = Path(sys.executable).parent / "stenod"
    if script.is_file() and os.access(script, os.X_OK):
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m stenod"


def detect() -> str:
    """The desktop this session runs, as one of ``DESKTOPS`` ("" when it is none of them)."""
    if os.environ.get("SWAYSOCK"):
        return "sway"
    if os.environ.get("HYPRLAND_INSTANCE_SIGNATURE"):
        return "hyprland"
    desktop = os.environ.get("XDG_CURRENT_DESKTOP", "").lower()
    return next((d for d in ("gnome", "kde") if d in desktop), "")


def _gnome(stenod: str) -> str:
    slots = " ".join(f"'{GNOME_PATH}/{slot}/'" for slot in ("stenod-toggle", "stenod-paste-last"))
    lines = ["# GNOME: run these in a terminal (your own custom shortcuts are kept: stenod's two are added to them)",
             f"current=$(gsettings get {GNOME_KEYS} custom-keybindings)",
             f"gsettings set {GNOME_KEYS} custom-keybindings \"$(python3 -c {shlex.quote(ADD_TO_LIST)} "
             f"\"$current\" {slots})\""]
    for slot, name, command, key in (("stenod-toggle", "Dictation on/off", "toggle", "<Super><Alt>d"),
                                     ("stenod-paste-last", "Type the last dictation again", "paste-last",
                                      "<Super><Alt>v")):
        schema = f"{GNOME_KEYS}.custom-keybinding:{GNOME_PATH}/{slot}/"
        lines += [f"gsettings set {schema} name {shlex.quote(name)}",
                  f"gsettings set {schema} command {shlex.quote(f'{stenod} {command}')}",
                  f"gsettings set {schema} binding {shlex.quote(key)}"]
    lines.append("# hold-to-talk on GNOME 48+: stenod ptt (the desktop asks once for the key)")
    return "\n".join(lines)


def _kde(stenod: str) -> str:
    return "\n".join([
        "# KDE Plasma: System Settings → Keyboard → Shortcuts → Add New → Command or Script, then enter",
        f"#   {stenod} toggle        (dictation on/off; e.g. Meta+Alt+D)",
        f"#   {stenod} paste-last    (type the last dictation again; e.g. Meta+Alt+V)",
        "# hold-to-talk: stenod ptt (Plasma asks once for the key through its GlobalShortcuts portal)"])


# A compositor binds a key's press and its release: where its config goes, how it writes the push-to-talk
# key's press and release, and any other binding (``{key}``, ``{run}``), with its names for the keys.
COMPOSITORS = {
    "sway": ("# sway: add to ~/.config/sway/config, then swaymsg reload",
             "bindsym --no-repeat {key} exec {run}", "bindsym --release {key} exec {run}",
             "bindsym {key} exec {run}", ("F9", "Mod4+Mod1+d", "Mod4+Mod1+v")),
    "hyprland": ("# Hyprland: add to ~/.config/hypr/hyprland.conf (it reloads by itself)",
                 "bind = {key}, exec, {run}", "bindr = {key}, exec, {run}",
                 "bind = {key}, exec, {run}", (", F9", "SUPER ALT, D", "SUPER ALT, V")),
}


def _compositor(name: str, stenod: str) -> str:
    where, press, release, bind, (talk, toggle, paste) = COMPOSITORS[name]
    return "\n".join([
        where, "# hold F9 to dictate; the words arrive on release",
        press.format(key=talk, run=f"{stenod} hold"), release.format(key=talk, run=f"{stenod} release"),
        bind.format(key=toggle, run=f"{stenod} toggle"), bind.format(key=paste, run=f"{stenod} paste-last")])


SNIPPETS: dict[str, Callable[[str], str]] = {
    "gnome": _gnome, "kde": _kde, **{name: partial(_compositor, name) for name in COMPOSITORS}}


def snippets(desktop: str = "", stenod: str = "") -> str:
    """The shortcuts for ``desktop`` (every desktop's when it is "" and none is detected)."""
    stenod = stenod or stenod_command()
    chosen = [desktop] if desktop else ([detect()] if detect() else list(DESKTOPS))
    return "\n\n".join(SNIPPETS[d](stenod) for d in chosen) + "\n"
