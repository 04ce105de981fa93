"""``stenod type --backend portal``: the RemoteDesktop conversation against a stand-in portal on a private bus.

A GNOME or KDE session cannot run here; the stand-in answers with the real wire protocol (request paths,
``Request.Response`` signals, single-use restore tokens), and records what was sent.
"""

from __future__ import annotations

import asyncio
import stat
import threading

import pytest

from stenod_clients.typing.backends import TypingError
from stenod_clients.typing.portal import PortalKeyboard, keysym, token_path
from support.dbus_session import StandInPortal, session_bus


class PortalThread:
    """The stand-in portal served from a thread of its own, so the backend's blocking calls can reach it."""

    def __init__(self, address: str, **settings: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.portal: StandInPortal = asyncio.run_coroutine_threadsafe(
            StandInPortal(address, **settings).start(), self.loop).result(10)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.portal.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def bus(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with session_bus() as address:
        yield address


def _typed(portal: StandInPortal) -> list[tuple[int, int]]:
    return [(c.body[2], c.body[3]) for c in portal.calls if c.member == "NotifyKeyboardKeysym"]


def test_keysyms() -> None:
    assert [keysym(c) for c in "aZ é\n"] == [0x61, 0x5A, 0x20, 0xE9, 0xFF0D]
    assert keysym("€") == 0x010020AC and keysym("東") == 0x01006771 and keysym("🎉") == 0x0101F389


def test_types_keysyms_and_is_asked_once(bus) -> None:
    served = PortalThread(bus)
    try:
        first = PortalKeyboard(pace_s=0.0, address=bus)
        assert first.problem() == ""
        first.type("Hé!\n")
        first.close()
        portal = served.portal
        members = [c.member for c in portal.calls]
        assert members[:3] == ["CreateSession", "SelectDevices", "Start"]
        select = next(c for c in portal.calls if c.member == "SelectDevices")
        assert select.body[1]["types"].value == 1 and select.body[1]["persist_mode"].value == 2
        assert "restore_token" not in select.body[1]
        assert _typed(portal) == [(0x48, 1), (0x48, 0), (0xE9, 1), (0xE9, 0), (0x21, 1), (0x21, 0),
                                  (0xFF0D, 1), (0xFF0D, 0)]
        assert portal.asked == 1
        saved = token_path()
        assert saved.read_text() == "token-1" and stat.S_IMODE(saved.stat().st_mode) == 0o600

        second = PortalKeyboard(pace_s=0.0, address=bus)  # the next start: the token spares the dialog
        second.type("ok")
        second.close()
        assert portal.asked == 1
        assert saved.read_text() == "token-2"  # refreshed from the Start reply: the old one is spent
    finally:
        served.close()


def test_an_expired_token_asks_again_and_a_refusal_is_one_line(bus) -> None:
    served = PortalThread(bus)
    try:
        token_path().parent.mkdir(parents=True)
        token_path().write_text("token-from-last-month")
        keyboard = PortalKeyboard(pace_s=0.0, address=bus)
        keyboard.type("a")
        keyboard.close()
        assert served.portal.asked == 1 and token_path().read_text() == "token-1"
        served.portal.responses["Start"] = 1  # the person clicks "Deny"
        token_path().unlink()
        refused = PortalKeyboard(pace_s=0.0, address=bus)
        with pytest.raises(TypingError) as info:
            refused.type("b")
        refused.close()
        assert str(info.value) == ("portal: Start: permission refused (the request was cancelled in the "
                                   "desktop's dialog)")
        assert not token_path().exists()
    finally:
        served.close()


def test_no_remote_desktop_portal(bus) -> None:
    served = PortalThread(bus, versions={})
    try:
        keyboard = PortalKeyboard(address=bus)
        assert "has no RemoteDesktop" in keyboard.problem()
        keyboard.close()
    finally:
        served.close()


def test_a_session_the_desktop_closed_is_opened_again(bus) -> None:
    served = PortalThread(bus)
    try:
        keyboard = PortalKeyboard(pace_s=0.0, address=bus)
        keyboard.type("a")
        session = "/org/freedesktop/portal/desktop/session/stenod/1"
        asyncio.run_coroutine_threadsafe(served.portal.emit("org.freedesktop.portal.Session", "Closed", "a{sv}",
                                                            [{}], path=session), served.loop).result(5)
        for _ in range(100):
            if not keyboard._session:
                break
            threading.Event().wait(0.02)
        keyboard.type("b")
        keyboard.close()
        assert [c.member for c in served.portal.calls].count("CreateSession") == 2
        assert _typed(served.portal)[-2:] == [(0x62, 1), (0x62, 0)]
        assert served.portal.asked == 1  # the restore token of the first start spared the second dialog
    finally:
        served.close()
