"""Who may connect: the token, its two scopes, and who is on the other end of a socket.

The daemon keeps a random **control** token in ``$XDG_RUNTIME_DIR/stenod/token`` (directory 0700, file
0600), made at first start and kept for the login session. The **read** token is derived from it (an
HMAC), so the daemon never stores it and every run derives the same one. ``control`` may do everything;
``read`` may only receive events.

Native clients send ``Authorization: Bearer TOKEN``. A browser cannot set headers on a WebSocket, so the
captions page offers the token as a subprotocol, ``stenod.token.TOKEN``, beside ``stenod.v1`` (which the
daemon selects). Tokens are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import socket
import stat
import struct
from pathlib import Path

from stenod.errors import StenodError

TOKEN_FILE = "token"
SUBPROTOCOL = "stenod.v1"
TOKEN_SUBPROTOCOL = "stenod.token."
READ, CONTROL = "read", "control"
_TOKEN = re.compile(r"[0-9a-f]{64}")


def private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can enter (created 0700; an existing one is tightened)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise StenodError(f"{path} belongs to another user: refusing to keep secrets there")
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def load_or_create_token(directory: Path) -> str:
    """The control token in ``directory/token``, made (0600) if missing or unusable."""
    private_dir(directory)
    path = directory / TOKEN_FILE
    try:
        if stat.S_IMODE(path.stat().st_mode) == 0o600 and _TOKEN.fullmatch(token := path.read_text().strip()):
            return token
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    token = secrets.token_hex(32)
    staging = directory / f".{TOKEN_FILE}.{os.getpid()}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    staging.replace(path)
    return token


def session_token(env: dict[str, str]) -> str:
    """The control token a daemon started with environment ``env`` keeps (for its tests and benchmarks)."""
    return (Path(env["XDG_RUNTIME_DIR"]) / "stenod" / TOKEN_FILE).read_text().strip()


def read_token(control: str) -> str:
    """The read-scope token that goes with ``control``."""
    return hmac.new(control.encode(), b"stenod read scope", hashlib.sha256).hexdigest()


class Authority:
    """Tells the scope a presented token grants."""

    def __init__(self, control: str) -> None:
        self._control = control.encode()
        self._read = read_token(control).encode()
        self.read_token = read_token(control)

    def scope(self, presented: str) -> str:
        """``control``, ``read`` or "" (no or a wrong token); constant time in the token's content."""
        given = presented.encode()
        if hmac.compare_digest(given, self._control):
            return CONTROL
        if hmac.compare_digest(given, self._read):
            return READ
        return ""


def presented_token(authorization: str | None, subprotocols: str | None, query_token: str | None = None) -> str:
    """The token a request carries: ``Authorization: Bearer``, a ``stenod.token.`` subprotocol, or ``?token=``."""
    if authorization:
        kind, _, value = authorization.strip().partition(" ")
        if kind.lower() == "bearer":
            return value.strip()
    for offered in (subprotocols or "").split(","):
        offered = offered.strip()
        if offered.startswith(TOKEN_SUBPROTOCOL):
            return offered[len(TOKEN_SUBPROTOCOL):]
    return query_token or ""


def unix_peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process at the other end of a Unix socket (SO_PEERCRED)."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    return struct.unpack("3i", creds)[1]


def loopback_peer_uid(local_port: int, peer_port: int) -> int | None:
    """The user id owning the client end of a loopback TCP connection, from ``/proc/net/tcp{,6}``.

    The client's socket is the one whose local port is ``peer_port`` and whose remote port is ours.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 8:
                continue
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == peer_port and int(remote.rsplit(":", 1)[1], 16) == local_port:
                return int(fields[7])
    return None
