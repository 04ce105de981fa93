"""xdg-desktop-portal over D-Bus: calls whose answer comes later as a ``Request.Response`` signal, and signals.

A portal method returns a request object path at once; the answer (or the person's refusal in a dialog)
arrives as ``org.freedesktop.portal.Request.Response(u code, a{sv} results)`` on that path. The path is
known in advance (``/org/freedesktop/portal/desktop/request/SENDER/TOKEN``), so the match is added before
the call and no answer can be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from stenod.errors import StenodError

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
REQUEST = "org.freedesktop.portal.Request"
RESPONSE_TIMEOUT_S = 120.0  # a person may take a while to answer the permission dialog


class PortalError(StenodError):
    """The portal is missing, refused, or answered something unusable (one line)."""


def token() -> str:
    return "stenod_" + secrets.token_hex(6)


class Portal:
    """One connection to the session bus, talking to the desktop portal."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self._handlers: list[Callable[[Message], None]] = []

    @classmethod
    async def connect(cls, address: str | None = None) -> Portal:
        try:
            bus = await MessageBus(bus_address=address, bus_type=BusType.SESSION).connect()
        except Exception as exc:  # no session bus: several exception types, one message
            raise PortalError(f"no D-Bus session bus ({exc or type(exc).__name__})") from None
        return cls(bus)

    def close(self) -> None:
        for handler in self._handlers:
            self.bus.remove_message_handler(handler)
        self.bus.disconnect()

    async def call(self, interface: str, member: str, signature: str = "", body: list[Any] | None = None,
                   path: str = PORTAL_PATH) -> list[Any]:
        reply = await self.bus.call(Message(destination=PORTAL, path=path, interface=interface, member=member,
                                            signature=signature, body=body or []))
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            detail = reply.body[0] if reply.body else ""
            raise PortalError(f"{interface.rsplit('.', 1)[-1]}.{member}: {reply.error_name} {detail}".strip())
        return list(reply.body)

    async def version(self, interface: str) -> int:
        """The portal interface's version, 0 when the portal does not offer it."""
        try:
            body = await self.call("org.freedesktop.DBus.Properties", "Get", "ss", [interface, "version"])
        except PortalError:
            return 0
        value = body[0].value if body and isinstance(body[0], Variant) else 0
        return int(value) if isinstance(value, int) else 0

    async def request(self, interface: str, member: str, signature: str, body: list[Any],
                      options: dict[str, Variant]) -> dict[str, Any]:
        """Call a method whose last argument is the options dict and wait for its ``Response``.

        The results come back with their variants unwrapped. Code 1 (the person said no) and 2 (the
        portal failed) raise :class:`PortalError`.
        """
        handle = token()
        sender = (self.bus.unique_name or "").lstrip(":").replace(".", "_")
        path = f"{PORTAL_PATH}/request/{sender}/{handle}"
        answer: asyncio.Future[tuple[int, dict[str, Any]]] = asyncio.get_running_loop().create_future()

        def on_message(message: Message) -> None:
            if (message.message_type == MessageType.SIGNAL and message.path == path
                    and message.interface == REQUEST and message.member == "Response" and not answer.done()):
                answer.set_result((int(message.body[0]), dict(message.body[1])))

        rule = f"type='signal',interface='{REQUEST}',member='Response',path='{path}'"
        await self._add_match(rule)
        self.bus.add_message_handler(on_message)
        try:
            await self.call(interface, member, signature, [*body, {**options, "handle_token": Variant("s", handle)}])
            code, results = await asyncio.wait_for(answer, RESPONSE_TIMEOUT_S)
        except TimeoutError:
            raise PortalError(f"{member}: no answer from the portal in {RESPONSE_TIMEOUT_S:.0f} s") from None
        finally:
            self.bus.remove_message_handler(on_message)
            with contextlib.suppress(Exception):
                await self._remove_match(rule)
        if code == 1:
            raise PortalError(f"{member}: permission refused (the request was cancelled in the desktop's dialog)")
        if code != 0:
            raise PortalError(f"{member}: the portal could not do it (response {code})")
        return {key: value.value if isinstance(value, Variant) else value for key, value in results.items()}

    async def on_signals(self, interface: str, handler: Callable[[str, list[Any]], None],
                         path: str | None = PORTAL_PATH) -> None:
        """Call ``handler(member, body)`` for every signal of ``interface`` on ``path`` (None: any path)."""

        def on_message(message: Message) -> None:
            if (message.message_type == MessageType.SIGNAL and message.interface == interface
                    and (path is None or message.path == path)):
                handler(message.member or "", list(message.body))

        where = f",path='{path}'" if path else ""
        await self._add_match(f"type='signal',interface='{interface}'{where}")
        self.bus.add_message_handler(on_message)
        self._handlers.append(on_message)

    async def _add_match(self, rule: str) -> None:
        await self._bus_call("AddMatch", rule)

    async def _remove_match(self, rule: str) -> None:
        await self._bus_call("RemoveMatch", rule)

    async def _bus_call(self, member: str, rule: str) -> None:
        await self.bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                    interface="org.freedesktop.DBus", member=member, signature="s", body=[rule]))
