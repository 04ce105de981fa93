"""The one route table: every path the daemon answers, the scope it needs, and its handler.

A row answers a ``GET`` with a page, takes a WebSocket, or takes an upload (``POST``); the listeners look a
request's path up here once, decide the connection's access once (:mod:`stenod.net.access`) and hand the
handler only what it needs. Handlers receive narrow arguments (the bus, a pipeline factory, a callback), never
the daemon's whole state.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection

from stenod.net.access import PUBLIC, Access
from stenod.net.auth import CONTROL, READ
from stenod.net.http11 import HttpRequest, HttpResponse
from stenod.protocols.captions import captions_page
from stenod.protocols.events import serve_events
from stenod.protocols.listen import serve_listen
from stenod.protocols.openai_realtime import RealtimeSession
from stenod.server.metrics import metrics_text
from stenod.server.state import Counters, DaemonState

Query = dict[str, list[str]]
Page = Callable[[Access], HttpResponse]
Socket = Callable[[ServerConnection, Query, Access], Awaitable[None]]
Upload = Callable[[HttpRequest], Awaitable[HttpResponse]]


@dataclass(frozen=True)
class Route:
    """One path: the scope a connection needs (``PUBLIC``, ``read`` or ``control``) and exactly one handler."""

    scope: str
    page: Page | None = None  # a GET answered with a plain HTTP response
    socket: Socket | None = None  # a WebSocket
    upload: Upload | None = None  # a POST with a body
    query_token: bool = False  # ``?token=`` counts (a page a browser opens by URL); elsewhere only headers do


def route_table(state: DaemonState) -> dict[str, Route]:
    """Every route of the daemon over ``state``."""
    routes = {
        "/health": Route(PUBLIC, page=lambda access: HttpResponse.json(200, state.health(
            private=bool(access.scope or access.same_user)))),
        "/metrics": Route(PUBLIC, page=lambda _access: HttpResponse(200, metrics_text(state).encode(),
                                                                     "text/plain; version=0.0.4")),
        "/captions": Route(PUBLIC, page=functools.partial(_captions, state.authority.read_token), query_token=True),
        "/v1/events": Route(READ, socket=functools.partial(_events, state)),
        "/v1/listen": Route(CONTROL, socket=_counted(state.counters, "listen_streams", functools.partial(
            _listen, state))),
        "/v1/realtime": Route(CONTROL, socket=_counted(state.counters, "realtime_sessions", functools.partial(
            _realtime, state))),
    }
    transcriptions = state.transcriptions
    if transcriptions is not None:
        routes["/v1/models"] = Route(READ, page=lambda _access: transcriptions.models())
        for path in ("/v1/audio/transcriptions", "/v1/audio/translations"):
            routes[path] = Route(CONTROL, upload=transcriptions.transcribe)
    return routes


def _captions(read_token: str, access: Access) -> HttpResponse:
    return captions_page(read_token if access.scope or access.same_user else "")


def _events(state: DaemonState, connection: ServerConnection, query: Query, access: Access) -> Awaitable[None]:
    return serve_events(connection, query, access.scope, bus=state.bus, stream=state.stream, hello=state.hello,
                        control=state.control)


def _listen(state: DaemonState, connection: ServerConnection, query: Query, _access: Access) -> Awaitable[None]:
    return serve_listen(connection, query, new_pipeline=state.new_pipeline, cleaner=state.llm_cleaner,
                        hello=state.hello, history=state.history.sink if state.history else None)


def _realtime(state: DaemonState, connection: ServerConnection, query: Query, _access: Access) -> Awaitable[None]:
    return RealtimeSession(connection, state.new_pipeline, state.model, query, state.languages).run()


def _counted(counters: Counters, name: str, socket: Socket) -> Socket:
    """``socket``, counting its open connections in ``counters.<name>`` (for /metrics)."""

    async def counted(*args: Any) -> None:
        setattr(counters, name, getattr(counters, name) + 1)
        try:
            await socket(*args)
        finally:
            setattr(counters, name, getattr(counters, name) - 1)

    return counted
