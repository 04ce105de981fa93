"""Who may reach what, decided once per connection for WebSocket and HTTP requests alike.

Browsers may open WebSockets and send requests to localhost from any page, so a request's ``Origin`` must be
the daemon's own or a configured one (native clients send none; ``null`` is refused), and its ``Host`` must be
a loopback name, against DNS rebinding (not on the Unix socket, which has no host, nor on a listener opened to
the network). Past that, the connection's scope is ``control`` over the Unix socket for this user (its file
mode is the boundary), else what its token grants (``read``, ``control`` or none).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from stenod.net.addresses import is_loopback
from stenod.net.auth import CONTROL, Authority, loopback_peer_uid, presented_token, unix_peer_uid

PUBLIC = ""  # a route anyone who passes the Host and Origin checks may use


@dataclass(frozen=True)
class Head:
    """What access depends on, from either kind of request: its headers, its query token and its socket."""

    header_values: Callable[[str], list[str]]  # every value of a header, by lower-case name
    query_token: str | None  # ``?token=`` where the route accepts one (URLs end up in logs and histories)
    transport: asyncio.BaseTransport


class Access:
    """The verdict on one connection: ``refusal`` (why Host or Origin are refused, "" when they are not),
    ``scope`` (``control``, ``read`` or "") and, asked only when needed, ``same_user``."""

    def __init__(self, refusal: str, scope: str, transport: asyncio.BaseTransport, unix: bool) -> None:
        self.refusal = refusal
        self.scope = scope
        self._transport = transport
        self._unix = unix

    @functools.cached_property
    def same_user(self) -> bool:
        """The peer runs as this daemon's user (Unix socket: SO_PEERCRED; loopback TCP: /proc/net)."""
        return same_user(self._transport, self._unix)

    def needs(self, route_scope: str, path: str) -> tuple[int, str] | None:
        """(status, reason) when this connection may not use ``path``, a route needing ``route_scope``; None when
        it may."""
        if route_scope == PUBLIC:
            return None
        if not self.scope:
            return 401, NEED_TOKEN
        if route_scope == CONTROL and self.scope != CONTROL:
            return 403, f"{path} needs the control token, not the read token"
        return None


NEED_TOKEN = ("a token is needed: Authorization: Bearer <token> (the token is in $XDG_RUNTIME_DIR/stenod/token; "
              "see docs/security.md)")


class Gate:
    """The access check of one listener (TCP or the Unix socket)."""

    def __init__(self, authority: Authority, port: int, allowed_origins: Callable[[], Sequence[str]],
                 unix: bool = False, check_host: bool = True) -> None:
        self.authority = authority
        self.port = port
        self.allowed_origins = allowed_origins  # read per request: a reloaded configuration applies at once
        self.unix = unix
        self.check_host = check_host and not unix

    def decide(self, head: Head) -> Access:
        refusal = self.origin_refusal(head.header_values("host"), head.header_values("origin"))
        if self.unix:
            scope = CONTROL if same_user(head.transport, unix=True) else ""
        else:
            authorization = head.header_values("authorization")
            subprotocols = head.header_values("sec-websocket-protocol")
            scope = self.authority.scope(presented_token(authorization[0] if len(authorization) == 1 else None,
                                                         ",".join(subprotocols) or None, head.query_token))
        return Access(refusal, scope, head.transport, self.unix)

    def origin_refusal(self, hosts: list[str], origins: list[str]) -> str:
        """Why a request with these ``Host`` and ``Origin`` headers is refused, or ""."""
        if len(hosts) != 1:
            return "Host header missing or repeated"
        host = hosts[0].strip()
        try:
            hostname = urlsplit(f"//{host}").hostname or ""
        except ValueError:
            hostname = ""
        if self.check_host and not is_loopback(hostname):
            return f"Host {host!r} is not a loopback name"
        if not origins:
            return ""
        if len(origins) > 1:
            return "Origin header repeated"
        origin = origins[0]
        own = {f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}", f"http://[::1]:{self.port}"}
        if origin == "null" or origin not in own | set(self.allowed_origins()):
            return f"Origin {origin!r} is not allowed"
        return ""


def same_user(transport: asyncio.BaseTransport, unix: bool) -> bool:
    """Whether the peer runs as this daemon's user (Unix socket: SO_PEERCRED; loopback TCP: /proc/net)."""
    if unix:
        sock = transport.get_extra_info("socket")
        return sock is not None and unix_peer_uid(sock) == os.getuid()
    local, remote = transport.get_extra_info("sockname"), transport.get_extra_info("peername")
    if not (isinstance(local, tuple) and isinstance(remote, tuple)) or remote[0] not in ("127.0.0.1", "::1"):
        return False
    return loopback_peer_uid(local[1], remote[1]) == os.getuid()
