"""The systemd user unit and the readiness protocol."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stenod.systemd import install_user, notify, unit_text, watchdog_interval


@pytest.mark.parametrize("name", ["stenod.service", "stenod-type.service", "stenod-captions.service"])
def test_the_units_verify(tmp_path, name: str) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze not found", pytrace=False)
    stenod = str(Path(sys.executable).with_name("stenod"))
    unit = tmp_path / name
    unit.write_text(unit_text(stenod, name))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    result = subprocess.run(["systemd-analyze", "--user", "verify", str(unit)], capture_output=True, text=True,
                            env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert result.returncode == 0, result.stderr
    text = unit.read_text()
    assert (Path(__file__).resolve().parents[1] / "systemd" / name).read_text() == unit_text("@STENOD@", name)
    if name == "stenod.service":
        assert f"ExecStart={stenod} run" in text and "Type=notify" in text and "WatchdogSec=" in text
    else:
        assert "PartOf=graphical-session.target" in text and "After=graphical-session.target stenod.service" in text
        assert "WantedBy=graphical-session.target" in text and f"ExecStart={stenod} " in text


def test_install_writes_the_unit_where_systemd_looks(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    paths = install_user(enable=False, clients=("type", "captions"))
    folder = tmp_path / "systemd" / "user"
    assert paths == [folder / "stenod.service", folder / "stenod-type.service", folder / "stenod-captions.service"]
    assert all("@STENOD@" not in path.read_text() for path in paths)


def _receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2)
    return sock


def test_notify_sends_datagrams(tmp_path, monkeypatch) -> None:
    path = str(tmp_path / "notify.sock")
    with _receiver(path) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert notify("READY=1\nSTATUS=listening")
        assert sock.recv(4096) == b"READY=1\nSTATUS=listening"
    name = f"stenod-test-{os.getpid()}"
    with _receiver("\0" + name) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("WATCHDOG=1")
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_notify_without_systemd_is_a_no_op(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not notify("READY=1")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert not notify("READY=1")


def test_watchdog_interval(monkeypatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval() is None
