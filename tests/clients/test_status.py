"""``stenod status`` against a real daemon (over its Unix socket and over TCP), and what every client says when
no daemon answers: one line with the next step."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from stenod_clients.connection import Backoff, Subscription
from stenod_clients.status import describe
from support.daemon import Daemon, free_port, wait_finished

HEALTH_BEFORE = {"state", "model", "uptime_s", "subscribers", "lag_s", "version", "protocol"}


def _stenod(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stenod", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_status_says_where_a_running_daemon_stands(tmp_path: Path, jfk_wav: Path) -> None:
    with Daemon(tmp_path, "--input", str(jfk_wav)) as daemon:
        wait_finished(daemon)
        local = {key: value for key, value in os.environ.items() if key not in ("STENOD_URL", "STENOD_TOKEN")}
        local.update(XDG_RUNTIME_DIR=str(daemon.runtime.parent), XDG_CONFIG_HOME=str(tmp_path / "config"))
        shown = _stenod("status", env=local)  # found as the clients find it: the Unix socket
        raw = _stenod("status", "--json", env=daemon.client_env)  # and over TCP, from $STENOD_URL
        health = daemon.health()
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("stenod ") and lines[0].endswith(f"at unix://{daemon.runtime / 'stenod.sock'}")
    rows = {line[2:14].strip(): line[15:] for line in lines[1:]}  # "  name         value"
    assert rows["state"] == "listening" and rows["model"] == "tiny.en"
    assert rows["input"] == f"file: {jfk_wav}" and rows["subscribers"] == "0"
    assert rows["uptime"].endswith(" s")
    assert rows["last final"].startswith("published ") and rows["last final"].endswith(" s after its speech ended")

    assert raw.returncode == 0, raw.stderr
    reported = json.loads(raw.stdout)
    assert set(reported) >= HEALTH_BEFORE and set(reported) == set(health)
    assert (reported["input"], reported["device"]) == ("file", str(jfk_wav))
    assert reported["last_final_latency_s"] > 0.0  # the last final came after the end of its speech


def test_status_without_a_daemon_is_one_line_with_the_next_step(tmp_path: Path) -> None:
    for url in (f"ws://127.0.0.1:{free_port()}", f"unix://{tmp_path / 'stenod.sock'}"):
        proc = _stenod("status", env={**os.environ, "STENOD_URL": url})
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith(f"stenod: error: no daemon at {url} (")
        assert proc.stderr.rstrip().endswith("is it running? systemctl --user status stenod, or start it: stenod run)")


def test_describe_says_what_to_do_about_each_state() -> None:
    base: dict[str, Any] = {"model": "base", "uptime_s": 3725.0, "subscribers": 2, "lag_s": 4.2, "version": "1.0",
                            "protocol": 1, "input": "microphone", "device": "USB Mic", "last_final_latency_s": None}
    lines = describe({**base, "state": "no_microphone", "device": None}, "ws://127.0.0.1:7767")
    assert lines[0] == "stenod 1.0 at ws://127.0.0.1:7767"
    assert "stenod devices" in lines[1] and "microphone: none open" in lines[3]
    assert lines[-2:] == ["  uptime       1 h 02 min", "  last final   none yet"]
    assert "stenod resume" in describe({**base, "state": "paused"}, "x")[1]
    assert "4.2 s behind" in describe({**base, "state": "degraded"}, "x")[1]
    assert "input        microphone: USB Mic" in describe({**base, "state": "listening"}, "x")[3]
    assert "--no-mic" in describe({**base, "state": "listening", "input": "none"}, "x")[3]
    older = describe({key: base[key] for key in ("model", "uptime_s", "subscribers")} | {"state": "listening"}, "x")
    assert older == ["stenod at x", "  state        listening", "  model        base", "  subscribers  2",
                     "  uptime       1 h 02 min"]


def test_clients_that_cannot_reach_the_daemon_say_how_to_see_why(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    proc = _stenod("pause", env={**os.environ, "STENOD_URL": url})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr == (f"stenod: error: cannot reach the daemon at {url} (Connection refused; is it running? "
                           "systemctl --user status stenod, or stenod status)\n")

    statuses: list[str] = []

    async def follow() -> None:
        async for _event in Subscription(url, on_status=statuses.append, backoff=Backoff(0.01, 0.02)):
            pass

    async def three_tries() -> None:
        task = asyncio.create_task(follow())
        while len(statuses) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(three_tries())
    assert "systemctl --user status stenod, or stenod status" in statuses[0]  # said once per outage
    again = f"cannot reach the daemon at {url} (Connection refused); retrying in"
    assert all(s.startswith(again) for s in statuses[1:])
