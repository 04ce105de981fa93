"""A subscriber's connection to the daemon: find it, follow its events, and survive its restarts.

Only the documented WebSocket protocol is used. After a dropped connection the subscription reconnects
with exponential backoff and resumes with ``since`` (the last ``seq`` it saw) and ``stream`` (the stream
that ``seq`` belongs to), so no event is lost while the daemon keeps it in its replay ring and none is
delivered twice. When the daemon restarted meanwhile, its new stream is replayed from the start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from stenod.core.events import Event, Hello, ProtocolError
from stenod.errors import StenodError
from stenod.net.addresses import ADDRESS_FORMS, host_port, split_address

log = logging.getLogger("stenod.clients")
DEFAULT_URL = "ws://127.0.0.1:7767"
NEXT_STEP = "is it running? systemctl --user status stenod, or stenod status"


def daemon_url() -> str:
    """Where the daemon is: ``$STENOD_URL``, else its Unix socket if it has one, else its TCP address."""
    if os.environ.get("STENOD_URL"):
        return os.environ["STENOD_URL"]
    from stenod.config import ConfigError, load
    from stenod.paths import runtime_dir

    try:
        config = load()
    except ConfigError as exc:
        log.warning("%s; trying %s", exc, DEFAULT_URL)
        return DEFAULT_URL
    socket_path = runtime_dir() / "stenod.sock"
    if config.server.unix_socket and socket_path.exists():
        return f"unix://{socket_path}"  # the socket's mode keeps other users out; no token needed
    host, port = config.host_port
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"ws://{'[' + host + ']' if ':' in host else host}:{port}"


def daemon_token() -> str:
    """The token to show the daemon: ``$STENOD_TOKEN``, else the one it keeps in the runtime directory.

    Over the Unix socket none is needed; over TCP every connection needs one.
    """
    if os.environ.get("STENOD_TOKEN"):
        return os.environ["STENOD_TOKEN"].strip()
    from stenod.paths import runtime_dir

    try:
        return (runtime_dir() / "token").read_text().strip()
    except OSError:
        return ""


def check_url(url: str) -> str:
    """The daemon's address as a URL to connect to: the one address syntax (``HOST:PORT``, ``tcp://`` or
    ``ws://HOST:PORT``, ``unix:///PATH``) or ``wss://…``; StenodError for anything else."""
    if url.startswith("wss://"):
        try:
            parts = urlsplit(url)
            if parts.hostname and (parts.port is None or parts.port > 0):
                return url
        except ValueError:  # a port that is no number, or out of range
            pass
        raise StenodError(f"{url!r} is not the daemon's address: expected {ADDRESS_FORMS}")
    try:
        where = split_address(url)
    except ValueError as exc:
        raise StenodError(f"not the daemon's address: {exc}") from None
    return f"unix://{where}" if isinstance(where, str) else f"ws://{host_port(*where)}"


async def open_connection(url: str, path: str, query: dict[str, Any] | None = None,
                          token: str | None = None) -> ClientConnection:
    """Open ``path`` (with ``query``) on the daemon at ``url`` (``ws://host:port`` or ``unix:///path.sock``)."""
    target = path + (f"?{urlencode(query)}" if query else "")
    parts = urlsplit(url)
    options: dict[str, Any] = {"compression": None, "max_size": 2**22, "open_timeout": 5}
    token = daemon_token() if token is None else token
    if token and parts.scheme != "unix":
        options["additional_headers"] = {"Authorization": f"Bearer {token}"}
    if parts.scheme == "unix":
        return await unix_connect(parts.path, uri=f"ws://localhost{target}", **options)
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(url, "the daemon's address must start with ws://, wss:// or unix://")
    return await connect(f"{parts.scheme}://{parts.netloc}{target}", **options)


@dataclass
class Backoff:
    """Exponential backoff with jitter, from ``first`` seconds up to ``most``."""

    first: float = 0.25
    most: float = 5.0
    _next: float = 0.0

    def delay(self) -> float:
        self._next = min(self.most, self._next * 2 if self._next else self.first)
        return self._next * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = 0.0


class Subscription:
    """The daemon's event stream as an async iterator of events, across reconnections.

    ``hello`` is yielded after every (re)connection, so a client can show the daemon's state; every other
    event is yielded once, in ``seq`` order. ``on_status`` hears about connection changes, for logging.
    With ``since``, the first connection also replays the events after that ``seq`` still in the daemon's
    replay ring (``since=0``: all of them); by default it starts with the events to come.
    """

    def __init__(self, url: str | None = None, *, on_status: Callable[[str], None] | None = None,
                 backoff: Backoff | None = None, since: int | None = None, token: str | None = None) -> None:
        self.url = check_url(url or daemon_url())
        self.token = token  # None: found afresh at each connection (see daemon_token)
        self.on_status = on_status or (lambda message: log.info("%s", message))
        self.backoff = backoff or Backoff()
        self.stream = ""
        self.last_seq: int | None = since
        self.connection: ClientConnection | None = None
        self._told = False  # the next step was said once in this outage; the retries that follow say less

    async def send(self, message: dict[str, Any]) -> bool:
        """Send a control message (``pause``, ``resume``, ``toggle``, ``ping``); False while disconnected."""
        if self.connection is None:
            return False
        try:
            await self.connection.send(json.dumps(message))
        except ConnectionClosed:
            return False
        return True

    def _query(self) -> dict[str, Any]:
        if self.last_seq is None:
            return {}
        return {"since": self.last_seq, **({"stream": self.stream} if self.stream else {})}

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            try:
                self.connection = await open_connection(self.url, "/v1/events", self._query(), self.token)
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                await self._wait(f"cannot reach the daemon at {self.url} ({failure_reason(exc)})" if self._told
                                 else unreachable(self.url, exc))
                self._told = True
                continue
            self._told = False
            try:
                async for raw in self.connection:
                    event = _parse(raw)
                    if event is None:
                        continue
                    if isinstance(event, Hello):
                        if event.stream != self.stream:
                            self.stream, self.last_seq = event.stream, event.seq if self.last_seq is None else 0
                        self.on_status(f"connected to {self.url} ({event.server}, {event.model}, {event.state})")
                        yield event
                    elif event.type in ("pong", "error"):
                        yield event
                    elif self.last_seq is None or event.seq > self.last_seq:
                        self.backoff.reset()  # a connection that delivers, not one closed after its hello
                        self.last_seq = event.seq
                        yield event
                reason = self.connection.close_reason or "closed"
            except ConnectionClosed as exc:
                reason = (exc.rcvd.reason if exc.rcvd else "") or "connection lost"
            finally:
                self.connection = None
            await self._wait(f"disconnected from the daemon: {reason}")

    async def _wait(self, message: str) -> None:
        delay = self.backoff.delay()
        self.on_status(f"{message}; retrying in {delay:.1f} s")
        await asyncio.sleep(delay)


def _parse(raw: str | bytes) -> Event | None:
    try:
        return Event.from_dict(json.loads(raw))
    except (ValueError, ProtocolError) as exc:  # a newer daemon's event, or garbage: not ours to act on
        log.debug("ignored a message: %s", exc)
        return None


def unreachable(url: str, exc: BaseException) -> str:
    """The one line for a daemon that does not answer at ``url``: why, and what to do next."""
    return f"cannot reach the daemon at {url} ({failure_reason(exc)}; {NEXT_STEP})"


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, socket.gaierror) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)  # asyncio's own strerror repeats the address
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


async def control(kind: str, url: str | None = None, timeout: float = 5.0) -> str:
    """Send one control message and return the daemon's state afterwards (``listening``, ``paused``).

    A ``release`` is answered once the daemon has paused (after its release tail), or after 2.5 s.
    """
    url = check_url(url or daemon_url())

    async def exchange() -> str:
        async with await open_connection(url, "/v1/events") as connection:
            hello = _parse(await connection.recv())
            if not isinstance(hello, Hello):
                raise ProtocolError("the daemon did not say hello")
            state, pongs = hello.state, 0
            patience = 50 if kind == "release" else 1 if kind not in ("ping", "end_utterance") else 0
            await connection.send(json.dumps({"type": kind}))
            await connection.send(json.dumps({"type": "ping"}))
            async for raw in connection:
                event = _parse(raw)
                if event is None:
                    continue
                if event.type == "status":
                    state = getattr(event, "state", state)
                elif event.type == "error":
                    raise ProtocolError(getattr(event, "message", "error"))
                elif event.type == "pong":
                    settled = state == "paused" if kind == "release" else state != hello.state
                    if pongs >= patience or settled:
                        return state
                    pongs += 1  # the status event may still be on its way after the pong
                    await asyncio.sleep(0.05)
                    await connection.send(json.dumps({"type": "ping"}))
            return state

    return await asyncio.wait_for(exchange(), timeout)
