"""A private D-Bus session bus (a real ``dbus-daemon``) and a stand-in desktop portal that speaks on it.

A GNOME or KDE session cannot run here, so the portal is played by :class:`StandInPortal`: it owns
``org.freedesktop.portal.Desktop`` on the private bus and answers with the real portal wire protocol (a
request path at once, ``org.freedesktop.portal.Request.Response`` later, the interfaces' signals). What it
should answer is set per test: the response code of each method, the restore token it hands out.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from support.processes import reap

PATH = "/org/freedesktop/portal/desktop"


@contextlib.contextmanager
def session_bus() -> Iterator[str]:
    """Start ``dbus-daemon --session`` and yield its address; it is stopped afterwards, whatever happens."""
    if shutil.which("dbus-daemon") is None:
        pytest.fail("dbus-daemon is not installed (make deps installs it)")
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address.startswith("unix:"), address
        yield address
    finally:
        reap(proc)


@dataclass
class Call:
    interface: str
    member: str
    body: list[Any]


@dataclass
class StandInPortal:
    """Plays ``org.freedesktop.portal.Desktop`` on a bus: GlobalShortcuts and RemoteDesktop."""

    address: str
    versions: dict[str, int] = field(default_factory=lambda: {"org.freedesktop.portal.GlobalShortcuts": 1,
                                                               "org.freedesktop.portal.RemoteDesktop": 2})
    responses: dict[str, int] = field(default_factory=dict)  # method → response code (0 yes, 1 refused, 2 error)
    valid_tokens: set[str] = field(default_factory=set)  # restore tokens that skip the dialog
    issued_tokens: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    asked: int = 0  # how many times the person would have seen a permission dialog
    bus: MessageBus | None = None
    _sessions: int = 0
    _offered: str = ""  # the restore token of the last SelectDevices

    async def start(self) -> StandInPortal:
        self.bus = await MessageBus(bus_address=self.address).connect()
        self.bus.add_message_handler(self._handle)
        await self.bus.request_name("org.freedesktop.portal.Desktop")
        return self

    def stop(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()

    async def emit(self, interface: str, member: str, signature: str, body: list[Any], path: str = PATH) -> None:
        assert self.bus is not None
        await self.bus.send(Message.new_signal(path, interface, member, signature, body))

    # The wire protocol --------------------------------------------------------------------
    def _handle(self, message: Message) -> bool | Message | None:
        if message.message_type != MessageType.METHOD_CALL or message.path != PATH:
            return None
        interface, member = message.interface or "", message.member or ""
        if interface == "org.freedesktop.DBus.Properties" and member == "Get":
            version = self.versions.get(message.body[0])
            if version is None:
                return Message.new_error(message, "org.freedesktop.DBus.Error.UnknownInterface", "no such interface")
            return Message.new_method_return(message, "v", [Variant("u", version)])
        if self.versions.get(interface) is None:
            return Message.new_error(message, "org.freedesktop.DBus.Error.UnknownMethod", f"no {interface}")
        options = dict(message.body[-1]) if message.body and isinstance(message.body[-1], dict) else {}
        self.calls.append(Call(interface, member, list(message.body)))
        if "handle_token" not in options:  # a direct method (the Notify* calls)
            return Message.new_method_return(message, "", [])
        sender = (message.sender or "").lstrip(":").replace(".", "_")
        request = f"{PATH}/request/{sender}/{options['handle_token'].value}"
        code, results = self._answer(member, message.body, options)
        reply = Message.new_method_return(message, "o", [request])
        assert self.bus is not None
        self.bus.send(reply)
        self.bus.send(Message.new_signal(request, "org.freedesktop.portal.Request", "Response", "ua{sv}",
                                         [code, results]))
        return True

    def _answer(self, member: str, body: list[Any], options: dict[str, Variant]) -> tuple[int, dict[str, Variant]]:
        code = self.responses.get(member, 0)
        if member == "CreateSession":
            self._sessions += 1
            return code, {"session_handle": Variant("s", f"{PATH}/session/stenod/{self._sessions}")}
        if member == "BindShortcuts":
            self.asked += 1
            shortcuts = [(sid, {"trigger_description": Variant("s", props["preferred_trigger"].value)})
                         for sid, props in body[1]]
            return code, {"shortcuts": Variant("a(sa{sv})", shortcuts)}
        if member == "Start":
            if self._offered not in self.valid_tokens:
                self.asked += 1
            if code == 0:
                new = f"token-{len(self.issued_tokens) + 1}"
                self.issued_tokens.append(new)
                self.valid_tokens = {new}  # single use: the old one is spent
                return 0, {"devices": Variant("u", 1), "restore_token": Variant("s", new)}
            return code, {}
        if member == "SelectDevices":
            restore = options.get("restore_token")
            self._offered = restore.value if restore is not None else ""
        return code, {}
