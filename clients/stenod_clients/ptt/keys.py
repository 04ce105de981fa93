"""Push-to-talk key logic, pure: chord names, raw evdev records, and the hold/release tracker.

The kernel delivers ``struct input_event`` records (a timeval, then type, code and value) on each
``/dev/input/event*`` device; :func:`decode` turns bytes read from one into :class:`KeyEvent`s, and a
:class:`ChordTracker` turns key events from any number of keyboards into ``hold`` and ``release``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

EV_KEY = 1
RECORD = struct.Struct("@llHHi")  # struct input_event on 64-bit Linux: 24 bytes
PRESS, RELEASE, REPEAT = 1, 0, 2


class KeyNameError(ValueError):
    """A key name that is not a key."""


@dataclass(frozen=True)
class KeyEvent:
    time: float  # seconds, the kernel's timestamp
    code: int
    value: int  # 1 press, 0 release, 2 autorepeat


def decode(data: bytes) -> tuple[list[KeyEvent], bytes]:
    """The key events in ``data`` (whole records), and the bytes of an unfinished record left over."""
    whole = len(data) - len(data) % RECORD.size
    events = []
    for sec, usec, kind, code, value in RECORD.iter_unpack(data[:whole]):
        if kind == EV_KEY:
            events.append(KeyEvent(sec + usec / 1e6, code, value))
    return events, data[whole:]


def encode(events: list[KeyEvent]) -> bytes:
    """Records as the kernel writes them, each key event followed by a SYN_REPORT (for recordings and tests)."""
    out = bytearray()
    for event in events:
        sec = int(event.time)
        usec = int(round((event.time - sec) * 1e6))
        out += RECORD.pack(sec, usec, EV_KEY, event.code, event.value) + RECORD.pack(sec, usec, 0, 0, 0)
    return bytes(out)


def key_codes() -> dict[str, int]:
    """Every ``KEY_*`` and ``BTN_*`` name the kernel knows, from python-evdev's tables."""
    from evdev import ecodes

    return {name: code for name, code in ecodes.ecodes.items() if name.startswith(("KEY_", "BTN_"))}


def parse_chord(spec: str, codes: dict[str, int] | None = None) -> frozenset[int]:
    """``"rightctrl"``, ``"KEY_F9"`` or ``"leftmeta+space"`` → the key codes that must all be down."""
    codes = codes if codes is not None else key_codes()
    keys = set()
    for part in spec.split("+"):
        name = part.strip().upper().replace("-", "_")
        if not name:
            raise KeyNameError(f"{spec!r}: an empty key name")
        for candidate in (name, "KEY_" + name, "BTN_" + name):
            if candidate in codes:
                keys.add(codes[candidate])
                break
        else:
            raise KeyNameError(f"{part.strip()!r} is not a key name "
                               "(examples: rightctrl, f9, scrolllock, leftmeta+space)")
    return frozenset(keys)


@dataclass
class ChordTracker:
    """``hold`` when every key of the chord is down (on any keyboards), ``release`` when one of them comes up.

    Autorepeat is ignored; a keyboard that goes away releases the keys it held.
    """

    chord: frozenset[int]
    held: bool = False
    _down: dict[str, set[int]] = field(default_factory=dict)

    def feed(self, device: str, event: KeyEvent) -> str | None:
        if event.code not in self.chord or event.value == REPEAT:
            return None
        keys = self._down.setdefault(device, set())
        if event.value == PRESS:
            keys.add(event.code)
        else:
            keys.discard(event.code)
        return self._settle()

    def device_gone(self, device: str) -> str | None:
        self._down.pop(device, None)
        return self._settle()

    def _settle(self) -> str | None:
        down = set().union(*self._down.values()) if self._down else set()
        if not self.held and self.chord <= down:
            self.held = True
            return "hold"
        if self.held and not self.chord <= down:
            self.held = False
            return "release"
        return None
