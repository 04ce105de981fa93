"""A desktop notification on pause and resume: the daemon talks to a stand-in Notifications service on a
private session bus (a real dbus-daemon), with the real wire protocol."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from support.daemon import Daemon
from support.dbus_session import session_bus
from support.waits import until

SERVICE, PATH = "org.freedesktop.Notifications", "/org/freedesktop/Notifications"


class StandInNotifications:
    """Owns org.freedesktop.Notifications on a bus, in its own thread; records each Notify call."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.calls: list[list[Any]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StandInNotifications:
        self._thread.start()
        assert self._ready.wait(10), "the stand-in did not take its name"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._start())
        self._loop.run_forever()
        self._bus.disconnect()

    async def _start(self) -> None:
        self._bus = await MessageBus(bus_address=self.address).connect()
        self._bus.add_message_handler(self._handle)
        await self._bus.request_name(SERVICE)
        self._ready.set()

    def _handle(self, message: Message) -> Message | None:
        if message.message_type != MessageType.METHOD_CALL or message.member != "Notify":
            return None
        self.calls.append(list(message.body))
        return Message.new_method_return(message, "u", [len(self.calls)])


@pytest.fixture
def bus() -> Iterator[str]:
    with session_bus() as address:
        yield address


def _toggle(daemon: Daemon, *kinds: str) -> None:
    with daemon.connect("/v1/events") as ws:
        json.loads(ws.recv(timeout=5))
        for kind in kinds:
            ws.send(json.dumps({"type": kind}))
            assert json.loads(ws.recv(timeout=5))["type"] == "status"


def test_pause_and_resume_show_a_notification_that_replaces_the_last(tmp_path: Path, bus: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[audio]\nnotify = true\n")
    with StandInNotifications(bus) as service, Daemon(tmp_path, "--no-mic", "--config", str(config),
                                                      env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus}) as d:
        _toggle(d, "pause", "resume")
        until(lambda: len(service.calls) == 2, "two notifications", timeout=10)
    (app, replaces, _, summary, *_), (_, replaces_2, _, summary_2, *_) = service.calls
    assert (app, summary, summary_2) == ("stenod", "Dictation paused", "Dictation listening")
    assert (replaces, replaces_2) == (0, 1)  # the second bubble replaces the first


def test_without_a_notification_service_dictation_goes_on_and_says_so_once(tmp_path: Path, bus: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[audio]\nnotify = true\n")
    with Daemon(tmp_path, "--no-mic", "--config", str(config),
                env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus}) as d:
        _toggle(d, "pause", "resume", "pause")
        d.wait_for_log("no desktop notification")
        assert d.health()["state"] == "paused"
    assert d.log.count("no desktop notification") == 1


def test_notifications_are_off_unless_asked(tmp_path: Path, bus: str) -> None:
    with StandInNotifications(bus) as service, Daemon(tmp_path, "--no-mic",
                                                      env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus}) as d:
        _toggle(d, "pause", "resume")
        assert d.health()["state"] == "listening"
        time.sleep(1.0)  # a notification would be on its way by now: none must come
    assert service.calls == []
