"""One port, two protocols: a connection whose first request is a ``GET`` is websockets'; any other method is
answered by the daemon's own HTTP handler.

websockets parses only ``GET`` requests, so each connection waits for the first bytes of its request line
before websockets sees it. A connection that sends no full method within a few seconds is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.server import ServerConnection

OTHER_METHODS = (b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"HEAD")
FIRST_LINE_TIMEOUT_S = 10.0

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


def switching_connection(http: StreamHandler) -> type[ServerConnection]:
    """A websockets connection class (``create_connection=``) that gives non-GET requests to ``http``."""

    class SwitchingConnection(ServerConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head: bytes | None = b""
            self._pending: asyncio.BaseTransport | None = None
            self._timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._pending = transport
            _deciding.add(transport)
            self._timer = asyncio.get_running_loop().call_later(FIRST_LINE_TIMEOUT_S, _abort, transport)

        def data_received(self, data: bytes) -> None:
            if self._head is None:
                super().data_received(data)
                return
            self._head += data
            method, space, _ = self._head.partition(b" ")
            if not space and len(self._head) < 8:
                return  # not enough of the request line to tell
            head, self._head = self._head, None
            transport = self._pending
            assert transport is not None and self._timer is not None
            self._timer.cancel()
            self._pending = None
            _deciding.discard(transport)
            if space and method in OTHER_METHODS:
                _hand_over(transport, head, http)
            else:  # GET, or something websockets will refuse with a proper answer
                super().connection_made(transport)
                super().data_received(head)

        def eof_received(self) -> None:
            if self._head is not None:
                if self._pending is not None:
                    self._pending.close()
                return
            super().eof_received()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head is not None:  # gone before it said anything: nothing was started for it
                if self._timer is not None:
                    self._timer.cancel()
                if self._pending is not None:
                    _deciding.discard(self._pending)
                return
            super().connection_lost(exc)

    return SwitchingConnection


def _hand_over(transport: asyncio.BaseTransport, head: bytes, http: StreamHandler) -> None:
    """Give the transport to asyncio streams for ``http``, with the bytes already read in front."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 16, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    protocol.data_received(head)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)  # type: ignore[arg-type]
    task = loop.create_task(http(reader, writer))
    _running.add(task)
    task.add_done_callback(_running.discard)


_running: set[asyncio.Task[None]] = set()
_deciding: set[asyncio.BaseTransport] = set()


async def stop_http() -> None:
    """Cancel the HTTP requests in progress and drop connections that have not said what they are."""
    for transport in list(_deciding):
        _abort(transport)
    tasks = list(_running)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _abort(transport: asyncio.BaseTransport) -> None:
    """Drop a connection at once (every transport a server hands out can; the base type does not say so)."""
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
    else:
        transport.close()
