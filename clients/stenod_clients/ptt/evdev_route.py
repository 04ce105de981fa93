"""Push-to-talk from ``/dev/input``: every keyboard the user may read, hot-plugged, stenod's own typing ignored.

Works under any compositor and on X11, for a user in the ``input`` group. Keyboards are found again every
``rescan_s`` (one plugged in later is used; one unplugged is dropped and releases its keys). Virtual keyboards
that type for dictation tools (ydotool, dotool, wtype…) are never read, so typing a final cannot press the
push-to-talk key; ``allow`` keeps only devices whose name contains one of its strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from stenod_clients.ptt.keys import ChordTracker, decode

log = logging.getLogger("stenod.ptt")
OWN_VIRTUAL = re.compile(r"ydotool|dotool|wtype|stenod|virtual (core )?keyboard|uinput", re.IGNORECASE)
INPUT_DIR = Path("/dev/input")


@dataclass(frozen=True)
class Keyboard:
    path: str
    name: str


def keyboards(chord: Iterable[int], allow: tuple[str, ...] = (), directory: Path = INPUT_DIR) -> list[Keyboard]:
    """The devices under ``directory`` this user can read that have every key of ``chord``."""
    import evdev

    found = []
    wanted = set(chord)
    for path in sorted(str(p) for p in directory.glob("event*")):
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue  # not readable by this user, or gone
        try:
            keys = set(device.capabilities().get(evdev.ecodes.EV_KEY, []))
            name = device.name or ""
        finally:
            device.close()
        if usable(name, keys, wanted, allow):
            found.append(Keyboard(path, name))
    return found


def usable(name: str, keys: set[int], chord: set[int], allow: tuple[str, ...] = ()) -> bool:
    """Whether a device called ``name`` with ``keys`` is read: it has the chord's keys, is not a dictation
    tool's virtual keyboard, and (with an allow-list) its name contains one of ``allow``."""
    if not chord <= keys or OWN_VIRTUAL.search(name):
        return False
    return not allow or any(a.lower() in name.lower() for a in allow)


def unreadable_reason(directory: Path = INPUT_DIR) -> str:
    """Why no keyboard could be read, for the one-line error."""
    devices = list(directory.glob("event*"))
    if not devices:
        return f"no input devices in {directory}"
    if not any(os.access(p, os.R_OK) for p in devices):
        return (f"no permission to read {directory}/event*: add yourself to the 'input' group "
                "(sudo usermod -aG input $USER, then log in again)")
    return "no keyboard with that key among the readable input devices"


class KeyReader:
    """Reads key records from open file descriptors as they come, in the event loop."""

    def __init__(self, tracker: ChordTracker, on_action: Callable[[str], None]) -> None:
        self.tracker = tracker
        self.on_action = on_action
        self.open: dict[str, int] = {}  # path → fd
        self._rest: dict[str, bytes] = {}

    def add(self, path: str, fd: int) -> None:
        os.set_blocking(fd, False)
        self.open[path] = fd
        self._rest[path] = b""
        asyncio.get_running_loop().add_reader(fd, self._readable, path)

    def remove(self, path: str) -> None:
        fd = self.open.pop(path, None)
        self._rest.pop(path, None)
        if fd is None:
            return
        asyncio.get_running_loop().remove_reader(fd)
        with contextlib.suppress(OSError):
            os.close(fd)
        self._act(self.tracker.device_gone(path))

    def close(self) -> None:
        for path in list(self.open):
            self.remove(path)

    def _readable(self, path: str) -> None:
        try:
            data = os.read(self.open[path], 64 * 24)
        except BlockingIOError:
            return
        except OSError as exc:  # ENODEV: unplugged
            log.info("%s went away (%s)", path, exc.strerror)
            self.remove(path)
            return
        if not data:  # end of a recording or a closed pipe
            self.remove(path)
            return
        events, self._rest[path] = decode(self._rest[path] + data)
        for event in events:
            self._act(self.tracker.feed(path, event))

    def _act(self, action: str | None) -> None:
        if action:
            self.on_action(action)


async def watch(chord: frozenset[int], on_action: Callable[[str], None], allow: tuple[str, ...] = (),
                rescan_s: float = 2.0, directory: Path = INPUT_DIR) -> None:
    """Follow every matching keyboard until cancelled, picking up new ones every ``rescan_s``."""
    reader = KeyReader(ChordTracker(chord), on_action)
    try:
        while True:
            present = {k.path: k for k in keyboards(chord, allow, directory)}
            for path in set(reader.open) - set(present):
                reader.remove(path)
            for path, keyboard in present.items():
                if path not in reader.open:
                    try:
                        reader.add(path, os.open(path, os.O_RDONLY | os.O_NONBLOCK))
                    except OSError:
                        continue
                    log.info("listening for the key on %s (%s)", keyboard.name, path)
            await asyncio.sleep(rescan_s)
    finally:
        reader.close()
