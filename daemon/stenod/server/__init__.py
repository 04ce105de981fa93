"""The daemon's listeners: one TCP port (and the Unix socket, if configured) for WebSockets and HTTP alike.

Every path is a row of :mod:`stenod.server.routes`; each listener has one access check
(:class:`stenod.net.access.Gate`). ``GET`` requests and WebSockets go to websockets (:mod:`.websocket`), other
methods to the daemon's own HTTP handler (:mod:`.http`), split by :mod:`stenod.net.shared_port`.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from pathlib import Path

from websockets.asyncio.server import Server, ServerConnection, serve, unix_serve

from stenod.errors import StenodError
from stenod.net.access import Gate
from stenod.net.auth import SUBPROTOCOL, private_dir
from stenod.net.shared_port import switching_connection
from stenod.paths import runtime_dir
from stenod.server.http import http_handler
from stenod.server.routes import route_table
from stenod.server.state import DaemonState
from stenod.server.websocket import websocket_handlers


async def start_server(state: DaemonState) -> list[Server]:
    """Bind the TCP listener (and the Unix socket if configured) over the daemon's routes."""
    config = state.config
    host, port = config.host_port
    routes = route_table(state)
    options = {"max_size": config.server.max_message_bytes, "compression": None, "ping_interval": 20,
               "ping_timeout": 20, "select_subprotocol": _select_subprotocol, "server_header": None}

    def listener(unix: bool) -> dict[str, object]:
        # A Unix socket has no Host to trust; a server opened to the network is reached by other names.
        gate = Gate(state.authority, port, lambda: state.config.server.allowed_origins, unix=unix,
                    check_host=not config.server.allow_remote)
        process_request, handler = websocket_handlers(gate, routes)
        http = http_handler(gate, routes, config.server.max_upload_bytes)
        return {"handler": handler, "process_request": process_request,
                "create_connection": switching_connection(http), **options}

    try:
        servers = [await serve(host=host, port=port, **listener(unix=False))]  # type: ignore[arg-type]
    except OSError as exc:
        raise StenodError(listen_error(host, port, exc)) from None
    if config.server.unix_socket:
        path = socket_path()
        claim_socket(path)
        servers.append(await unix_serve(path=str(path), **listener(unix=True)))  # type: ignore[arg-type]
        path.chmod(0o600)
    return servers


def _select_subprotocol(_connection: ServerConnection, offered: Sequence[str]) -> str | None:
    """``stenod.v1`` for a browser that offers it (beside its token); native clients offer none."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def listen_error(host: str, port: int, exc: OSError) -> str:
    """Why the TCP listener could not open, and, for a port in use, how to choose another."""
    if exc.errno == errno.EADDRINUSE:
        return (f"cannot listen on {host}:{port}: address already in use (another program has port {port}; choose "
                "another with --listen 127.0.0.1:PORT or server.listen in config.toml)")
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


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
        raise StenodError(f"another stenod is already running on {path} (`stenod status` shows it; stop it first: "
                          "systemctl --user stop stenod, or end the `stenod run` that started it)")
    finally:
        probe.close()
