"""``stenod status``: where the daemon stands, from its ``GET /health``, found the way every client finds it.

The daemon is looked for at ``--url``, ``$STENOD_URL``, its Unix socket, then the TCP address of its
configuration (:func:`stenod_clients.connection.daemon_url`). ``/health`` needs no token.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
from typing import Any, TextIO
from urllib.parse import urlsplit

from stenod.errors import StenodError
from stenod_clients.connection import check_url, daemon_url, failure_reason

START_HINT = "is it running? systemctl --user status stenod, or start it: stenod run"
MAX_BODY = 1 << 20  # a /health answer is a few hundred bytes; whatever else answers is not read whole
STATE_HINTS = {
    "starting": "loading the model",
    "paused": "stenod resume (or stenod toggle) listens again",
    "no_microphone": "no input device yet: one is taken as soon as it appears; stenod devices lists them",
    "device_lost": "the input device stopped delivering; it is looked for again",
    "finished": "the --input file has been played to its end",
}


class _UnixConnection(http.client.HTTPConnection):
    """Plain HTTP over the daemon's Unix socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def fetch_health(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """``GET /health`` of the daemon at ``url`` (``unix:///PATH``, ``ws://HOST:PORT`` or ``wss://…``).

    OSError or ``http.client.HTTPException`` when nothing answers there; StenodError for an answer that is not
    the daemon's health.
    """
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "unix":
        connection = _UnixConnection(parts.path, timeout)
    elif parts.scheme == "wss":
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        body = response.read(MAX_BODY)
    finally:
        connection.close()
    if response.status != 200:
        said = body.decode(errors="replace").strip()[:200]
        raise StenodError(f"{url} answered /health with HTTP {response.status}: {said or response.reason}")
    try:
        health = json.loads(body)
    except ValueError:
        health = None
    if not isinstance(health, dict) or "state" not in health:
        raise StenodError(f"{url} is not a stenod daemon: its /health is not the daemon's JSON")
    return health


def describe(health: dict[str, Any], url: str) -> list[str]:
    """The health as lines for a person: state (with what to do about it), model, input, subscribers, uptime,
    and the latency of the last final."""
    state = str(health.get("state", "?"))
    hint = STATE_HINTS.get(state, "")
    if state == "degraded":
        hint = f"decoding slower than speech: {health.get('lag_s', 0)} s behind"
    rows = [("state", f"{state} ({hint})" if hint else state), ("model", str(health.get("model", "?")))]
    if "input" in health:
        rows.append(("input", _input(health)))
    rows += [("subscribers", str(health.get("subscribers", "?"))),
             ("uptime", _duration(float(health.get("uptime_s", 0))))]
    if "last_final_latency_s" in health:
        latency = health["last_final_latency_s"]
        rows.append(("last final", "none yet" if latency is None else
                     f"published {latency:.2f} s after its speech ended"))
    version = health.get("version")
    return [f"stenod {version} at {url}" if version else f"stenod at {url}",
            *(f"  {name:<12} {value}" for name, value in rows)]


def _input(health: dict[str, Any]) -> str:
    kind, device = health.get("input"), health.get("device")
    if kind == "microphone" and not device:
        return "microphone: none open" if health.get("state") in ("no_microphone", "device_lost") else "microphone"
    if kind == "microphone":
        return f"microphone: {device}"
    if kind == "file":
        return f"file: {device}"
    return "none (--no-mic: remote audio on /v1/listen only)"


def _duration(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"


def run(url: str | None, as_json: bool, out: TextIO = sys.stdout) -> int:
    """Print where the daemon stands (``as_json``: its /health object as it is); StenodError when none answers."""
    url = check_url(url or daemon_url())
    try:
        health = fetch_health(url)
    except (OSError, http.client.HTTPException) as exc:
        raise StenodError(f"no daemon at {url} ({failure_reason(exc)}; {START_HINT})") from None
    if as_json:
        print(json.dumps(health, ensure_ascii=False), file=out)
    else:
        for line in describe(health, url):
            print(line, file=out)
    return 0
