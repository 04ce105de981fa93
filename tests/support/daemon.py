"""``stenod run`` as a subprocess, and the small helpers the tests that talk to it share."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
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


def collect(ws: ClientConnection, until: str = "", timeout: float = 60,
            stop: Callable[[dict], bool] | None = None) -> list[dict]:
    """Events from ``ws`` until one of type ``until`` (or one ``stop`` accepts), the connection closes, or
    ``timeout`` passes."""
    events = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            events.append(event)
            if (until and event["type"] == until) or (stop is not None and stop(event)):
                break
    except (ConnectionClosed, TimeoutError):
        pass
    return events


class Daemon:
    """``stenod run`` on a free port (and its own runtime and config folders), ready once it said READY=1.

    ``env`` is the environment it starts from (this process's by default); ``runtime`` its XDG_RUNTIME_DIR.

    Stop it with :meth:`stop`, or use it as a context manager; a daemon that does not stop on SIGTERM is
    killed. Its stderr is read as it comes (a full pipe would block its logging), into :attr:`log`.
    """

    def __init__(self, tmp_path: Path, *args: str, port: int | None = None, runtime: Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.notify_path = tmp_path / "notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        env = {**(os.environ if env is None else env), "NOTIFY_SOCKET": str(self.notify_path),
               "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_RUNTIME_DIR": str(runtime or tmp_path / "run")}
        self.messages: list[str] = []
        self._log: list[str] = []
        self._logged = threading.Condition()
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "stenod", "run", "--listen",
                                          f"127.0.0.1:{self.port}", *args], env=env, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)
        except BaseException:
            self.notify.close()
            raise
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        try:
            self.wait_for_notify("READY=1", timeout=120)
            self.runtime = (runtime or tmp_path / "run") / "stenod"
            self.token = (self.runtime / "token").read_text().strip()
        except BaseException:
            self.stop()
            raise

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._logged:
                self._log.append(line)
                self._logged.notify_all()
        self.proc.stderr.close()

    @property
    def log(self) -> str:
        """What it wrote to stderr so far (all of it once it stopped)."""
        with self._logged:
            return "".join(self._log)

    def wait_for_log(self, fragment: str, timeout: float = 30) -> None:
        """Until a line of its log contains ``fragment``; a test failure after ``timeout`` seconds."""
        with self._logged:
            if not self._logged.wait_for(lambda: any(fragment in line for line in self._log), timeout):
                pytest.fail(f"the daemon did not log {fragment!r} within {timeout} s: {''.join(self._log)[-2000:]}")

    def wait_for_notify(self, fragment: str, timeout: float = 30) -> str:
        """The next readiness notification (``NOTIFY_SOCKET``) that contains ``fragment``, within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self.notify.settimeout(min(0.5, max(0.01, deadline - time.monotonic())))
            try:
                message = self.notify.recv(4096).decode()
            except TimeoutError:
                if self.proc.poll() is not None:
                    self._reader.join(10)
                    pytest.fail(f"the daemon exited ({self.proc.returncode}) before it sent {fragment!r}: "
                                f"{self.log[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"the daemon sent no {fragment!r} within {timeout} s: {self.log[-2000:]}")
                continue
            self.messages.append(message)
            if fragment in message:
                return message

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def connect(self, path: str, token: str | None = None, **kwargs: Any) -> ClientConnection:
        """A WebSocket to ``path``, showing the daemon's control token (or ``token``; "" for none)."""
        headers = dict(kwargs.pop("additional_headers", None) or {})
        token = self.token if token is None else token
        if token:
            headers.setdefault("Authorization", f"Bearer {token}")
        return connect(f"{self.url}{path}", additional_headers=headers, **kwargs)

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=10) as response:
            return dict(json.load(response))

    @property
    def client_env(self) -> dict[str, str]:
        """The environment a client needs to reach this daemon over TCP."""
        return {**os.environ, "STENOD_URL": self.url, "STENOD_TOKEN": self.token}

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self, grace: float = 30.0) -> int:
        """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL; the exit status (-9 when it had to be killed).

        The notifications it sent while stopping (STOPPING=1) are added to ``messages``.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        if self.notify.fileno() != -1:
            self.notify.settimeout(0)
            try:
                while True:
                    self.messages.append(self.notify.recv(4096).decode())
            except (BlockingIOError, TimeoutError):
                pass
            finally:
                self.notify.close()
        return self.proc.returncode


def stream_events(daemon: Daemon, timeout: float = 90) -> list[dict]:
    """Every event of a daemon that read an ``--input`` file, replayed from its first one up to the status
    event that says it finished."""
    with daemon.connect("/v1/events?since=0") as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        out = collect(ws, until="__never__", timeout=timeout, stop=_finished)
    if not out or not _finished(out[-1]):
        pytest.fail(f"the daemon's stream did not reach its end: {out[-3:]}")
    return out


def wait_finished(daemon: Daemon, timeout: float = 90) -> None:
    """Until the daemon has read all of its ``--input`` file."""
    stream_events(daemon, timeout)


def _finished(event: dict) -> bool:
    return event["type"] == "status" and event["state"] == "finished"


def utterances_closed(events: list[dict], past: int = 0) -> bool:
    """More than ``past`` utterances ended, none is still open, and each one not discarded has its final.

    What a subscriber has once the speech it was played is over: nothing more is coming.
    """
    starts = [e for e in events if e["type"] == "speech_start"]
    ends = [e for e in events if e["type"] == "speech_end"]
    finals = {e["utterance_id"] for e in events if e["type"] == "final"}
    return len(ends) > past and len(starts) == len(ends) and all(
        e["utterance_id"] in finals for e in ends if not e.get("discarded"))
