"""``stenod run`` keeps the microphone's finals in the history file, and a ``/v1/listen`` stream's only when it
asks with ``history=1``."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from stenod.history.store import HistoryStore
from support.daemon import Daemon, collect, pcm, stream_events


def listen(daemon: Daemon, audio: np.ndarray, query: str) -> tuple[str, list[dict]]:
    """The stream's name and its finals, the audio sent at once."""
    with daemon.connect(f"/v1/listen?{query}") as ws:
        hello = json.loads(ws.recv(timeout=10))
        for i in range(0, len(audio), 1600):
            ws.send(pcm(audio[i:i + 1600]))
        ws.send(json.dumps({"type": "end"}))
        return hello["stream"], [e for e in collect(ws) if e["type"] == "final"]


def shape(event: dict) -> tuple[object, ...]:
    return tuple(event[key] for key in ("utterance_id", "text", "raw", "language", "start_ms", "end_ms"))


def test_the_daemon_keeps_the_microphone_s_finals_and_a_listen_stream_s_on_request(
        tmp_path: Path, jfk_wav: Path, jfk_audio: np.ndarray) -> None:
    state = tmp_path / "state"
    started = time.time()
    with Daemon(tmp_path, "--input", str(jfk_wav), env={**os.environ, "XDG_STATE_HOME": str(state)}) as daemon:
        events = stream_events(daemon)
        with daemon.connect("/v1/events") as ws:
            mic_stream = json.loads(ws.recv(timeout=10))["stream"]
        with daemon.connect("/v1/listen?history=yes") as ws, pytest.raises(ConnectionClosed) as refused:
            ws.recv(timeout=10)
        assert refused.value.rcvd is not None and refused.value.rcvd.code == 1008
        listen_stream, listen_finals = listen(daemon, jfk_audio, "history=1&rate=16000")
        assert daemon.stop() == 0
    ended = time.time()
    path = state / "stenod" / "history.sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with HistoryStore.open_readonly(path) as store:  # type: ignore[union-attr]
        kept = store.search()
    finals = [e for e in events if e["type"] == "final"]
    assert finals and listen_finals
    assert [shape(e.to_dict()) for e in kept if e.source == "microphone"] == [shape(f) for f in finals]
    assert [shape(e.to_dict()) for e in kept if e.source == "listen"] == [shape(f) for f in listen_finals]
    assert len(kept) == len(finals) + len(listen_finals)
    assert {e.stream for e in kept if e.source == "microphone"} == {mic_stream}
    assert {e.stream for e in kept if e.source == "listen"} == {listen_stream}
    assert all(started <= e.time <= ended and e.model == "tiny.en" and not e.retracted for e in kept)
