"""Which application has the keyboard focus, and the paste chord it wants.

Terminals paste with Ctrl+Shift+V (Ctrl+V is a control character there: the built-in ``terminal`` profile
says so); most other applications with Ctrl+V. The focused application is asked of the X server
(``_NET_ACTIVE_WINDOW``, else the input focus, then its ``WM_CLASS``), of sway (its IPC tree: ``app_id``, or the
class of an XWayland window) or of Hyprland (``hyprctl activewindow``). GNOME and KDE on Wayland do not tell
other programs which window is focused; there the configured default chord is used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Focused:
    """The focused application's names (app id, window class…, lower case, space-separated) and how they were
    found; ``name`` is "" when this session cannot tell, with ``why``. ``window`` identifies the window itself
    (an X window id, a sway container id, a Hyprland address), "" when unknown."""

    name: str
    via: str = ""
    why: str = ""
    window: str = ""


def _run(argv: list[str], env: Mapping[str, str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, env=dict(env))
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _x11(env: Mapping[str, str]) -> Focused:
    if shutil.which("xprop") is None:
        return Focused("", "x11", "xprop not installed (x11-utils)")
    active = re.search(r"window id # (0x[0-9a-f]+)", _run(["xprop", "-root", "_NET_ACTIVE_WINDOW"], env))
    window = active.group(1) if active and int(active.group(1), 16) else ""
    if not window and shutil.which("xdotool"):
        window = _run(["xdotool", "getwindowfocus"], env).strip()  # no window manager: the input focus's toplevel
    if not window or window == "0":
        return Focused("", "x11", "no window has the focus")
    names = re.findall(r'"([^"]*)"', _run(["xprop", "-id", window, "WM_CLASS"], env))
    return Focused(" ".join(dict.fromkeys(n.lower() for n in names if n)), "x11", window=str(int(window, 0)))


def _sway(env: Mapping[str, str]) -> Focused:
    tree = _run(["swaymsg", "-t", "get_tree"], env)
    if not tree:
        return Focused("", "sway", "swaymsg gave no tree")
    try:
        stack = [json.loads(tree)]
    except ValueError:
        return Focused("", "sway", "swaymsg gave no usable tree")
    while stack:
        node = stack.pop()
        if node.get("focused") and node.get("type") in ("con", "floating_con"):
            props = node.get("window_properties") or {}
            names = [node.get("app_id") or "", props.get("instance") or "", props.get("class") or ""]
            found = " ".join(dict.fromkeys(n.lower() for n in names if n))
            return Focused(found, "sway", window=str(node.get("id", "")))
        stack += node.get("nodes", []) + node.get("floating_nodes", [])
    return Focused("", "sway", "no window has the focus")


def _hyprland(env: Mapping[str, str]) -> Focused:
    try:
        window = json.loads(_run(["hyprctl", "activewindow", "-j"], env) or "{}")
    except ValueError:
        window = {}
    names = [str(window.get("class") or ""), str(window.get("initialClass") or "")]
    found = " ".join(dict.fromkeys(n.lower() for n in names if n))
    return Focused(found, "hyprland", "" if found else "hyprctl named no window", str(window.get("address") or ""))


def focused_app(env: Mapping[str, str] | None = None) -> Focused:
    env = os.environ if env is None else env
    if env.get("WAYLAND_DISPLAY"):
        if env.get("SWAYSOCK") and shutil.which("swaymsg"):
            return _sway(env)
        if env.get("HYPRLAND_INSTANCE_SIGNATURE") and shutil.which("hyprctl"):
            return _hyprland(env)
        desktop = env.get("XDG_CURRENT_DESKTOP", "this compositor") or "this compositor"
        return Focused("", "", f"{desktop} does not say which window has the focus")
    if env.get("DISPLAY"):
        return _x11(env)
    return Focused("", "", "no graphical session")


def same_window(before: Focused, now: Focused) -> bool:
    """Whether ``now`` is the window ``before`` was; True when either cannot be told (nothing to compare)."""
    return not before.window or not now.window or before.window == now.window


def paste_chord(app: str, default: str, per_app: Mapping[str, str] | None = None) -> str:
    """The chord for ``app``: the longest name of ``per_app`` found in it (the profiles' and ``[typing]``'s
    chords, terminals included: see ``Shaping.paste_keys``), else ``default``."""
    table = {k.lower(): v for k, v in (per_app or {}).items()}
    matches = [name for name in table if name and name in app]
    return table[max(matches, key=len)] if matches else default
