"""One port, two protocols (``stenod.net.shared_port``): websockets gets the GETs, the HTTP handler the rest.

A websockets server on loopback with ``switching_connection`` as its connection class, an echo WebSocket
handler and a small HTTP handler, and no daemon or model behind them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from stenod.net import shared_port
from stenod.net.http11 import HttpRequest, HttpResponse, serve_one
from stenod.net.shared_port import switching_connection


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(f"echo {message}")


def _http_app(seen: list[HttpRequest]) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def app(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse(201, b"posted " + request.body)

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_one(reader, writer, app, 1 << 20, lambda status, message: HttpResponse(status, message.encode()))

    return http


@asynccontextmanager
async def shared(http: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
                 ) -> AsyncIterator[int]:
    """The shared port; yields its number."""
    async with serve(_echo, "127.0.0.1", 0, create_connection=switching_connection(http)) as server:
        yield next(iter(server.sockets)).getsockname()[1]


async def _raw(port: int, *pieces: bytes, eof: bool = True) -> bytes:
    """Send ``pieces`` (a pause between them), end the sending side (unless ``eof`` is False) and read until the
    server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.05)  # separate TCP segments: the server must not decide on a partial method
        if eof:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def test_a_websocket_and_a_post_share_one_port() -> None:
    seen: list[HttpRequest] = []

    async def run() -> tuple[str, bytes]:
        async with shared(_http_app(seen)) as port:
            async with connect(f"ws://127.0.0.1:{port}/v1/events") as ws:
                await ws.send("hi")
                echoed = await asyncio.wait_for(ws.recv(), 10)
            posted = await _raw(port, b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                                      b"\r\nwave")
        return str(echoed), posted

    echoed, posted = asyncio.run(run())
    assert echoed == "echo hi"
    assert posted.startswith(b"HTTP/1.1 201 ") and posted.endswith(b"posted wave")
    assert [(r.method, r.target, r.body) for r in seen] == [("POST", "/v1/audio/transcriptions", b"wave")]


@pytest.mark.parametrize("method", [b"PUT", b"PATCH", b"DELETE", b"OPTIONS"])
def test_every_method_but_get_goes_to_the_http_handler(method: bytes) -> None:
    seen: list[HttpRequest] = []

    async def run() -> bytes:
        async with shared(_http_app(seen)) as port:
            return await _raw(port, method + b" /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")

    assert asyncio.run(run()).startswith(b"HTTP/1.1 201 ") and seen[0].method == method.decode()


def test_a_method_split_across_packets_is_still_recognised() -> None:
    seen: list[HttpRequest] = []

    async def run() -> bytes:
        async with shared(_http_app(seen)) as port:
            return await _raw(port, b"PO", b"ST / HTTP/1.1\r\nHost: a\r\n", b"Content-Length: 2\r\n\r\nok")

    assert asyncio.run(run()).startswith(b"HTTP/1.1 201 ") and seen[0].body == b"ok"


def test_a_plain_get_is_answered_by_websockets_not_the_http_handler() -> None:
    seen: list[HttpRequest] = []

    async def run() -> bytes:
        async with shared(_http_app(seen)) as port:
            return await _raw(port, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")

    answer = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 426 ") and not seen  # websockets: Upgrade Required


def test_an_unknown_method_is_refused_by_websockets() -> None:
    seen: list[HttpRequest] = []

    async def run() -> bytes:
        async with shared(_http_app(seen)) as port:
            return await _raw(port, b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n")

    assert asyncio.run(run()).startswith(b"HTTP/1.1 405 ") and not seen


def test_garbage_never_reaches_the_http_handler_and_is_hung_up_on() -> None:
    seen: list[HttpRequest] = []

    async def run() -> bytes:
        async with shared(_http_app(seen)) as port:
            return await _raw(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40)  # a TLS hello

    assert asyncio.run(run()) == b"" and not seen


def test_a_connection_that_says_nothing_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_port, "FIRST_LINE_TIMEOUT_S", 0.3)

    async def run() -> bytes:
        async with shared(_http_app([])) as port:
            return await _raw(port, eof=False)  # connects, sends nothing, stays

    assert asyncio.run(run()) == b""


def test_stop_http_cuts_off_requests_in_progress_and_undecided_connections() -> None:
    async def run() -> tuple[bool, bytes]:
        began = asyncio.Event()
        cancelled = False

        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal cancelled
            began.set()
            try:
                await asyncio.sleep(3600)  # a transcription that would take an hour
            except asyncio.CancelledError:
                cancelled = True
                writer.close()
                raise

        async with shared(slow) as port:
            busy = asyncio.create_task(_raw(port, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                                            eof=False))
            quiet = socket.create_connection(("127.0.0.1", port))  # connected, has not said what it is
            quiet.setblocking(False)
            await asyncio.wait_for(began.wait(), 10)
            for _ in range(1000):  # until the server has accepted the quiet one too
                if shared_port._deciding:
                    break
                await asyncio.sleep(0.01)
            assert shared_port._deciding, "the quiet connection was never accepted"
            await shared_port.stop_http()
            answer = await asyncio.wait_for(busy, 10)
            loop = asyncio.get_running_loop()
            try:
                left = await asyncio.wait_for(loop.sock_recv(quiet, 100), 10)
            except ConnectionResetError:
                left = b""
            quiet.close()
        return cancelled, answer + left

    cancelled, leftovers = asyncio.run(run())
    assert cancelled and leftovers == b""
