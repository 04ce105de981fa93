"""Hostile clients against a running daemon: floods, bombs, and thousands of connections that come and go."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from support.daemon import Daemon


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("hostile"), "--no-mic")
    yield d
    d.stop()


def _metrics(daemon: Daemon) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/metrics", timeout=10).read().decode()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if not line.startswith("#")}


def test_a_control_flood_is_cut_off_and_others_are_served(daemon) -> None:
    with daemon.connect("/v1/events") as flooder, daemon.connect("/v1/events") as bystander:
        flooder.recv(timeout=5)
        bystander.recv(timeout=5)
        with pytest.raises(ConnectionClosed) as info:
            for _ in range(5000):
                flooder.send(json.dumps({"type": "toggle"}))
            while True:
                flooder.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        bystander.send(json.dumps({"type": "ping"}))
        seen = []
        while not seen or seen[-1]["type"] != "pong":
            seen.append(json.loads(bystander.recv(timeout=5)))
        toggles = [e for e in seen if e["type"] == "status"]
        assert 0 < len(toggles) <= 100  # only the burst the limit allows was acted on


def test_malformed_messages_get_errors_and_the_connection_stays(daemon) -> None:
    with daemon.connect("/v1/events") as ws:
        ws.recv(timeout=5)
        for raw in ("[" * 200_000, "not json", '{"type": 5}', '"pause"', b"\x00\xff"):
            ws.send(raw)
            error = json.loads(ws.recv(timeout=5))
            assert error["type"] == "error" and error["code"] == "bad_message", raw[:20]
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "pong"
    with daemon.connect("/v1/listen") as ws:
        ws.recv(timeout=5)
        ws.send(b"\x01\x02\x03")
        assert json.loads(ws.recv(timeout=5))["code"] == "bad_audio"
        ws.send("[" * 100_000)
        assert json.loads(ws.recv(timeout=5))["code"] == "bad_message"


@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")
def test_thousands_of_connections_leak_nothing(daemon) -> None:
    def settle() -> dict[str, float]:
        deadline = time.monotonic() + 10
        while True:
            now = _metrics(daemon)
            if now["stenod_subscribers"] == 0 or time.monotonic() > deadline:
                return now
            time.sleep(0.1)

    for _ in range(50):  # warm up: first connections allocate what stays for good
        with daemon.connect("/v1/events") as ws:
            ws.recv(timeout=5)
    before = settle()
    for i in range(1500):
        ws = daemon.connect("/v1/events")
        if i % 3 == 0:
            ws.recv(timeout=5)
            ws.close()
        elif i % 3 == 1:
            ws.close()
        else:  # vanishes without a closing handshake
            ws.socket.close()
    after = settle()
    assert after["stenod_subscribers"] == 0
    assert after["stenod_tasks"] <= before["stenod_tasks"] + 2
    assert after["stenod_open_fds"] <= before["stenod_open_fds"] + 5
    assert after["stenod_resident_bytes"] <= before["stenod_resident_bytes"] + 32 * 2**20
    print(f"1500 connections: tasks {before['stenod_tasks']:.0f} → {after['stenod_tasks']:.0f}, fds "
          f"{before['stenod_open_fds']:.0f} → {after['stenod_open_fds']:.0f}, RSS "
          f"{before['stenod_resident_bytes'] / 2**20:.0f} → {after['stenod_resident_bytes'] / 2**20:.0f} MiB")
