"""A desktop notification when dictation pauses or resumes (``audio.notify = true``).

Sent to the freedesktop Notifications service on the session bus (``org.freedesktop.Notifications``), the
one every desktop runs (GNOME Shell, Plasma, mako, dunst, swaync…). Each notification replaces the previous
one, so toggling quickly leaves one bubble. It needs ``dbus-fast`` (``stenod[desktop]``); without it, or
without a session bus or a notification service, the daemon says so once and goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("stenod.notifications")
SERVICE, PATH = "org.freedesktop.Notifications", "/org/freedesktop/Notifications"
SHOWN_MS = 2500
TEXTS = {False: ("Dictation listening", "audio-input-microphone"),
         True: ("Dictation paused", "microphone-sensitivity-muted")}


class PauseNotifier:
    """Call :meth:`changed` with each new pause state; the notification is sent in the background."""

    def __init__(self) -> None:
        self._bus: Any = None
        self._shown = 0  # the id of the bubble to replace
        self._failed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._one_at_a_time: asyncio.Lock | None = None  # each bubble replaces the one before: in order

    def changed(self, paused: bool) -> None:
        task = asyncio.get_running_loop().create_task(self.notify(paused))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def notify(self, paused: bool) -> None:
        self._one_at_a_time = self._one_at_a_time or asyncio.Lock()
        async with self._one_at_a_time:
            await self._notify(paused)

    async def _notify(self, paused: bool) -> None:
        summary, icon = TEXTS[paused]
        try:
            from dbus_fast import Message, MessageType, Variant

            bus = await self._connected()
            reply = await bus.call(Message(
                destination=SERVICE, path=PATH, interface=SERVICE, member="Notify", signature="susssasa{sv}i",
                body=["stenod", self._shown, icon, summary, "", [], {"urgency": Variant("y", 0)}, SHOWN_MS]))
        except ImportError:
            self._say("desktop notifications need dbus-fast: pip install 'stenod[desktop]'")
            return
        except Exception as exc:  # no session bus, or it went away: the dictation goes on
            self.close()
            self._say(f"no desktop notification ({type(exc).__name__}: {exc})")
            return
        if reply.message_type == MessageType.ERROR:  # no notification service on a working bus
            self._say(f"no desktop notification ({reply.error_name}: {' '.join(str(b) for b in reply.body)})")
            return
        self._shown = int(reply.body[0])
        self._failed = False

    async def _connected(self) -> Any:
        if self._bus is None:
            from dbus_fast.aio import MessageBus

            self._bus = await MessageBus().connect()
        return self._bus

    def _say(self, message: str) -> None:
        if not self._failed:
            log.warning("%s", message)
        self._failed = True

    def close(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None
