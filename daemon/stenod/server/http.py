"""The other side of a listener: requests that are not ``GET`` (``POST /v1/audio/transcriptions``), with h11.

Path, access and admission are checked on the request's head, before its body is read, so a stranger cannot
make the daemon hold an upload. ``MAX_RUNNING`` uploads are handled at once and as many more wait (their bodies
held); beyond that the answer is 429.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from stenod.net.access import Gate, Head
from stenod.net.http11 import HttpRequest, HttpResponse, serve_one
from stenod.net.shared_port import StreamHandler
from stenod.protocols.openai_rest import error_response
from stenod.server.routes import Route

log = logging.getLogger("stenod.server")
MAX_RUNNING = 2  # file transcriptions at once; as many more wait, and more than that are answered 429
ERROR_CODES = {401: "invalid_api_key", 403: "forbidden"}


def http_handler(gate: Gate, routes: dict[str, Route], max_body: int) -> StreamHandler:
    """The handler the shared port gives each non-``GET`` connection to."""
    running = asyncio.Semaphore(MAX_RUNNING)
    admitted = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal admitted
        counted = False  # this connection's request holds a place until it is answered
        route: Route | None = None

        async def check(request: HttpRequest) -> HttpResponse | None:
            nonlocal admitted, counted, route
            route = routes.get(urlsplit(request.target).path)
            refused = refusal(gate, request, route)
            if refused is not None:
                return refused
            if admitted >= 2 * MAX_RUNNING:
                return error_response(429, f"{admitted} transcriptions are already running or waiting; try "
                                      "again shortly", kind="rate_limit_error", code="busy")
            admitted, counted = admitted + 1, True
            return None

        async def app(request: HttpRequest) -> HttpResponse:
            assert route is not None and route.upload is not None
            async with running:
                return await route.upload(request)

        try:
            await serve_one(reader, writer, app, max_body, error_response, check)
        finally:
            if counted:
                admitted -= 1

    return serve


def refusal(gate: Gate, request: HttpRequest, route: Route | None) -> HttpResponse | None:
    """The answer to a request that may not go on to its route; None when it may."""
    path = urlsplit(request.target).path
    access = gate.decide(Head(request.header_values, None, request.transport))
    if access.refusal:
        log.warning("refused an HTTP request: %s", access.refusal)
        return error_response(403, access.refusal, code="forbidden")
    if route is None or route.upload is None or request.method != "POST":
        return error_response(404, f"no {request.method} {path} here: try POST /v1/audio/transcriptions",
                              code="not_found")
    needed = access.needs(route.scope, path)
    if needed is None:
        return None
    response = error_response(needed[0], needed[1], code=ERROR_CODES[needed[0]])
    if needed[0] == 401:
        response.headers.append(("WWW-Authenticate", 'Bearer realm="stenod"'))
    return response
