"""``/v1/events``: every event of the microphone's pipeline, after a ``hello``; control messages back.

A subscriber may reconnect with ``?since=SEQ&stream=ID`` to be replayed what it missed (all of the stream when
the daemon restarted since). It may send ``ping`` (answered with ``pong``) and, with the control scope,
``pause``, ``resume`` and ``toggle``. A read-only connection that sends a control message is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection

from stenod.core.events import Error, Hello, Pong
from stenod.live.bus import EventBus
from stenod.net.auth import CONTROL
from stenod.net.flood import FloodLimit
from stenod.net.messages import ClientError, decode_control, decode_events_query
from stenod.net.outbox import shut_out


def error_message(seq: int, code: str, message: str) -> str:
    """An ``error`` event, as sent."""
    return json.dumps(Error(seq=seq, emitted_at=0.0, audio_ms=0, code=code, message=message).to_dict())


async def serve_events(connection: ServerConnection, query: dict[str, list[str]], scope: str, *, bus: EventBus,
                       stream: str, hello: Callable[[], Hello], control: Callable[[str], None]) -> None:
    """Serve one subscriber of ``bus`` (the microphone stream named ``stream``) until it leaves.

    ``hello`` makes its first message; ``control`` is called with ``pause``, ``resume`` or ``toggle``.
    """
    try:
        since, asked_stream = decode_events_query(query)
    except ClientError as exc:
        await connection.close(1008, str(exc))
        return
    if since is not None and (asked_stream or stream) != stream:
        since = 0  # the daemon restarted since the client's last event: all of this stream is new to it
    subscriber = bus.subscribe(since)
    try:
        await connection.send(json.dumps(hello().to_dict()))

        async def send_loop() -> None:
            while (event := await subscriber.next()) is not None:
                await connection.send(json.dumps(event))
            await connection.close(1008, subscriber.dropped[:120])

        sender = asyncio.create_task(send_loop())
        try:
            await _read_controls(connection, bus, scope, control)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    finally:
        bus.unsubscribe(subscriber)


async def _read_controls(connection: ServerConnection, bus: EventBus, scope: str,
                         control: Callable[[str], None]) -> None:
    limit = FloodLimit()
    async for raw in connection:
        if not limit.allow(time.monotonic()):
            if limit.exhausted:
                await shut_out(connection, "too many messages")
                return
            continue  # a flood is not answered
        try:
            kind = decode_control(raw)
        except ClientError as exc:
            await connection.send(error_message(bus.last_seq, exc.code, str(exc)))
            continue
        if kind == "ping":
            await connection.send(json.dumps(Pong(seq=bus.last_seq, emitted_at=0.0, audio_ms=0).to_dict()))
        elif scope != CONTROL:
            await connection.send(error_message(bus.last_seq, "forbidden",
                                                f"{kind!r} needs the control token; this connection has read"))
            await connection.close(1008, "control message on a read-only connection")
            return
        else:
            control(kind)
