"""The ways text can be typed into the focused window, each a small wrapper around a desktop tool.

| backend | where | how |
|---|---|---|
| ``xdotool`` | X11 (and XWayland windows) | ``xdotool type``: XTest key events, any Unicode via a spare keycode |
| ``wtype`` | Wayland, wlroots compositors (Sway, Hyprland, river) | the virtual-keyboard protocol, own keymap |
| ``portal`` | Wayland, GNOME and KDE | the RemoteDesktop portal's keyboard, keysyms (``typing/portal.py``) |
| ``dotool`` | anywhere with ``/dev/uinput`` | kernel input events, honours ``DOTOOL_XKB_LAYOUT`` |
| ``ydotool`` | anywhere ``ydotoold`` runs | kernel input events; US layout, ASCII only |
| ``paste`` | X11 (``xclip``) or Wayland (``wl-copy``) | clipboard, then the paste chord; restores the clipboard |
| ``stdout`` | anywhere | writes the text to standard output |

``paste`` suits non-US layouts and input methods, which key-event typing gets wrong. Every backend can also
``erase`` (press BackSpace a number of times), which takes back text after a spoken "scratch that".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

TIMEOUT = 10.0


class TypingError(RuntimeError):
    """A backend could not type."""


def _run(argv: list[str], stdin: str | bytes | None = None, capture: bool = False,
         env: dict[str, str] | None = None, serves: bool = False) -> bytes:
    """Run a tool; ``serves``: it leaves a child behind holding the clipboard, so its output is not read.

    The time allowed grows with the text, since key-event tools type a character at a time.
    """
    data = stdin.encode() if isinstance(stdin, str) else stdin
    timeout = TIMEOUT + 0.05 * (sum(len(a) for a in argv) + len(data or b""))
    try:
        done = subprocess.run(argv, input=data, timeout=timeout, env=env,
                              stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL if serves else subprocess.PIPE)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TypingError(f"{argv[0]} failed: {exc}") from None
    if done.returncode:
        why = (done.stderr or b"").decode(errors="replace").strip()[-300:]
        raise TypingError(f"{argv[0]} exited {done.returncode}: {why}")
    return done.stdout if capture else b""


def _missing(*tools: str) -> str:
    absent = [t for t in tools if shutil.which(t) is None]
    return f"{', '.join(absent)} not installed" if absent else ""


def _desktop() -> str:
    return os.environ.get("XDG_CURRENT_DESKTOP", "").upper()


def _no_x11() -> str:
    return "" if os.environ.get("DISPLAY") else "no X display (DISPLAY is unset)"


def _no_wayland() -> str:
    return "" if os.environ.get("WAYLAND_DISPLAY") else "no Wayland session (WAYLAND_DISPLAY is unset)"


def _no_uinput() -> str:
    return "" if os.access("/dev/uinput", os.W_OK) else "/dev/uinput is not writable (join the input group)"


def ydotool_socket() -> Path | None:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    candidates = [os.environ.get("YDOTOOL_SOCKET", ""), f"{runtime}/.ydotool_socket" if runtime else "",
                  "/tmp/.ydotool_socket", f"/run/user/{os.getuid()}/.ydotool_socket"]
    return next((Path(c) for c in candidates if c and Path(c).exists()), None)


TO_ASCII = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...",
                          "\u00a0": " "})


class Backend:
    name: ClassVar[str] = ""

    def problem(self) -> str:
        """Why this backend cannot type here, or "" when it can."""
        raise NotImplementedError

    def type(self, text: str) -> None:
        raise NotImplementedError

    def erase(self, count: int) -> None:
        """Press BackSpace ``count`` times in the focused window."""
        raise NotImplementedError


class Xdotool(Backend):
    name = "xdotool"

    def __init__(self, delay_ms: int = 8) -> None:
        self.delay_ms = delay_ms

    def problem(self) -> str:
        return _missing("xdotool") or _no_x11()

    def type(self, text: str) -> None:
        _run(["xdotool", "type", "--clearmodifiers", "--delay", str(self.delay_ms), "--", text])

    def erase(self, count: int) -> None:
        if count > 0:
            _run(["xdotool", "key", "--clearmodifiers", "--delay", "8", "--repeat", str(count), "BackSpace"])

    @staticmethod
    def chord(keys: str) -> None:
        _run(["xdotool", "key", "--clearmodifiers", keys])


class Wtype(Backend):
    name = "wtype"

    def problem(self) -> str:
        if why := _missing("wtype") or _no_wayland():
            return why
        if any(d in _desktop() for d in ("GNOME", "KDE")):
            return f"{os.environ['XDG_CURRENT_DESKTOP']} has no virtual-keyboard protocol"
        return ""

    # Each wtype run uploads its own keymap; a key sent at once is lost by the window before that keymap
    # reaches it (the first character of every final, under sway 1.7 with GTK 3), so wtype waits a little.
    KEYMAP_SETTLE_MS = "40"

    def type(self, text: str) -> None:
        _run(["wtype", "-s", self.KEYMAP_SETTLE_MS, "--", text])

    def erase(self, count: int) -> None:
        if count > 0:
            _run(["wtype", "-s", self.KEYMAP_SETTLE_MS, *(["-k", "BackSpace"] * count)])

    @classmethod
    def chord(cls, keys: str) -> None:
        *mods, key = keys.split("+")
        argv = ["wtype", "-s", cls.KEYMAP_SETTLE_MS]
        for mod in mods:
            argv += ["-M", mod]
        argv += ["-k" if len(key) > 1 else "", key]
        for mod in reversed(mods):
            argv += ["-m", mod]
        _run([a for a in argv if a])


class Dotool(Backend):
    name = "dotool"

    def problem(self) -> str:
        return _missing("dotool") or _no_uinput()

    def type(self, text: str) -> None:
        commands = ["typehold 12", "typedelay 4"]  # a hold of 0 loses shifted characters
        for i, line in enumerate(text.split("\n")):
            if i:
                commands.append("key enter")
            if line:
                commands.append(f"type {line}")
        _run(["dotool"], stdin="\n".join(commands) + "\n")

    def erase(self, count: int) -> None:
        if count > 0:
            _run(["dotool"], stdin="typedelay 4\n" + "key backspace\n" * count)

    @staticmethod
    def chord(keys: str) -> None:
        _run(["dotool"], stdin=f"key {keys}\n")


class Ydotool(Backend):
    name = "ydotool"

    def problem(self) -> str:
        if why := _missing("ydotool"):
            return why
        if ydotool_socket() is None:
            return "ydotoold is not running (no .ydotool_socket found)"
        return ""

    def type(self, text: str) -> None:
        """Types US-layout key codes, so only ASCII; common typography is turned into ASCII first."""
        text = text.translate(TO_ASCII)
        if not text.isascii():
            odd = "".join(sorted({c for c in text if not c.isascii()}))
            raise TypingError(f"ydotool can only type ASCII, not {odd!r}: use --backend paste")
        # From stdin, text is typed as it is (no backslash escapes); 4 ms between keys, each held 8 ms.
        _run(["ydotool", "type", "--key-delay", "4", "--key-hold", "8", "--file", "-"], stdin=text, env=self._env())

    def erase(self, count: int) -> None:
        if count > 0:  # 14 is the kernel's KEY_BACKSPACE: down, up
            _run(["ydotool", "key", "--key-delay", "4", *(["14:1", "14:0"] * count)], env=self._env())

    @staticmethod
    def _env() -> dict[str, str]:
        socket = ydotool_socket()
        return {**os.environ, **({"YDOTOOL_SOCKET": str(socket)} if socket else {})}


class Paste(Backend):
    """Put the text on the clipboard, press the paste chord, then put the old clipboard back."""

    name = "paste"

    def __init__(self, chord: str = "ctrl+v", settle_s: float = 0.3, per_app: dict[str, str] | None = None) -> None:
        """``per_app``: chords by focused application (terminals built in); None: always ``chord``."""
        self.chord_keys = chord
        self.settle_s = settle_s
        self.per_app = per_app

    def chord_now(self) -> str:
        """The chord for the application that has the focus now."""
        if self.per_app is None:
            return self.chord_keys
        from stenod_clients.typing.focus import focused_app, paste_chord

        return paste_chord(focused_app().name, self.chord_keys, self.per_app)

    def _tools(self) -> tuple[list[str], list[str], type[Xdotool] | type[Wtype] | type[Dotool]] | str:
        if os.environ.get("WAYLAND_DISPLAY"):
            if why := _missing("wl-copy", "wl-paste"):
                return why
            sender = next((b for b in (Wtype, Dotool) if not b().problem()), None)
            if sender is None:
                return "no tool to press the paste chord (wtype or dotool)"
            return ["wl-copy"], ["wl-paste", "--no-newline"], sender
        if os.environ.get("DISPLAY"):
            if why := _missing("xclip", "xdotool"):
                return why
            return (["xclip", "-selection", "clipboard", "-in"], ["xclip", "-selection", "clipboard", "-out"],
                    Xdotool)
        return "no graphical session (neither WAYLAND_DISPLAY nor DISPLAY is set)"

    def problem(self) -> str:
        tools = self._tools()
        return tools if isinstance(tools, str) else ""

    def type(self, text: str) -> None:
        tools = self._tools()
        if isinstance(tools, str):
            raise TypingError(tools)
        copy, read, sender = tools
        try:
            previous: bytes | None = _run(read, capture=True)
        except TypingError:
            previous = None  # empty: nothing to put back
        _run(copy, stdin=text, serves=True)
        sender.chord(self.chord_now())
        time.sleep(self.settle_s)  # the window reads the clipboard after the chord arrives
        if previous is not None:
            _run(copy, stdin=previous, serves=True)

    def erase(self, count: int) -> None:
        tools = self._tools()
        if isinstance(tools, str):
            raise TypingError(tools)
        tools[2]().erase(count)


class Stdout(Backend):
    name = "stdout"

    def problem(self) -> str:
        return ""

    def type(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def erase(self, count: int) -> None:
        """A backspace character for each: a terminal moves back over them, a program can apply them."""
        sys.stdout.write("\b" * count)
        sys.stdout.flush()


BACKENDS: dict[str, type[Backend]] = {b.name: b for b in (Xdotool, Wtype, Dotool, Ydotool, Paste, Stdout)}
NAMES = ("xdotool", "wtype", "portal", "dotool", "ydotool", "paste", "stdout")


class _Missing(Backend):
    """A backend whose Python package is not installed: it says so instead of typing."""

    def __init__(self, name: str, why: str) -> None:
        self.name = name  # type: ignore[misc]
        self.why = why

    def problem(self) -> str:
        return self.why

    def type(self, text: str) -> None:
        raise TypingError(self.why)

    def erase(self, count: int) -> None:
        raise TypingError(self.why)


def _make(name: str, paste_chord: str = "ctrl+v", per_app: dict[str, str] | None = None) -> Backend:
    if name == "portal":
        try:
            from stenod_clients.typing.portal import PortalKeyboard
        except ImportError:
            return _Missing("portal", "needs dbus-fast: pip install 'stenod[desktop]'")
        return PortalKeyboard()
    return Paste(paste_chord, per_app=per_app) if name == "paste" else BACKENDS[name]()


def preference() -> list[str]:
    """Backends to try in order, for this session: GNOME and KDE on Wayland have no virtual-keyboard protocol
    but a RemoteDesktop portal; wlroots compositors the reverse."""
    if os.environ.get("WAYLAND_DISPLAY"):
        if any(d in _desktop() for d in ("GNOME", "KDE")):
            return ["portal", "dotool", "ydotool", "paste"]
        return ["wtype", "dotool", "ydotool", "portal", "paste"]
    if os.environ.get("DISPLAY"):
        return ["xdotool", "paste"]
    return []


def choose(name: str = "auto", paste_chord: str = "ctrl+v", per_app: dict[str, str] | None = None) -> Backend:
    """The backend called ``name``, or the first that works here for ``auto``; TypingError if none can.

    ``per_app``: paste chords by focused application (None: ``paste_chord`` always)."""
    if name != "auto":
        if name not in NAMES:
            raise TypingError(f"unknown backend {name!r} (expected one of auto, {', '.join(NAMES)})")
        backend = _make(name, paste_chord, per_app)
        if why := backend.problem():
            raise TypingError(f"{name} cannot type here: {why}")
        return backend
    for key in preference():
        backend = _make(key, paste_chord, per_app)
        if not backend.problem():
            return backend
    raise TypingError("no typing backend works here; `stenod type --check` says why "
                      "(or use --backend stdout)")


def check() -> list[tuple[str, str]]:
    """(backend, why it cannot type here or "") for every backend."""
    return [(name, _make(name).problem()) for name in NAMES]
