"""``stenod run`` as a subprocess: readiness, HTTP endpoints, Origin/Host checks, /v1/listen, fan-out, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from stenod_bench.evaluation import word_error_rate
from support.daemon import JFK, Daemon, collect, pcm, valid


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path, "--no-mic")
    yield d
    d.stop()


def test_ready_health_metrics_and_readiness_notifications(daemon) -> None:
    assert any("STATUS=" in m for m in daemon.messages)
    health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/health").read())
    assert health["state"] == "listening" and health["model"] == "tiny.en" and health["protocol"] == 1
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/metrics").read().decode()
    assert "# TYPE stenod_decodes_total counter" in metrics and "stenod_subscribers 0" in metrics
    assert "stenod_finals_total 0" in metrics and "stenod_utterances_total 0" in metrics


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Host": "evil.example"}])
def test_foreign_origins_and_hosts_are_refused(daemon, headers) -> None:
    with pytest.raises(InvalidStatus) as info:
        daemon.connect("/v1/events", additional_headers=headers, open_timeout=5)
    assert info.value.response.status_code == 403


def test_own_origin_is_accepted(daemon) -> None:
    with daemon.connect("/v1/events", origin=f"http://127.0.0.1:{daemon.port}") as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"


def test_control_messages_and_malformed_ones(daemon) -> None:
    with daemon.connect("/v1/events") as ws:
        hello, = valid([json.loads(ws.recv(timeout=5))])
        assert hello["type"] == "hello" and hello["sample_rate"] == 16000 and hello["state"] == "listening"
        ws.send("not json")
        assert valid([json.loads(ws.recv(timeout=5))])[0]["code"] == "bad_message"
        ws.send(json.dumps({"type": "explode"}))
        assert "unknown message type" in valid([json.loads(ws.recv(timeout=5))])[0]["message"]
        ws.send(json.dumps({"type": "ping"}))
        assert valid([json.loads(ws.recv(timeout=5))])[0]["type"] == "pong"  # the connection is still served
        ws.send(json.dumps({"type": "pause"}))
        paused = valid([json.loads(ws.recv(timeout=5))])[0]
        assert (paused["type"], paused["state"]) == ("status", "paused")
        ws.send(json.dumps({"type": "resume"}))
        assert json.loads(ws.recv(timeout=5))["state"] == "listening"
    health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/health").read())
    assert health["state"] == "listening"


def test_listen_transcribes_a_client_s_own_audio(daemon, jfk_audio) -> None:
    import soxr

    audio_44k = soxr.resample(jfk_audio, 16000, 44100)
    with daemon.connect("/v1/listen?rate=44100") as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        block = 4410
        started = time.monotonic()
        for i in range(0, len(audio_44k), block):  # 100 ms blocks at twice real time, as a live client sends:
            ws.send(pcm(audio_44k[i:i + block]))  # the pace of the input, not a wait for the daemon
            time.sleep(max(0.0, started + (i + block) / 44100 / 2 - time.monotonic()))
        ws.send(json.dumps({"type": "end"}))
        events = valid(collect(ws))
    finals = [e for e in events if e["type"] == "final"]
    assert finals and any(e["type"] == "partial" for e in events)
    assert word_error_rate([JFK], [" ".join(f["text"] for f in finals)]) < 0.15
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)


def test_subscribers_share_the_stream_and_a_reconnect_gets_what_it_missed(tmp_path, jfk_wav) -> None:
    d = Daemon(tmp_path, "--input", str(jfk_wav))
    try:
        results: dict[str, list[dict]] = {}

        def listen(name: str, path: str) -> None:
            with d.connect(path) as ws:
                results[name] = collect(ws, until="__never__", timeout=25)

        threads = [threading.Thread(target=listen, args=(n, "/v1/events")) for n in ("a", "b", "c")]
        with d.connect("/v1/events"):  # connected but never reads
            for t in threads:
                t.start()
            with d.connect("/v1/events") as early:  # leaves after the first final
                first = collect(early, until="final", timeout=20)
            assert first[-1]["type"] == "final"
            for t in threads:
                t.join()
        finals = {name: [e["text"] for e in valid(events) if e["type"] == "final"] for name, events in results.items()}
        assert finals["a"] and finals["a"] == finals["b"] == finals["c"]
        with d.connect(f"/v1/events?since={first[-1]['seq']}") as again:
            missed = collect(again, until="__never__", timeout=2)
        assert [e["text"] for e in missed if e["type"] == "final"] == finals["a"][1:]
    finally:
        assert d.stop() == 0


def test_sigterm_closes_subscribers_with_going_away(daemon) -> None:
    with daemon.connect("/v1/events") as ws:
        ws.recv(timeout=5)
        daemon.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as info:
            while True:
                ws.recv(timeout=20)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert daemon.stop() == 0
    assert any(m.startswith("STOPPING=1") for m in daemon.messages)


def test_no_device_and_port_in_use_are_one_line_errors(tmp_path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    proc = subprocess.run([sys.executable, "-m", "stenod", "run", "--device", "no-such-mic"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("stenod: error:") and proc.stderr.count("\n") == 1
    for next_step in ("`stenod devices`", "--device NAME", "--no-mic", "--input FILE"):
        assert next_step in proc.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "stenod", "run", "--no-mic", "--listen", f"127.0.0.1:{port}"],
                              env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    said = proc.stderr.splitlines()[-1]
    assert "address already in use" in said and f"port {port}" in said
    assert "--listen 127.0.0.1:PORT" in said and "server.listen" in said


def test_sighup_rereads_the_config_and_keeps_it_when_broken(tmp_path) -> None:
    config = tmp_path / "config" / "stenod" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[server]\nallowed_origins = []\n")
    d = Daemon(tmp_path, "--no-mic", "--config", str(config))
    try:
        page = "https://captions.example"
        with pytest.raises(InvalidStatus):
            d.connect("/v1/events", origin=page, open_timeout=5)
        config.write_text(f'[server]\nallowed_origins = ["{page}"]\n')
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for_notify("configuration reloaded")
        with d.connect("/v1/events", origin=page, open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        config.write_text("[server\n")  # broken: the running configuration stays
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for_log("reload failed, keeping the running configuration")
        with d.connect("/v1/events", origin=page, open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        assert d.proc.poll() is None
    finally:
        assert d.stop() == 0
    assert sum("configuration reloaded" in m for m in d.messages) == 1  # the broken file was not applied


def test_a_broken_config_file_is_a_one_line_error(tmp_path) -> None:
    config = tmp_path / "stenod" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[audio]\ndevise = 'USB'\n")
    proc = subprocess.run([sys.executable, "-m", "stenod", "run", "--no-mic"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown key audio.devise" in proc.stderr


def test_unix_socket(tmp_path) -> None:
    from websockets.sync.client import unix_connect

    d = Daemon(tmp_path, "--no-mic")
    try:
        path = tmp_path / "run" / "stenod" / "stenod.sock"
        assert path.exists() and (path.parent.stat().st_mode & 0o777) == 0o700
        with unix_connect(str(path), uri="ws://localhost/v1/events") as ws:
            assert valid([json.loads(ws.recv(timeout=5))])[0]["type"] == "hello"
        with pytest.raises(InvalidStatus):
            unix_connect(str(path), uri="ws://localhost/v1/events", origin="https://evil.example")
    finally:
        assert d.stop() == 0


def test_sigterm_mid_utterance_sends_its_final_first(tmp_path, eval_dir) -> None:
    events: list[dict] = []
    with Daemon(tmp_path, "--input", str(eval_dir / "sessions" / "session_03_long_passages.wav")) as d:
        with d.connect("/v1/events") as ws:
            ws.recv(timeout=5)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # in the middle of a sentence, with decodes running
                events.append(json.loads(ws.recv(timeout=30)))
                if events[-1]["type"] == "partial" and len(events[-1]["stable"].split()) >= 3:
                    break
            speaking = events[-1]["utterance_id"]
            d.proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    events.append(json.loads(ws.recv(timeout=30)))
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        assert d.stop() == 0
    final = next(e for e in events if e["type"] == "final" and e["utterance_id"] == speaking)
    partial = next(e for e in reversed(events) if e["type"] == "partial" and e["utterance_id"] == speaking)
    assert final["raw"].startswith(partial["stable"])  # what was committed reached the subscriber


def test_a_reload_keeps_the_flags_the_daemon_was_started_with(tmp_path) -> None:
    from types import SimpleNamespace

    from stenod.config import load
    from stenod.daemon import reload

    config = tmp_path / "config.toml"
    config.write_text('[stream]\nvad = "silero"\n\n[model]\nlanguage = "de"\n')
    flags = {"stream": {"vad": "webrtc"}, "model": {"language": "fr", "name": None}}
    state = SimpleNamespace(config=load(config, flags), mic=None, decoder=SimpleNamespace(recognizer=None))
    config.write_text('[stream]\nvad = "silero"\nspoken_punctuation = true\n\n[model]\nlanguage = "de"\n')
    reload(state, config, flags)  # type: ignore[arg-type]
    assert (state.config.stream.vad, state.config.model.language) == ("webrtc", "fr")
    assert state.config.stream.spoken_punctuation  # the file's change is applied


def test_a_reload_turns_the_history_off_and_on(tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from stenod.config import load
    from stenod.daemon import reload
    from stenod.history.recorder import Recorder

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = tmp_path / "config.toml"
    config.write_text("[history]\nenabled = true\n")
    state = SimpleNamespace(config=load(config), mic=None, decoder=SimpleNamespace(recognizer=None),
                            history=None, model="tiny.en")
    reload(state, config)  # type: ignore[arg-type]  # unchanged: nothing started
    assert state.history is None
    config.write_text("[history]\nenabled = true\nretention_days = 7\n")
    reload(state, config)  # type: ignore[arg-type]
    kept = state.history
    assert isinstance(kept, Recorder) and kept.retention_s == 7 * 86400
    config.write_text("[history]\nenabled = false\n")
    reload(state, config)  # type: ignore[arg-type]
    assert state.history is None
    kept._thread.join(10)
    assert not kept._thread.is_alive()  # the old writer finished and stopped
