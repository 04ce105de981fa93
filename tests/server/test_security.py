"""Who may connect: tokens and scopes, other local users, other hosts, a second daemon, hostile frames.

Another local user is played by ``nobody`` (``setpriv``), talking to the daemon with curl.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from stenod.net.auth import Authority, load_or_create_token, presented_token, read_token
from support.daemon import Daemon, free_port

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    """A daemon whose runtime folder another user could reach, were it not for the daemon's own modes.

    pytest's temporary folders are closed to other users, which would refuse ``nobody`` before the daemon's
    permissions are ever tried; this one is open for traversal (0711) up to the daemon's folder.
    """
    home = Path(tempfile.mkdtemp(prefix="stenod-security-"))
    try:
        home.chmod(0o711)
        (home / "run").mkdir(mode=0o711)
        with Daemon(home, "--no-mic") as d:
            yield d
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("setpriv") is None or shutil.which("curl") is None:
        pytest.fail("setpriv and curl are needed", pytrace=False)
    return subprocess.run([*NOBODY, *command], capture_output=True, text=True, timeout=30)


def test_the_token_is_private_and_kept_for_the_session(tmp_path) -> None:
    folder = tmp_path / "run" / "stenod"
    token = load_or_create_token(folder)
    assert len(token) == 64 and int(token, 16) >= 0
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "token").stat().st_mode) == 0o600
    assert load_or_create_token(folder) == token  # a restarted daemon keeps it
    (folder / "token").chmod(0o644)  # someone loosened it: it may have been read, so it is replaced
    assert load_or_create_token(folder) != token
    folder.chmod(0o755)
    load_or_create_token(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_scopes_and_where_a_token_may_come_from() -> None:
    control = "ab" * 32
    authority = Authority(control)
    assert authority.scope(control) == "control"
    assert authority.scope(read_token(control)) == "read"
    assert authority.scope("") == authority.scope(control[:-1] + "0") == authority.scope(control + "0") == ""
    assert presented_token("Bearer  xyz ", None) == "xyz"
    assert presented_token("Basic xyz", "stenod.v1, stenod.token.abc") == "abc"
    assert presented_token(None, None, "q") == "q"


def test_no_token_or_a_wrong_one_is_refused_before_the_websocket_opens(daemon) -> None:
    for token in ("", "0" * 64, daemon.token[:-1]):
        with pytest.raises(InvalidStatus) as info:
            daemon.connect("/v1/events", token=token, open_timeout=5)
        assert info.value.response.status_code == 401
        assert info.value.response.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(InvalidStatus) as info:  # a token in the URL is not taken: URLs are logged
        daemon.connect(f"/v1/events?token={daemon.token}", token="", open_timeout=5)
    assert info.value.response.status_code == 401


def test_the_read_token_receives_but_cannot_control(daemon) -> None:
    reader = read_token(daemon.token)
    with daemon.connect("/v1/events", token=reader) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "pong"
        ws.send(json.dumps({"type": "pause"}))
        error = json.loads(ws.recv(timeout=5))
        assert error["type"] == "error" and error["code"] == "forbidden"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    with pytest.raises(InvalidStatus) as refused:
        daemon.connect("/v1/listen", token=reader, open_timeout=5)
    assert refused.value.response.status_code == 403
    health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/health", timeout=5).read())
    assert health["state"] == "listening"  # the pause was not applied


def test_a_browser_shows_its_token_as_a_subprotocol(daemon) -> None:
    offered = ["stenod.v1", f"stenod.token.{read_token(daemon.token)}"]
    with daemon.connect("/v1/events", token="", origin=f"http://127.0.0.1:{daemon.port}", subprotocols=offered) as ws:
        assert ws.subprotocol == "stenod.v1"
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
    with pytest.raises(InvalidStatus):  # the right token from a foreign page is still refused
        daemon.connect("/v1/events", token="", origin="https://evil.example", subprotocols=offered, open_timeout=5)


def test_the_captions_page_carries_the_read_token_only_for_its_own_user(daemon) -> None:
    page = urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/captions", timeout=5).read().decode()
    assert f'data-token="{read_token(daemon.token)}"' in page and daemon.token not in page
    if shutil.which("setpriv") is None or shutil.which("curl") is None:
        pytest.fail("setpriv and curl are needed", pytrace=False)
    other = subprocess.run([*NOBODY, "curl", "-s", f"http://127.0.0.1:{daemon.port}/captions"],
                           capture_output=True, text=True, timeout=30)
    assert other.returncode == 0 and 'data-token=""' in other.stdout
    handshake = ["-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13",
                 "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
    refused = subprocess.run([*NOBODY, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *handshake,
                              f"http://127.0.0.1:{daemon.port}/v1/events"], capture_output=True, text=True, timeout=30)
    assert refused.stdout == "401"
    with_token = subprocess.run([*NOBODY, "curl", "-s", f"http://127.0.0.1:{daemon.port}/captions?token={daemon.token}"],
                                capture_output=True, text=True, timeout=30)
    assert f'data-token="{read_token(daemon.token)}"' in with_token.stdout


def test_the_unix_socket_is_this_user_s_alone(daemon) -> None:
    path = daemon.runtime / "stenod.sock"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(daemon.runtime.stat().st_mode) == 0o700
    # The other user is real and can reach everything up to the daemon's folder, and the daemon over TCP:
    assert _as_nobody("id", "-un").stdout.strip() == "nobody"
    assert _as_nobody("test", "-x", str(daemon.runtime.parent)).returncode == 0
    health = _as_nobody("curl", "-s", f"http://127.0.0.1:{daemon.port}/health")
    assert health.returncode == 0 and json.loads(health.stdout)["state"] == "listening"
    # so what refuses it the socket is the daemon's folder and socket modes.
    other = _as_nobody("curl", "-s", "--unix-socket", str(path), "http://localhost/health")
    assert other.returncode == 7 and not other.stdout  # 7: curl could not connect
    mine = subprocess.run(["curl", "-s", "--unix-socket", str(path), "http://localhost/health"], capture_output=True,
                          text=True, timeout=30)
    assert json.loads(mine.stdout)["state"] == "listening"


def test_compression_is_refused_and_oversized_frames_are_closed_with_1009(daemon) -> None:
    with daemon.connect("/v1/events", compression="deflate") as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.recv(timeout=5)
        ws.send("x" * ((1 << 20) + 1))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


def test_a_second_daemon_on_the_same_socket_is_refused_before_it_loads_a_model(daemon, tmp_path) -> None:
    # The second daemon's model cache is a plain file: had it tried to load a model, that would be its error.
    (tmp_path / "not-a-cache").write_text("")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    env = {**os.environ, "XDG_RUNTIME_DIR": str(daemon.runtime.parent), "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
           "XDG_CONFIG_HOME": str(tmp_path / "second"), "STENOD_CACHE_DIR": str(tmp_path / "not-a-cache")}
    with notify:
        second = subprocess.run([sys.executable, "-m", "stenod", "run", "--no-mic", "--listen",
                                 f"127.0.0.1:{free_port()}"], env=env, capture_output=True, text=True, timeout=60)
        notify.setblocking(False)
        told = []
        with contextlib.suppress(BlockingIOError):
            while True:
                told.append(notify.recv(4096).decode())
    assert second.returncode == 2 and "another stenod is already running" in second.stderr
    assert "`stenod status` shows it" in second.stderr and "systemctl --user stop stenod" in second.stderr
    assert second.stderr.count("\n") == 1, second.stderr  # that one line, and no model error after it
    assert not any("loading" in message for message in told), told
    assert (daemon.runtime / "stenod.sock").exists()  # the first one keeps its socket
    with daemon.connect("/v1/events") as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"


def test_a_stale_socket_is_replaced(tmp_path) -> None:
    runtime = tmp_path / "run" / "stenod"
    runtime.mkdir(parents=True, mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(runtime / "stenod.sock"))
    stale.close()  # a daemon that died without cleaning up
    d = Daemon(tmp_path, "--no-mic")
    try:
        with d.connect("/v1/events") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
    finally:
        d.stop()


def test_listening_beyond_loopback_must_be_asked_for(tmp_path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    refused = subprocess.run([sys.executable, "-m", "stenod", "run", "--no-mic", "--listen", "0.0.0.0:7999"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "server.allow_remote" in refused.stderr
    config = tmp_path / "config" / "stenod" / "config.toml"
    config.parent.mkdir(parents=True)
    port = free_port()
    config.write_text(f'[server]\nlisten = "0.0.0.0:{port}"\nallow_remote = true\n')
    d = Daemon(tmp_path, "--no-mic", "--config", str(config), "--listen", f"0.0.0.0:{port}", port=port)
    try:
        other_name = f"ws://127.0.0.2:{port}/v1/events"  # as another host would name it: not a loopback name
        with connect(other_name, additional_headers={"Authorization": f"Bearer {d.token}"}) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"  # other names are fine, with the token
        with pytest.raises(InvalidStatus) as info:
            connect(other_name, open_timeout=5)
        assert info.value.response.status_code == 401
    finally:
        d.stop()
    assert "every client needs the token" in d.log


def test_stenod_token_prints_the_daemon_s_tokens(daemon) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(daemon.runtime.parent)}

    def token(*flags: str) -> str:
        return subprocess.run([sys.executable, "-m", "stenod", "token", *flags], env=env, capture_output=True,
                              text=True, timeout=60, check=True).stdout.strip()

    assert token() == daemon.token
    assert token("--read") == read_token(daemon.token)
    assert token("--captions-url") == f"http://127.0.0.1:7767/captions#token={read_token(daemon.token)}"
