"""``stenod run`` as a subprocess, and the small helpers the tests that talk to it share."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "protocol.schema.json").read_text())
JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def valid(events: list[dict]) -> list[dict]:
    """Every event checked against the protocol's JSON Schema."""
    import jsonschema

    for event in events:
        jsonschema.validate(event, SCHEMA)
    return events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pcm(audio: np.ndarray) -> bytes:
    """16-bit little-endian PCM, as a client sends it to /v1/listen."""
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def collect(ws: ClientConnection, until: str = "", timeout: float = 60) -> list[dict]:
    """Events from ``ws`` until one of type ``until``, the connection closes, or ``timeout`` passes."""
    events = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            events.append(event)
            if until and event["type"] == until:
                break
    except (ConnectionClosed, TimeoutError):
        pass
    return events


class Daemon:
    def __init__(self, tmp_path: Path, *args: str, port: int | None = None, runtime: Path | None = None) -> None:
        self.port = port or free_port()
        self.notify_path = tmp_path / "notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(120)
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
               "XDG_RUNTIME_DIR": str(runtime or tmp_path / "run")}
        self.proc = subprocess.Popen([sys.executable, "-m", "stenod", "run", "--listen", f"127.0.0.1:{self.port}",
                                      *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.messages: list[str] = []
        while not any(m.startswith("READY=1") for m in self.messages):
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except TimeoutError:
                self.proc.kill()
                pytest.fail(f"daemon never became ready: {self.proc.communicate()[1][-2000:]}")
        self.runtime = (runtime or tmp_path / "run") / "stenod"
        self.token = (self.runtime / "token").read_text().strip()

    def connect(self, path: str, token: str | None = None, **kwargs: Any) -> ClientConnection:
        """A WebSocket to ``path``, showing the daemon's control token (or ``token``; "" for none)."""
        headers = dict(kwargs.pop("additional_headers", None) or {})
        token = self.token if token is None else token
        if token:
            headers.setdefault("Authorization", f"Bearer {token}")
        return connect(f"{self.url}{path}", additional_headers=headers, **kwargs)

    @property
    def client_env(self) -> dict[str, str]:
        """The environment a client needs to reach this daemon over TCP."""
        return {**os.environ, "STENOD_URL": self.url, "STENOD_TOKEN": self.token}

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> int:
        if self.notify.fileno() == -1:  # already stopped
            return self.proc.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
            self.notify.settimeout(0.5)
            while True:
                self.messages.append(self.notify.recv(4096).decode())
        except TimeoutError:
            pass
        finally:
            self.notify.close()
        return self.proc.returncode if self.proc.returncode is not None else code


def stream_events(daemon: Daemon) -> list[dict]:
    """Every event still in the daemon's replay ring, from a fresh subscriber."""
    with daemon.connect("/v1/events?since=0") as ws:
        ws.recv(timeout=10)  # hello
        out = []
        try:
            while True:
                out.append(json.loads(ws.recv(timeout=1.5)))
        except TimeoutError:
            return out


def wait_finished(daemon: Daemon, timeout: float = 90) -> None:
    with daemon.connect("/v1/events?since=0") as ws:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = json.loads(ws.recv(timeout=timeout))
            if event["type"] == "status" and event["state"] == "finished":
                return
    pytest.fail("the daemon did not finish its input")
