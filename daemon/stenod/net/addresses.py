"""Which host names stay on this machine: the one loopback list for listeners, Host headers and endpoints."""

from __future__ import annotations

LOOPBACK_NAMES = frozenset({"localhost", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    """``localhost``, ``::1`` (bracketed or not) or any address in 127.0.0.0/8."""
    host = host.strip().lower()
    if host in LOOPBACK_NAMES:
        return True
    parts = host.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)
