"""Plain HTTP/1.1 requests (``stenod.net.http11.serve_one``) on a loopback socket, with no daemon and no model.

Each test sends raw bytes, exactly as a client (or an attacker) would, and reads the whole answer: framing by
Content-Length and chunks, the limits on the head and the body, and what a malformed request is told.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import h11
import pytest

from stenod.net import http11
from stenod.net.http11 import HttpRequest, HttpResponse, serve_one

MAX_BODY = 1000


class Answer:
    """One HTTP response, parsed back with h11."""

    def __init__(self, raw: bytes) -> None:
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))  # for h11's state only
        conn.send(h11.EndOfMessage())
        conn.receive_data(raw)
        conn.receive_data(b"")
        self.informational: list[int] = []
        self.body = b""
        while True:
            event = conn.next_event()
            if isinstance(event, h11.InformationalResponse):
                self.informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                self.status = event.status_code
                self.headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                self.body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise AssertionError(f"the answer ended early: {event!r} after {raw!r}")


def _error(status: int, message: str) -> HttpResponse:
    return HttpResponse.json(status, {"error": {"message": message}})


async def _exchange(raw: list[bytes], app=None, check=None, max_body: int = MAX_BODY, eof: bool = True
                    ) -> tuple[Answer, list]:
    """Serve one connection on loopback; send the pieces of ``raw`` (then end the sending side, unless ``eof``
    is False) and read the answer until the server closes. Returns the answer and the requests the app saw."""
    seen: list[HttpRequest] = []

    async def echo(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse(200, request.body, "application/octet-stream", [("X-Method", request.method)])

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_one(reader, writer, app or echo, max_body, _error, check)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        for piece in raw:
            writer.write(piece)
            await writer.drain()
        if eof:
            writer.write_eof()  # all sent: the server need not wait for more before it closes
        answer = await asyncio.wait_for(reader.read(), 10)  # until the server closes: one request per connection
        writer.close()
    return Answer(answer), seen


def exchange(*raw: bytes, **kwargs) -> tuple[Answer, list]:
    return asyncio.run(_exchange(list(raw), **kwargs))


def test_a_request_with_a_length_reaches_the_app_and_the_answer_closes_the_connection() -> None:
    answer, seen = exchange(b"POST /v1/x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Two: 1\r\nx-two: 2\r\n\r\n"
                            b"hello")
    request, = seen
    assert (request.method, request.target, request.body) == ("POST", "/v1/x?y=1", b"hello")
    assert request.header("host") == "a" and request.header_values("x-two") == ["1", "2"]
    assert request.header("x-two") is None  # a repeated header is no single value
    assert answer.status == 200 and answer.body == b"hello"
    assert answer.headers["content-length"] == "5" and answer.headers["connection"] == "close"
    assert answer.headers["cache-control"] == "no-store" and answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-method"] == "POST"


def test_a_chunked_body_is_joined_whatever_the_pieces() -> None:
    answer, seen = exchange(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                            b"lo\r\n1;ext=1\r\n \r\n", b"3\r\nyou\r\n0\r\n\r\n")
    assert answer.status == 200 and seen[0].body == b"hello you"


@pytest.mark.parametrize("head", [
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",  # conflicting lengths
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",  # HTTP/1.1 without Host
    b"POST / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # not a chunk size
    b"POST /\r\n\r\n",  # no version
    b"POST / HTTP/1.x\r\nHost: a\r\n\r\n",  # bad versions
    b"POST / HTTP/11.1\r\nHost: a\r\n\r\n",
    b"POST / FTP/1.1\r\nHost: a\r\n\r\n",
])
def test_a_malformed_request_is_a_400_and_never_reaches_the_app(head: bytes) -> None:
    answer, seen = exchange(head)
    assert answer.status == 400 and not seen
    assert answer.body.startswith(b'{"error": {"message": "malformed HTTP request')


def test_with_both_a_length_and_chunks_the_chunks_frame_the_body() -> None:
    # RFC 9112 6.3: Transfer-Encoding overrides Content-Length; one request per connection, so nothing the
    # length would have framed differently can be smuggled into a second request.
    answer, seen = exchange(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"5\r\nhello\r\n0\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n")
    assert answer.status == 200 and [r.body for r in seen] == [b"hello"]


def test_a_transfer_coding_other_than_chunked_is_not_implemented() -> None:
    answer, seen = exchange(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n")
    assert answer.status == 501 and not seen


def test_http_1_0_is_served() -> None:
    answer, seen = exchange(b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nok")
    assert answer.status == 200 and seen[0].body == b"ok"


def test_a_head_over_the_limit_is_refused_with_431() -> None:
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    head = b"POST / HTTP/1.1\r\nHost: a\r\n" + filler * (http11.HEAD_LIMIT // len(filler) + 2)
    answer, seen = exchange(head)  # never finished: the limit is reached first
    assert answer.status == 431 and not seen


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read() -> None:
    answer, seen = exchange(f"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode())
    assert answer.status == 413 and not seen
    assert f"{MAX_BODY + 1} bytes; the limit is {MAX_BODY}".encode() in answer.body


def test_a_chunked_body_that_grows_over_the_limit_is_refused() -> None:
    chunk = b"%x\r\n%s\r\n" % (600, b"a" * 600)
    answer, seen = exchange(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", chunk, chunk,
                            b"0\r\n\r\n")
    assert answer.status == 413 and not seen
    assert b"over the limit of 1000 bytes" in answer.body


def test_the_check_answers_before_the_body_is_read() -> None:
    async def refuse(request: HttpRequest) -> HttpResponse | None:
        assert request.body == b""  # seen before its body
        return _error(401, "no token") if request.header("authorization") is None else None

    answer, seen = exchange(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 900\r\n\r\n" + b"a" * 900, check=refuse)
    assert answer.status == 401 and b"no token" in answer.body and not seen
    answer, seen = exchange(b"POST / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n\r\nok",
                            check=refuse)
    assert answer.status == 200 and seen[0].body == b"ok"


def test_expect_100_continue_is_invited_once_the_check_passed() -> None:
    async def allow(request: HttpRequest) -> HttpResponse | None:
        return None

    async def run() -> tuple[bytes, bytes]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await serve_one(reader, writer, _app_echo, MAX_BODY, _error, allow)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
            writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)  # before the body is sent
            writer.write(b"ok")
            writer.write_eof()
            rest = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        return interim, rest

    interim, rest = asyncio.run(run())
    assert interim.startswith(b"HTTP/1.1 100 ")
    answer = Answer(rest)
    assert answer.status == 200 and answer.body == b"ok"


async def _app_echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, request.body)


def test_an_app_that_fails_is_a_500_without_its_details() -> None:
    async def broken(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("secret internals")

    answer, _ = exchange(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", app=broken)
    assert answer.status == 500 and b"secret" not in answer.body


def test_a_streamed_answer_is_sent_in_chunks() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"one ", b"two ", b"three"):
            yield piece

    async def stream(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, b"zero ", "text/plain", stream=pieces())

    answer, _ = exchange(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", app=stream)
    assert answer.status == 200 and answer.body == b"zero one two three"
    assert answer.headers["transfer-encoding"] == "chunked" and "content-length" not in answer.headers


def test_a_request_cut_off_before_its_end_never_reaches_the_app() -> None:
    async def run() -> tuple[bytes, list]:
        seen: list[HttpRequest] = []

        async def app(request: HttpRequest) -> HttpResponse:
            seen.append(request)
            return HttpResponse(200)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await serve_one(reader, writer, app, MAX_BODY, _error)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
            writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
            writer.write_eof()  # the client is gone half-way through its body
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        return answer, seen

    answer, seen = asyncio.run(run())
    assert not seen and Answer(answer).status == 400


def test_a_head_that_never_comes_is_a_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http11, "READ_TIMEOUT_S", 0.2)
    monkeypatch.setattr(http11, "DISCARD_S", 0.2)  # how long the server then waits for the client to finish
    answer, seen = exchange(b"POST / HTTP/1.1\r\nHost: a\r\n", eof=False)  # and then nothing, the line open
    assert answer.status == 408 and not seen
