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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h11

log = logging.getLogger("stenod.net.http11")
HEAD_LIMIT = 64 * 1024
READ_TIMEOUT_S = 30.0  # for the head, and between two pieces of the body
REQUEST_TIMEOUT_S = 300.0  # for the whole request: a body trickled in forever is cut off
WRITE_TIMEOUT_S = 30.0  # for the answer to leave: a client that does not read is cut off
DISCARD_S = 2.0  # how long the rest of a refused upload is read and dropped


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
    stream: AsyncIterator[bytes] | None = None  # sent chunk by chunk after ``body`` (no Content-Length)

    @classmethod
    def json(cls, status: int, value: Any) -> HttpResponse:
        return cls(status, json.dumps(value, ensure_ascii=False).encode() + b"\n", "application/json")


App = Callable[[HttpRequest], Awaitable[HttpResponse]]
Check = Callable[[HttpRequest], Awaitable[HttpResponse | None]]  # an answer refuses the request before its body


class RequestTooLarge(Exception):
    pass


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await asyncio.wait_for(reader.read(65536), READ_TIMEOUT_S)
        conn.receive_data(data)


async def _read_head(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request:
    head = await _next_event(conn, reader)
    if not isinstance(head, h11.Request):
        raise h11.RemoteProtocolError("expected a request")
    return head


async def _read_body(conn: h11.Connection, head: h11.Request, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, max_body: int) -> bytes:
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
            return bytes(body)
        else:
            raise h11.RemoteProtocolError("the connection ended inside the request")


async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, response: HttpResponse) -> None:
    length = [] if response.stream is not None else [("Content-Length", str(len(response.body)))]
    headers = [("Content-Type", response.content_type), *length, ("Connection", "close"),
               ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"), *response.headers]
    writer.write(conn.send(h11.Response(status_code=response.status, headers=headers)))
    if response.body:
        writer.write(conn.send(h11.Data(data=response.body)))
    if response.stream is not None:
        async for chunk in response.stream:
            writer.write(conn.send(h11.Data(data=chunk)))
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT_S)
    writer.write(conn.send(h11.EndOfMessage()))


async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, app: App, max_body: int,
                    error: Callable[[int, str], HttpResponse], check: Check | None = None) -> None:
    """Read one request, answer it with ``app`` (or with ``error(status, message)``) and close.

    ``check`` sees the request with an empty body first; an answer from it is sent before the body is read
    (or a ``100 Continue`` invites it), so an unauthorised client cannot make the server hold an upload.
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=HEAD_LIMIT)
    try:
        response = await _answer(conn, reader, writer, app, max_body, error, check)
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            await _send(conn, writer, response)
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT_S)
            if conn.their_state is not h11.DONE:
                await _discard(reader)  # a client still sending would see a reset instead of the answer
    except (TimeoutError, ConnectionError, h11.LocalProtocolError):
        writer.transport.abort()
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), WRITE_TIMEOUT_S)
        except TimeoutError:
            writer.transport.abort()
        except Exception:  # the peer reset the connection: it is closed all the same
            pass


async def _answer(conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, app: App,
                  max_body: int, error: Callable[[int, str], HttpResponse], check: Check | None) -> HttpResponse:
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            head = await _read_head(conn, reader)
            headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in head.headers]
            request = HttpRequest(head.method.decode("ascii", "replace"), head.target.decode("ascii", "replace"),
                                  headers, b"", writer.transport)
            refusal = await check(request) if check is not None else None
            if refusal is not None:
                return refusal
            request.body = await _read_body(conn, head, reader, writer, max_body)
    except RequestTooLarge as exc:
        return error(413, str(exc))
    except TimeoutError:
        return error(408, "the request was too slow to arrive")
    except h11.RemoteProtocolError as exc:
        return error(exc.error_status_hint, f"malformed HTTP request: {exc}")
    try:
        return await app(request)
    except Exception:
        log.exception("%s %s failed", request.method, request.target)
        return error(500, "internal error (see the daemon's log)")


async def _discard(reader: asyncio.StreamReader) -> None:
    """Read and drop what the client is still sending, for a moment, so that it gets to read the answer."""
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(DISCARD_S):
            while await reader.read(1 << 16):
                pass
