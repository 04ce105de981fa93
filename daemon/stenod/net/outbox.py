"""What one streaming client (``/v1/listen``, ``/v1/realtime``) is sent: in order, by one task, with a bound.

A client that sends audio but never reads its events would make them pile up without end; past
``MAX_WAITING`` messages it is closed with 1008 and the rest is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger("stenod.server")
MAX_WAITING = 10_000  # messages; a client that reads keeps this near zero


async def shut_out(connection: Any, reason: str) -> None:
    """Close a misbehaving peer with 1008. If it does not answer the closing handshake (it is flooding us,
    or not reading), the link is cut after a moment."""
    log.warning("closing %s: %s", connection.remote_address or "a local peer", reason)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(connection.close(1008, reason), 1.0)
    connection.transport.abort()


class Outbox:
    """What one streaming client is sent, in order, by one task of its own.

    Create it on the open connection; :meth:`put` each message (it never blocks: the event loop and the
    pipeline never wait for a slow client). At the end of the stream await :meth:`flush` (everything put so
    far is sent), and :meth:`close` it in a ``finally``. Past ``limit`` unsent messages the client is shut out
    with 1008 and the rest is dropped (:attr:`overflowed`).
    """

    def __init__(self, connection: Any, limit: int = MAX_WAITING) -> None:
        self.connection = connection
        self.limit = limit
        self.overflowed = False
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._sender = asyncio.get_running_loop().create_task(self._send_all())
        self._closer: asyncio.Task[None] | None = None

    def put(self, message: str) -> None:
        if self.overflowed:
            return
        if self._queue.qsize() >= self.limit:
            self.overflowed = True
            self._sender.cancel()
            self._closer = asyncio.get_running_loop().create_task(
                shut_out(self.connection, f"more than {self.limit} events unread"))
            return
        self._queue.put_nowait(message)

    async def flush(self) -> None:
        """Wait until everything put so far is sent (or the client was shut out)."""
        if not self.overflowed:
            self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender
        if self._closer is not None:
            await self._closer

    def close(self) -> None:
        self._sender.cancel()

    async def _send_all(self) -> None:
        while (message := await self._queue.get()) is not None:
            await self.connection.send(message)
