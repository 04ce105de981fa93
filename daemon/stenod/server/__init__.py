"""The WebSocket server: ``/v1/events`` (subscribers), ``/v1/listen`` (remote audio), ``/health``, ``/metrics``.

Browsers may open WebSockets to localhost from any page, so ``Origin`` is checked (native clients send
none; browser origins must be the daemon's own or configured; ``null`` is refused) and ``Host`` must be a
loopback name, against DNS rebinding.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import soxr
from websockets.asyncio.server import Server, ServerConnection, serve, unix_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from stenod import __version__
from stenod.config import Config
from stenod.core.events import PROTOCOL_VERSION, Error, Event, Hello, Pong
from stenod.errors import StenodError
from stenod.live.bus import EventBus
from stenod.live.cleanup_stage import with_llm_cleanup
from stenod.live.decoder import DecodeService
from stenod.live.llm import LlmCleaner
from stenod.live.pipeline import LivePipeline
from stenod.net.auth import (
    CONTROL,
    SUBPROTOCOL,
    Authority,
    loopback_peer_uid,
    presented_token,
    private_dir,
    unix_peer_uid,
)
from stenod.net.http11 import HttpRequest, HttpResponse, serve_one
from stenod.net.messages import (
    Audio,
    ClientError,
    FloodLimit,
    decode_control,
    decode_events_query,
    decode_listen,
    decode_listen_query,
)
from stenod.net.outbox import Outbox, shut_out
from stenod.net.shared_port import StreamHandler, switching_connection
from stenod.paths import runtime_dir
from stenod.protocols.openai_realtime import RealtimeSession
from stenod.protocols.openai_rest import Transcriptions, error_response

log = logging.getLogger("stenod.server")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
FLOOD_STRIKES = 200  # messages refused by the flood limit before the connection is closed
MAX_UPLOADS = 2  # file transcriptions at once; more are answered 429


@dataclass
class Metrics:
    started: float = field(default_factory=time.monotonic)
    listen_streams: int = 0
    realtime_sessions: int = 0
    overflows: Callable[[], int] = lambda: 0  # audio blocks the microphone lost so far


class DaemonState:
    """What the handlers share: the bus, the engine, the mic pipeline (if any) and its switches."""

    def __init__(self, config: Config, bus: EventBus, decoder: DecodeService, model: str, language: str,
                 new_pipeline: Callable[[Callable[[Event], None]], LivePipeline], authority: Authority) -> None:
        self.config = config
        self.authority = authority
        self.bus = bus
        self.decoder = decoder
        self.model = model
        self.language = language
        self.new_pipeline = new_pipeline
        self.mic: LivePipeline | None = None
        self.llm_cleaner: LlmCleaner | None = None  # the LLM clean-up of finals ([llm]), for the mic and /v1/listen
        self.paused = False
        self.state = "starting"
        self.languages: set[str] | None = None  # what a session may ask for; None: English only
        self.transcriptions: Transcriptions | None = None  # POST /v1/audio/transcriptions, once the model is loaded
        self.stream = secrets.token_hex(6)  # names the microphone stream; a restarted daemon has a new one
        self.metrics = Metrics()

    def set_paused(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            self.state = "paused" if paused else "listening"
            if self.mic is not None:
                if paused:
                    self.mic.end_utterance()  # what was said before the pause gets its final
                self.mic.status(self.state)

    def health(self) -> dict[str, Any]:
        state = "degraded" if self.state == "listening" and self.mic is not None and self.mic.degraded else self.state
        return {"state": state, "model": self.model,
                "uptime_s": round(time.monotonic() - self.metrics.started, 1),
                "subscribers": len(self.bus.subscribers), "lag_s": round(self.lag, 3),
                "version": __version__, "protocol": PROTOCOL_VERSION}

    @property
    def lag(self) -> float:
        return self.mic.lag if self.mic else 0.0

    def metrics_text(self) -> str:
        published = self.bus.published
        audio = self.mic.audio_seconds if self.mic else 0.0
        rows = [
            ("stenod_events_published_total", "counter", "Events published to subscribers.",
             sum(published.values())),
            ("stenod_utterances_total", "counter", "Utterances closed (speech_end).", published["speech_end"]),
            ("stenod_finals_total", "counter", "Finals published.", published["final"]),
            ("stenod_decodes_total", "counter", "Decodes run by the engine.", self.decoder.decodes),
            ("stenod_decode_timeouts_total", "counter", "Decodes that ran past their deadline.",
             self.decoder.timeouts),
            ("stenod_decode_seconds_total", "counter", "Seconds spent decoding.",
             round(self.decoder.decode_seconds, 3)),
            ("stenod_audio_seconds_total", "counter", "Seconds of microphone audio processed.", round(audio, 3)),
            ("stenod_real_time_factor", "gauge", "Decode seconds over audio seconds.",
             round(self.decoder.decode_seconds / audio, 4) if audio else 0),
            ("stenod_lag_seconds", "gauge", "Audio behind the newest sample.", round(self.lag, 3)),
            ("stenod_overflows_total", "counter", "Audio blocks lost to a full input queue.", self.metrics.overflows()),
            ("stenod_subscribers", "gauge", "Connected subscribers.", len(self.bus.subscribers)),
            ("stenod_listen_streams", "gauge", "Open /v1/listen streams.", self.metrics.listen_streams),
            ("stenod_realtime_sessions", "gauge", "Open /v1/realtime sessions.", self.metrics.realtime_sessions),
            ("stenod_file_transcriptions_total", "counter", "POST /v1/audio/transcriptions requests.",
             self.transcriptions.requests if self.transcriptions else 0),
            ("stenod_llm_refined_total", "counter", "Finals whose text the LLM clean-up rewrote.",
             self.llm_cleaner.rewritten if self.llm_cleaner else 0),
            ("stenod_llm_fallbacks_total", "counter", "Finals that kept the rule-based text after an LLM failure.",
             self.llm_cleaner.fallbacks_total if self.llm_cleaner else 0),
            ("stenod_tasks", "gauge", "Asyncio tasks alive.", len(asyncio.all_tasks())),
            ("stenod_open_fds", "gauge", "File descriptors open.", _open_fds()),
            ("stenod_resident_bytes", "gauge", "Resident memory.", _resident_bytes()),
        ]
        out = []
        for name, kind, doc, value in rows:
            out += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(out) + "\n"


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def _resident_bytes() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _forbidden(connection: ServerConnection, reason: str) -> Response:
    log.warning("refused %s: %s", connection.remote_address, reason)
    return connection.respond(http.HTTPStatus.FORBIDDEN, f"{reason}\n")


def _check_origin(hosts: list[str], origins: list[str], port: int, allowed: tuple[str, ...],
                  check_host: bool = True) -> str:
    """Why a request with these ``Host`` and ``Origin`` headers is refused, or ""."""
    if len(hosts) != 1:
        return "Host header missing or repeated"
    host = hosts[0].strip()
    try:
        hostname = urlsplit(f"//{host}").hostname or ""
    except ValueError:
        hostname = ""
    if check_host and hostname not in LOOPBACK_HOSTS:
        return f"Host {host!r} is not a loopback name"
    if not origins:
        return ""
    if len(origins) > 1:
        return "Origin header repeated"
    origin = origins[0]
    own = {f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"}
    if origin == "null" or origin not in own | set(allowed):
        return f"Origin {origin!r} is not allowed"
    return ""


def _same_user(transport: asyncio.BaseTransport, unix: bool) -> bool:
    """Whether the peer runs as this daemon's user (Unix socket: SO_PEERCRED; loopback TCP: /proc/net)."""
    if unix:
        sock = transport.get_extra_info("socket")
        return sock is not None and unix_peer_uid(sock) == os.getuid()
    local, remote = transport.get_extra_info("sockname"), transport.get_extra_info("peername")
    if not (isinstance(local, tuple) and isinstance(remote, tuple)) or remote[0] not in ("127.0.0.1", "::1"):
        return False
    return loopback_peer_uid(local[1], remote[1]) == os.getuid()


def scope_of(connection: ServerConnection, request: Request, authority: Authority, unix: bool,
             query_token: bool = False) -> str:
    """The scope a connection has: ``control`` over the Unix socket for this user (its mode is the
    boundary), else what its token grants ("" for none). ``?token=`` counts only where ``query_token``
    says (the captions page): URLs end up in logs and histories."""
    if unix:
        return CONTROL if _same_user(connection.transport, unix=True) else ""
    query = parse_qs(urlsplit(request.path).query) if query_token else {}
    return authority.scope(presented_token(request.headers.get("Authorization"),
                                           request.headers.get("Sec-WebSocket-Protocol"),
                                           query.get("token", [""])[0] or None))


NEED_TOKEN = ("a token is needed: Authorization: Bearer <token> (the token is in $XDG_RUNTIME_DIR/stenod/token; "
              "see docs/security.md)")


def make_http_app(state: DaemonState, port: int, unix: bool = False) -> StreamHandler:
    """The handler of requests other than GET on the daemon's port: ``POST /v1/audio/transcriptions``.

    Path, Origin, Host and token are checked on the request's head, before its body is read. Past that,
    ``MAX_UPLOADS`` transcriptions run at once and as many more wait (their bodies held); beyond that 429.
    """
    remote = state.config.server.allow_remote
    running = asyncio.Semaphore(MAX_UPLOADS)
    admitted = 0

    def refusal(request: HttpRequest) -> HttpResponse | None:
        path = urlsplit(request.target).path
        reason = _check_origin(request.header_values("host"), request.header_values("origin"), port,
                               state.config.server.allowed_origins, check_host=not (unix or remote))
        if reason:
            log.warning("refused an HTTP request: %s", reason)
            return error_response(403, reason, code="forbidden")
        if path not in ("/v1/audio/transcriptions", "/v1/audio/translations") or request.method != "POST":
            return error_response(404, f"no {request.method} {path} here: try POST /v1/audio/transcriptions",
                                  code="not_found")
        if unix:
            scope = CONTROL if _same_user(request.transport, unix=True) else ""
        else:
            scope = state.authority.scope(presented_token(request.header("authorization"), None))
        if not scope:
            response = error_response(401, NEED_TOKEN, code="invalid_api_key")
            response.headers.append(("WWW-Authenticate", 'Bearer realm="stenod"'))
            return response
        if scope != CONTROL:
            return error_response(403, "transcription needs the control token, not the read token",
                                  code="forbidden")
        if state.transcriptions is None:
            return error_response(503, "no model is loaded", kind="server_error")
        return None

    async def app(request: HttpRequest) -> HttpResponse:
        assert state.transcriptions is not None
        async with running:
            return await state.transcriptions.transcribe(request)

    def error(status: int, message: str) -> HttpResponse:
        return error_response(status, message)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal admitted
        counted = False  # this connection's request holds a place until it is answered

        async def check(request: HttpRequest) -> HttpResponse | None:
            nonlocal admitted, counted
            refused = refusal(request)
            if refused is not None:
                return refused
            if admitted >= 2 * MAX_UPLOADS:
                return error_response(429, f"{admitted} transcriptions are already running or waiting; try "
                                      "again shortly", kind="rate_limit_error", code="busy")
            admitted, counted = admitted + 1, True
            return None

        try:
            await serve_one(reader, writer, app, state.config.server.max_upload_bytes, error, check)
        finally:
            if counted:
                admitted -= 1

    return serve


def _unauthorised(connection: ServerConnection, reason: str) -> Response:
    log.warning("refused %s: %s", connection.remote_address or "a local peer", reason)
    response = connection.respond(http.HTTPStatus.UNAUTHORIZED, f"{reason}\n")
    response.headers["WWW-Authenticate"] = 'Bearer realm="stenod"'
    return response


def make_handlers(state: DaemonState, port: int, unix: bool = False
                  ) -> tuple[Callable[..., Any], Callable[..., Any]]:
    remote = state.config.server.allow_remote

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        # A Unix socket has no Host to trust; a server opened to the network is reached by other names.
        reason = _check_origin(request.headers.get_all("Host"), request.headers.get_all("Origin"), port,
                               state.config.server.allowed_origins, check_host=not (unix or remote))
        if reason:
            return _forbidden(connection, reason)
        if path == "/health":
            response = connection.respond(http.HTTPStatus.OK, json.dumps(state.health()) + "\n")
            response.headers["Content-Type"] = "application/json"
            return response
        if path == "/metrics":
            response = connection.respond(http.HTTPStatus.OK, state.metrics_text())
            response.headers["Content-Type"] = "text/plain; version=0.0.4"
            return response
        if path == "/captions":
            trusted = (bool(scope_of(connection, request, state.authority, unix, query_token=True))
                       or _same_user(connection.transport, unix))
            return _captions_page(connection, state.authority.read_token if trusted else "")
        if path not in ("/v1/events", "/v1/listen", "/v1/realtime", "/v1/models"):
            return connection.respond(http.HTTPStatus.NOT_FOUND,
                                      "not found: try /captions, /v1/events, /v1/listen, /v1/realtime, /health\n")
        scope = scope_of(connection, request, state.authority, unix)
        if not scope:
            return _unauthorised(connection, NEED_TOKEN)
        if path in ("/v1/listen", "/v1/realtime") and scope != CONTROL:
            return _forbidden(connection, f"{path} needs the control token, not the read token")
        if path == "/v1/models":
            models = state.transcriptions.models() if state.transcriptions else HttpResponse.json(200, {"data": []})
            return _as_response(connection, models)
        return None

    async def handler(connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        scope = scope_of(connection, request, state.authority, unix)
        try:
            if url.path == "/v1/events":
                await _events(connection, state, query, scope)
            elif url.path == "/v1/listen":
                await _listen(connection, state, query)
            elif url.path == "/v1/realtime":
                state.metrics.realtime_sessions += 1
                try:
                    await RealtimeSession(connection, state.new_pipeline, state.model, query, state.languages).run()
                finally:
                    state.metrics.realtime_sessions -= 1
        except ConnectionClosed:
            pass

    return process_request, handler


@functools.cache
def _captions_html() -> bytes:
    return (resources.files("stenod") / "data" / "captions.html").read_bytes()


def _captions_page(connection: ServerConnection, token: str) -> Response:
    """The live captions page: one HTML file, scripts inline, talking only to this daemon.

    ``token`` (the read token, for a peer that showed a token or runs as this user; else "") goes into
    the page, so a page that the browser fetched as this user can subscribe without anyone copying it.
    """
    page = _captions_html().replace(b'data-token=""', f'data-token="{token}"'.encode(), 1)
    csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"
    return _as_response(connection, HttpResponse(200, page, "text/html; charset=utf-8", [
        ("Cache-Control", "no-store"), ("Content-Security-Policy", csp), ("X-Content-Type-Options", "nosniff")]))


def _as_response(connection: ServerConnection, answer: HttpResponse) -> Response:
    """A plain HTTP answer to a GET, in websockets' terms (its ``respond`` takes text only)."""
    response = connection.respond(http.HTTPStatus(answer.status), "")
    response.body = answer.body
    del response.headers["Content-Length"], response.headers["Content-Type"]
    response.headers["Content-Length"] = str(len(answer.body))
    response.headers["Content-Type"] = answer.content_type
    for name, value in answer.headers:
        response.headers[name] = value
    return response


def _hello(state: DaemonState, sample_rate: int = 16000, stream: str = "") -> Hello:
    audio_ms = int(state.mic.audio_seconds * 1000) if state.mic else 0
    emitted = state.mic.clock.now() if state.mic else 0.0
    return Hello(seq=state.bus.last_seq, emitted_at=emitted, audio_ms=audio_ms, protocol=PROTOCOL_VERSION,
                 server=f"stenod {__version__}", model=state.model, language=state.language,
                 sample_rate=sample_rate, state=state.state, stream=stream or state.stream)


def _error(seq: int, code: str, message: str) -> str:
    return json.dumps(Error(seq=seq, emitted_at=0.0, audio_ms=0, code=code, message=message).to_dict())


async def _events(connection: ServerConnection, state: DaemonState, query: dict[str, list[str]],
                  scope: str) -> None:
    try:
        since, stream = decode_events_query(query)
    except ClientError as exc:
        await connection.close(1008, str(exc))
        return
    if since is not None and (stream or state.stream) != state.stream:
        since = 0  # the daemon restarted since the client's last event: all of this stream is new to it
    subscriber = state.bus.subscribe(since)
    try:
        await connection.send(json.dumps(_hello(state).to_dict()))

        async def send_loop() -> None:
            while (event := await subscriber.next()) is not None:
                await connection.send(json.dumps(event))
            await connection.close(1008, subscriber.dropped[:120])

        sender = asyncio.create_task(send_loop())
        limit = FloodLimit()
        try:
            async for raw in connection:
                if not limit.allow(time.monotonic()):
                    if limit.strikes > FLOOD_STRIKES:
                        await shut_out(connection, "too many messages")
                        break
                    continue  # a flood is not answered
                try:
                    kind = decode_control(raw)
                except ClientError as exc:
                    await connection.send(_error(state.bus.last_seq, exc.code, str(exc)))
                    continue
                if kind == "ping":
                    pong = Pong(seq=state.bus.last_seq, emitted_at=0.0, audio_ms=0)
                    await connection.send(json.dumps(pong.to_dict()))
                elif scope != CONTROL:
                    await connection.send(_error(state.bus.last_seq, "forbidden",
                                                 f"{kind!r} needs the control token; this connection has read"))
                    await connection.close(1008, "control message on a read-only connection")
                    break
                elif kind == "toggle":
                    state.set_paused(not state.paused)
                else:
                    state.set_paused(kind == "pause")
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    finally:
        state.bus.unsubscribe(subscriber)


async def _listen(connection: ServerConnection, state: DaemonState, query: dict[str, list[str]]) -> None:
    try:
        rate = decode_listen_query(query)
    except ClientError as exc:
        await connection.close(1008, str(exc))
        return
    outbox = Outbox(connection)
    send = lambda event: outbox.put(json.dumps(event.to_dict()))  # noqa: E731
    live = state.new_pipeline(with_llm_cleanup(send, state.llm_cleaner))
    resampler = soxr.ResampleStream(rate, 16000, 1, dtype="float32", quality="HQ") if rate != 16000 else None
    state.metrics.listen_streams += 1
    complaints = FloodLimit()
    try:
        await connection.send(json.dumps(_hello(state, rate, secrets.token_hex(6)).to_dict()))
        async for raw in connection:
            try:
                message = decode_listen(raw)
            except ClientError as exc:
                if complaints.allow(time.monotonic()):
                    outbox.put(_error(0, exc.code, str(exc)))
                elif complaints.strikes > FLOOD_STRIKES:
                    await shut_out(connection, "too many bad messages")
                    break
                continue
            if isinstance(message, Audio):
                samples = message.samples
                live.feed(resampler.resample_chunk(samples) if resampler is not None else samples)
                continue
            if resampler is not None:
                live.feed(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
            await live.finish()
            break
        await outbox.flush()
        if not outbox.overflowed:
            await connection.close(1000, "end of stream")
    finally:
        live.close()  # a client gone mid-stream leaves no decodes behind
        state.metrics.listen_streams -= 1
        outbox.close()


async def start_server(state: DaemonState) -> list[Server]:
    """Bind the TCP listener (and the Unix socket if configured)."""
    host, port = state.config.host_port
    options = {"max_size": state.config.server.max_message_bytes, "compression": None,
               "ping_interval": 20, "ping_timeout": 20, "select_subprotocol": _select_subprotocol,
               "server_header": None}
    process_request, handler = make_handlers(state, port)
    try:
        servers = [await serve(handler, host, port, process_request=process_request,
                               create_connection=switching_connection(make_http_app(state, port)), **options)]
    except OSError as exc:
        raise StenodError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if state.config.server.unix_socket:
        path = socket_path()
        claim_socket(path)
        process_request, handler = make_handlers(state, port, unix=True)
        servers.append(await unix_serve(handler, str(path), process_request=process_request,
                                        create_connection=switching_connection(make_http_app(state, port, True)),
                                        **options))
        path.chmod(0o600)
    return servers


def _select_subprotocol(_connection: ServerConnection, offered: Sequence[str]) -> str | None:
    """``stenod.v1`` for a browser that offers it (beside its token); native clients offer none."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def socket_path() -> Path:
    return runtime_dir() / "stenod.sock"


def claim_socket(path: Path) -> None:
    """Make way for our Unix socket: a stale one is removed, a live one means another daemon runs."""
    private_dir(path.parent)
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # nobody answers: left behind by a daemon that died
    else:
        raise StenodError(f"another stenod is already running on {path} (stop it first: systemctl --user stop "
                          "stenod)")
    finally:
        probe.close()
