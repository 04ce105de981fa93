"""Typing through the desktop's RemoteDesktop portal: GNOME and KDE on Wayland, without root or uinput.

The first time, the desktop asks the person to allow "remote interaction" with the keyboard; the portal then
hands out a restore token, kept in ``$XDG_STATE_HOME/stenod/portal-restore-token`` (mode 0600) and offered on
the next start so the person is not asked again. A token works once: the one in every ``Start`` reply
replaces it. Characters are sent as keysyms (``NotifyKeyboardKeysym``), so the desktop maps them through
the person's own layout and accents come out right; they are paced (Mutter drops keys sent too fast), and
long finals go through the clipboard and Ctrl+V instead when ``wl-copy`` is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from dbus_fast import Variant

from stenod.paths import state_dir
from stenod_clients.portal import Portal, PortalError, token
from stenod_clients.typing.backends import Backend, TypingError

INTERFACE = "org.freedesktop.portal.RemoteDesktop"
KEYBOARD = 1  # device type bit
PERSIST_UNTIL_REVOKED = 2
PRESSED, RELEASED = 1, 0
KEYSYM_NAMES = {"\n": 0xFF0D, "\t": 0xFF09, "\b": 0xFF08}  # Return, Tab, BackSpace
CONTROL_L, LETTER_V, BACKSPACE = 0xFFE3, 0x76, 0xFF08
T = TypeVar("T")


def keysym(char: str) -> int:
    """X keysym for a character: Latin-1 is its own code, the rest of Unicode 0x01000000 + code point."""
    if char in KEYSYM_NAMES:
        return KEYSYM_NAMES[char]
    code = ord(char)
    if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
        return code
    return 0x01000000 + code


def token_path() -> Path:
    return state_dir() / "portal-restore-token"


def _save_token(value: str) -> None:
    path = token_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value)
    os.replace(temporary, path)


def _load_token() -> str:
    try:
        return token_path().read_text().strip()
    except OSError:
        return ""


class PortalKeyboard(Backend):
    """A RemoteDesktop session with a keyboard, opened on first use and kept; reopened if the desktop closes it."""

    name: ClassVar[str] = "portal"

    def __init__(self, pace_s: float = 0.05, paste_over: int = 48, address: str | None = None) -> None:
        self.pace_s = pace_s
        self.paste_over = paste_over
        self.address = address
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._portal: Portal | None = None
        self._session = ""

    # Backend -----------------------------------------------------------------------------
    def problem(self) -> str:
        if not os.environ.get("WAYLAND_DISPLAY") and self.address is None:
            return "no Wayland session (WAYLAND_DISPLAY is unset)"
        try:
            version = self._call(self._version())
        except PortalError as exc:
            return str(exc)
        return "" if version >= 1 else "the desktop portal has no RemoteDesktop (GNOME 41+, KDE Plasma 5.27+)"

    def type(self, text: str) -> None:
        try:
            self._call(self._type(text))
        except PortalError as exc:
            raise TypingError(f"portal: {exc}") from None
        except Exception as exc:  # the bus went away, a tool timed out, the token could not be kept
            self._session = ""
            raise TypingError(f"portal: {type(exc).__name__}: {exc}") from None

    def erase(self, count: int) -> None:
        try:
            self._call(self._erase(count))
        except PortalError as exc:
            raise TypingError(f"portal: {exc}") from None
        except Exception as exc:
            self._session = ""
            raise TypingError(f"portal: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        if self._thread is None:
            return
        if self._portal is not None:
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # The conversation -----------------------------------------------------------------------
    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop.run_forever, name="stenod-portal", daemon=True)
            self._thread.start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _connected(self) -> Portal:
        if self._portal is None:
            self._portal = await Portal.connect(self.address)
            await self._portal.on_signals("org.freedesktop.portal.Session", self._on_session_signal, path=None)
        return self._portal

    def _on_session_signal(self, member: str, body: list[object]) -> None:
        if member == "Closed":
            self._session = ""  # the desktop ended it (or the person revoked it): start again next time

    async def _version(self) -> int:
        return await (await self._connected()).version(INTERFACE)

    async def _start(self) -> str:
        """Create, select a keyboard, start: the person is asked unless the restore token is still good."""
        portal = await self._connected()
        created = await portal.request(INTERFACE, "CreateSession", "a{sv}", [],
                                       {"session_handle_token": Variant("s", token())})
        session = str(created.get("session_handle", ""))
        if not session:
            raise PortalError("CreateSession: the portal gave no session")
        options = {"types": Variant("u", KEYBOARD), "persist_mode": Variant("u", PERSIST_UNTIL_REVOKED)}
        if restore := _load_token():
            options["restore_token"] = Variant("s", restore)
        await portal.request(INTERFACE, "SelectDevices", "oa{sv}", [session], options)
        started = await portal.request(INTERFACE, "Start", "osa{sv}", [session, ""], {})
        if not int(started.get("devices", 0)) & KEYBOARD:
            raise PortalError("Start: the keyboard was not granted")
        if new := str(started.get("restore_token", "")):
            _save_token(new)  # single use: the next start needs this one
        return session

    async def _type(self, text: str) -> None:
        if not self._session:
            self._session = await self._start()
        if len(text) > self.paste_over and shutil.which("wl-copy"):
            await self._paste(text)
            return
        for char in text:
            await self._tap(keysym(char))

    async def _erase(self, count: int) -> None:
        if count <= 0:
            return
        if not self._session:
            self._session = await self._start()
        for _ in range(count):
            await self._tap(BACKSPACE)

    async def _key(self, sym: int, state: int) -> None:
        assert self._portal is not None
        await self._portal.call(INTERFACE, "NotifyKeyboardKeysym", "oa{sv}iu", [self._session, {}, sym, state])

    async def _tap(self, sym: int) -> None:
        await self._key(sym, PRESSED)
        await self._key(sym, RELEASED)
        await asyncio.sleep(self.pace_s)

    async def _paste(self, text: str) -> None:
        """Clipboard, Ctrl+V, and the old clipboard back (as the paste backend does)."""
        previous = subprocess.run(["wl-paste", "--no-newline"], capture_output=True, timeout=10,
                                  check=False).stdout if shutil.which("wl-paste") else None
        subprocess.run(["wl-copy"], input=text.encode(), timeout=10, check=False)
        await self._key(CONTROL_L, PRESSED)
        await self._tap(LETTER_V)
        await self._key(CONTROL_L, RELEASED)
        await asyncio.sleep(0.3)  # the window reads the clipboard after the chord arrives
        if previous:
            subprocess.run(["wl-copy"], input=previous, timeout=10, check=False)

    async def _close(self) -> None:
        portal, self._portal = self._portal, None
        if portal is None:
            return
        if self._session:
            with contextlib.suppress(Exception):
                await portal.call("org.freedesktop.portal.Session", "Close", "", [], path=self._session)
        portal.close()
