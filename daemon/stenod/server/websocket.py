"""The ``GET`` side of a listener, in websockets' terms: pages answered at once, WebSockets handed to their route.

websockets calls ``process_request`` with each request's head: it looks the path up in the route table, decides
the connection's access, and answers pages, refusals and unknown paths itself. For a WebSocket it remembers
the route, the query and the access, and websockets then calls ``handler`` with the open connection.
"""

from __future__ import annotations

import contextlib
import http
import logging
import weakref
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from stenod.net.access import Access, Gate, Head
from stenod.net.http11 import HttpResponse
from stenod.server.routes import Query, Route

log = logging.getLogger("stenod.server")
NOT_FOUND = "not found: try /captions, /v1/events, /v1/listen, /v1/realtime, /health\n"

ProcessRequest = Callable[[ServerConnection, Request], Awaitable[Response | None]]
Handler = Callable[[ServerConnection], Awaitable[None]]


def websocket_handlers(gate: Gate, routes: dict[str, Route]) -> tuple[ProcessRequest, Handler]:
    """``process_request`` and ``handler`` for ``websockets.serve`` over ``routes``."""
    decided: weakref.WeakKeyDictionary[ServerConnection, tuple[Route, Query, Access]] = weakref.WeakKeyDictionary()

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        route = routes.get(url.path)
        query = parse_qs(url.query)
        token = None  # ``?token=`` counts only on a route that takes one (URLs end up in logs and histories)
        if route is not None and route.query_token:
            token = query.get("token", [""])[0] or None
        access = gate.decide(Head(lambda name: request.headers.get_all(name), token, connection.transport))
        if access.refusal:
            return refuse(connection, http.HTTPStatus.FORBIDDEN, access.refusal)
        if route is None or (route.page is None and route.socket is None):
            return connection.respond(http.HTTPStatus.NOT_FOUND, NOT_FOUND)
        needed = access.needs(route.scope, url.path)
        if needed is not None:
            return refuse(connection, http.HTTPStatus(needed[0]), needed[1])
        if route.page is not None:
            return as_response(connection, route.page(access))
        decided[connection] = (route, query, access)
        return None

    async def handler(connection: ServerConnection) -> None:
        route, query, access = decided.pop(connection)
        assert route.socket is not None
        with contextlib.suppress(ConnectionClosed):  # the client left: nothing more to do for it
            await route.socket(connection, query, access)

    return process_request, handler


def refuse(connection: ServerConnection, status: http.HTTPStatus, reason: str) -> Response:
    log.warning("refused %s: %s", connection.remote_address or "a local peer", reason)
    response = connection.respond(status, f"{reason}\n")
    if status == http.HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Bearer realm="stenod"'
    return response


def as_response(connection: ServerConnection, answer: HttpResponse) -> Response:
    """A plain HTTP answer to a GET, in websockets' terms (its ``respond`` takes text only)."""
    response = connection.respond(http.HTTPStatus(answer.status), "")
    response.body = answer.body
    del response.headers["Content-Length"], response.headers["Content-Type"]
    response.headers["Content-Length"] = str(len(answer.body))
    response.headers["Content-Type"] = answer.content_type
    for name, value in answer.headers:
        response.headers[name] = value
    return response
