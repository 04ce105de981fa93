"""Push-to-talk: key names, recorded evdev records, the hold/release tracker, and the GlobalShortcuts portal."""

from __future__ import annotations

import asyncio
import os

import pytest

from stenod_clients.portal import PortalError
from stenod_clients.ptt import portal_route
from stenod_clients.ptt.evdev_route import OWN_VIRTUAL, KeyReader, usable
from stenod_clients.ptt.keys import ChordTracker, KeyEvent, KeyNameError, decode, encode, parse_chord
from support.dbus_session import StandInPortal, session_bus

KEY_A, KEY_LEFTCTRL, KEY_SPACE, KEY_SCROLLLOCK, KEY_LEFTMETA = 30, 29, 57, 70, 125


def test_key_names() -> None:
    assert parse_chord("scrolllock") == {KEY_SCROLLLOCK}
    assert parse_chord("KEY_SCROLLLOCK") == parse_chord("ScrollLock")
    assert parse_chord("leftmeta+space") == {KEY_LEFTMETA, KEY_SPACE}
    with pytest.raises(KeyNameError, match="'hyper' is not a key name"):
        parse_chord("leftmeta+hyper")


def test_records_decode_as_the_kernel_writes_them() -> None:
    events = [KeyEvent(100.25, KEY_SCROLLLOCK, 1), KeyEvent(100.5, KEY_SCROLLLOCK, 2),
              KeyEvent(101.0, KEY_SCROLLLOCK, 0)]
    data = encode(events)
    assert len(data) == 6 * 24  # each key record followed by a SYN_REPORT
    decoded, rest = decode(data[:100])  # a read that ends inside a record keeps the rest for the next one
    assert decoded == events[:2] and len(rest) == 100 - 4 * 24
    more, rest = decode(rest + data[100:])
    assert more == events[2:] and rest == b""


def test_tracker_holds_while_the_whole_chord_is_down() -> None:
    tracker = ChordTracker(parse_chord("leftmeta+space"))
    feed = [("kbd1", KeyEvent(0, KEY_LEFTMETA, 1)), ("kbd1", KeyEvent(0, KEY_A, 1)),
            ("kbd2", KeyEvent(0, KEY_SPACE, 1)),  # the chord may span two keyboards
            ("kbd2", KeyEvent(0, KEY_SPACE, 2)), ("kbd2", KeyEvent(0, KEY_SPACE, 2)),  # autorepeat
            ("kbd1", KeyEvent(0, KEY_LEFTMETA, 0)), ("kbd2", KeyEvent(0, KEY_SPACE, 0))]
    assert [tracker.feed(d, e) for d, e in feed] == [None, None, "hold", None, None, "release", None]
    assert tracker.feed("kbd1", KeyEvent(0, KEY_LEFTMETA, 1)) is None
    assert tracker.feed("kbd1", KeyEvent(0, KEY_SPACE, 1)) == "hold"
    assert tracker.device_gone("kbd1") == "release"  # unplugged with the keys down


def test_own_virtual_keyboards_are_never_read() -> None:
    for name in ("ydotoold virtual device", "dotool keyboard", "wtype", "stenod typing", "Virtual core keyboard"):
        assert OWN_VIRTUAL.search(name), name
    assert not OWN_VIRTUAL.search("AT Translated Set 2 keyboard")
    assert not OWN_VIRTUAL.search("Logitech USB Keyboard")
    keys = {KEY_A, KEY_SCROLLLOCK, KEY_SPACE}
    assert usable("Logitech USB Keyboard", keys, {KEY_SCROLLLOCK})
    assert not usable("Logitech USB Keyboard", keys, {KEY_LEFTMETA, KEY_SPACE})  # no such key: a mouse, a pad
    assert not usable("ydotoold virtual device", keys, {KEY_SCROLLLOCK})
    assert usable("Logitech USB Keyboard", keys, {KEY_SCROLLLOCK}, allow=("logitech",))
    assert not usable("AT Translated Set 2 keyboard", keys, {KEY_SCROLLLOCK}, allow=("logitech",))


def test_reader_turns_recorded_records_into_hold_and_release() -> None:
    """The same reader as for /dev/input/event*, fed a recording through a pipe in uneven pieces."""
    recording = encode([KeyEvent(1.0, KEY_A, 1), KeyEvent(1.1, KEY_A, 0), KeyEvent(2.0, KEY_SCROLLLOCK, 1),
                        *[KeyEvent(2.0 + i / 30, KEY_SCROLLLOCK, 2) for i in range(1, 20)],
                        KeyEvent(3.5, KEY_SCROLLLOCK, 0), KeyEvent(4.0, KEY_SCROLLLOCK, 1)])

    async def play() -> list[str]:
        actions: list[str] = []
        reader = KeyReader(ChordTracker(parse_chord("scrolllock")), actions.append)
        read_end, write_end = os.pipe()
        reader.add("recorded", read_end)
        for at in range(0, len(recording), 50):
            os.write(write_end, recording[at:at + 50])
            await asyncio.sleep(0.01)
        os.close(write_end)  # the device goes away with the key still down
        for _ in range(100):
            if "recorded" not in reader.open:
                break
            await asyncio.sleep(0.01)
        reader.close()
        return actions

    assert asyncio.run(play()) == ["hold", "release", "hold", "release"]


def test_xdg_trigger_names() -> None:
    assert portal_route.xdg_trigger("scrolllock") == "Scroll_Lock"
    assert portal_route.xdg_trigger("leftmeta+space") == "LOGO+space"
    assert portal_route.xdg_trigger("rightctrl+f9") == "CTRL+F9"


def _with_portal(scenario, **settings):
    async def main():
        with session_bus() as address:
            portal = await StandInPortal(address, **settings).start()
            try:
                return await scenario(address, portal)
            finally:
                portal.stop()
    return asyncio.run(main())


def test_global_shortcuts_press_and_release() -> None:
    async def scenario(address: str, portal: StandInPortal) -> tuple[list[str], list[str]]:
        actions: list[str] = []
        bound: list[str] = []
        watcher = asyncio.create_task(portal_route.watch(actions.append, "Scroll_Lock", bound.append, address))
        for _ in range(200):
            if bound:
                break
            await asyncio.sleep(0.01)
        session = portal.calls[0].body  # CreateSession's options
        assert "session_handle_token" in session[0]
        handle = "/org/freedesktop/portal/desktop/session/stenod/1"
        for member, shortcut in (("Activated", "push-to-talk"), ("Deactivated", "push-to-talk"),
                                 ("Activated", "someone-else"), ("Activated", "push-to-talk")):
            await portal.emit(portal_route.INTERFACE, member, "osta{sv}", [handle, shortcut, 1000, {}])
        await portal.emit(portal_route.INTERFACE, "Deactivated", "osta{sv}",
                          ["/org/freedesktop/portal/desktop/session/other/9", "push-to-talk", 1001, {}])
        for _ in range(200):
            if len(actions) >= 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        watcher.cancel()
        return actions, bound

    actions, bound = _with_portal(scenario)
    assert bound == ["Scroll_Lock"]
    assert actions == ["hold", "release", "hold"]  # another shortcut and another session are not ours


def test_global_shortcuts_refused_and_missing() -> None:
    async def refused(address: str, portal: StandInPortal) -> str:
        with pytest.raises(PortalError) as info:
            await portal_route.watch(lambda a: None, "F9", lambda t: None, address)
        return str(info.value)

    message = _with_portal(refused, responses={"BindShortcuts": 1})
    assert message == "BindShortcuts: permission refused (the request was cancelled in the desktop's dialog)"

    message = _with_portal(refused, versions={})
    assert "has no GlobalShortcuts" in message and "\n" not in message
