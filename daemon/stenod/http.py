"""Plain HTTP/1.1 requests on the daemon's port, beside the WebSockets: one request per connection, parsed by h11.

WebSocket upgrades and other ``GET`` requests go to websockets; a connection that starts with another method
(``POST /v1/audio/transcriptions``) is handed to :func:`serve_one`. The request body is read whole, up to a
cap that is checked against ``Content-Length`` before any of it is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h11

log = logging.getLogger("stenod.http")
HEAD_LIMIT = 64 * 1024
READ_TIMEOUT_S = 30.0  # for the head, and between two pieces of the body
REQUEST_TIMEOUT_S = 300.0  # for the whole request: a body trickled in forever is cut off


@dataclass
class HttpRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]  # names in lower case, in the order sent
    body: bytes
    transport: asyncio.BaseTransport  # for the peer's address and credentials

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if len(values) == 1 else None


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, value: Any) -> HttpResponse:
        return cls(status, json.dumps(value, ensure_ascii=False).encode() + b"\n", "application/json")


App = Callable[[HttpRequest], Awaitable[HttpResponse]]


class RequestTooLarge(Exception):
    pass


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await asyncio.wait_for(reader.read(65536), READ_TIMEOUT_S)
        conn.receive_data(data)


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        max_body: int) -> tuple[h11.Request, bytes]:
    head = await _next_event(conn, reader)
    if not isinstance(head, h11.Request):
        raise h11.RemoteProtocolError("expected a request")
    length = next((int(v) for k, v in head.headers if k == b"content-length" and v.isdigit()), None)
    if length is not None and length > max_body:
        raise RequestTooLarge(f"the request body is {length} bytes; the limit is {max_body}")
    if conn.they_are_waiting_for_100_continue:
        writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
    body = bytearray()
    while True:
        event = await _next_event(conn, reader)
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) > max_body:
                raise RequestTooLarge(f"the request body is over the limit of {max_body} bytes")
        elif isinstance(event, h11.EndOfMessage):
            return head, bytes(body)
        else:
            raise h11.RemoteProtocolError("the connection ended inside the request")


def _send(conn: h11.Connection, writer: asyncio.StreamWriter, response: HttpResponse) -> None:
    headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))),
               ("Connection", "close"), ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
               *response.headers]
    writer.write(conn.send(h11.Response(status_code=response.status, headers=headers)))
    writer.write(conn.send(h11.Data(data=response.body)))
    writer.write(conn.send(h11.EndOfMessage()))


async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, app: App, max_body: int,
                    error: Callable[[int, str], HttpResponse]) -> None:
    """Read one request, answer it with ``app`` (or with ``error(status, message)``) and close."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=HEAD_LIMIT)
    try:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                head, body = await _read_request(conn, reader, writer, max_body)
        except RequestTooLarge as exc:
            response = error(413, str(exc))
        except TimeoutError:
            response = error(408, "the request was too slow to arrive")
        except h11.RemoteProtocolError as exc:
            response = error(exc.error_status_hint, f"malformed HTTP request: {exc}")
        else:
            headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in head.headers]
            request = HttpRequest(head.method.decode("ascii", "replace"), head.target.decode("ascii", "replace"),
                                  headers, body, writer.transport)
            try:
                response = await app(request)
            except Exception:
                log.exception("%s %s failed", request.method, request.target)
                response = error(500, "internal error (see the daemon's log)")
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            _send(conn, writer, response)
            await writer.drain()
    except (TimeoutError, ConnectionError, h11.LocalProtocolError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
