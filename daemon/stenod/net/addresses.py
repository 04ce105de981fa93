"""Addresses: the one syntax every flag and setting takes, and which host names stay on this machine.

``--listen``, ``--wyoming``, ``server.listen``, ``server.wyoming`` and the clients' ``--url`` all read an
address the same way: ``HOST:PORT``, with or without ``tcp://`` or ``ws://`` in front, or ``unix:///PATH``
for a Unix socket. Each says which kinds it can use.
"""

from __future__ import annotations

import re

LOOPBACK_NAMES = frozenset({"localhost", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    """``localhost``, ``::1`` (bracketed or not) or any address in 127.0.0.0/8."""
    host = host.strip().lower()
    if host in LOOPBACK_NAMES:
        return True
    parts = host.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)


ADDRESS_FORMS = "HOST:PORT (or tcp://HOST:PORT, ws://HOST:PORT) or unix:///PATH"


def split_address(text: str) -> tuple[str, int] | str:
    """``(host, port)`` for a TCP address, the socket's path for ``unix:///PATH``; ValueError for anything else."""
    text = text.strip()
    if text.startswith("unix://"):
        path = text[len("unix://"):]
        if not path.startswith("/") or len(path) < 2:
            raise ValueError(f"expected {ADDRESS_FORMS}, got {text!r}")
        return path
    bare = re.sub(r"^(?:tcp|ws)://", "", text).rstrip("/")
    host, sep, port = bare.rpartition(":")
    if "://" in bare or "/" in bare or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected {ADDRESS_FORMS}, got {text!r}")
    return host.strip("[]"), int(port)


def host_port(host: str, port: int) -> str:
    """``HOST:PORT``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
