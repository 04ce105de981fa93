"""Push-to-talk end to end: ``stenod run --paused`` hears nothing until a hold; a release ends the utterance at
once (its final without the VAD's hangover) and pauses; ``end_utterance`` ends it and goes on listening."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from support.daemon import Daemon, collect, valid


def _until_words(ws, words: int, timeout: float = 60) -> list[dict]:
    """Events until a partial has ``words`` committed words."""
    return collect(ws, timeout=timeout,
                   stop=lambda e: e["type"] == "partial" and len(e["stable"].split()) >= words)


def _stenod(daemon: Daemon, *args: str) -> str:
    env = {**os.environ, "STENOD_URL": f"ws://127.0.0.1:{daemon.port}", "STENOD_TOKEN": daemon.token}
    done = subprocess.run([sys.executable, "-m", "stenod", *args], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_hold_and_release_from_the_command_line(tmp_path, eval_dir) -> None:
    session = eval_dir / "sessions" / "session_03_long_passages.wav"
    with Daemon(tmp_path, "--paused", "--input", str(session)) as d, d.connect("/v1/events") as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["state"] == "paused"
        assert not [e for e in collect(ws, timeout=2) if e["type"] in ("speech_start", "partial")]  # nothing heard

        assert _stenod(d, "hold") == "listening"
        before = _until_words(ws, 4)
        speaking = before[-1]["utterance_id"]
        released = time.monotonic()
        assert _stenod(d, "release") == "paused"
        seen: set[str] = set()

        def done(event: dict) -> bool:  # the utterance's end and the pause, in whichever order they come
            if event["type"] == "speech_end" and event["utterance_id"] == speaking:
                seen.add("end")
            if event["type"] == "status" and event["state"] == "paused":
                seen.add("paused")
            return seen == {"end", "paused"}

        after = collect(ws, timeout=30, stop=done)
        final = next(e for e in after if e["type"] == "final")
        final_at = time.monotonic()
        valid(before + after)
        assert final["utterance_id"] == speaking and final["raw"].startswith(before[-1]["stable"])
        assert [e["state"] for e in after if e["type"] == "status"] == ["paused"]
        print(f"release → final {final_at - released:.2f} s (the command's own start included)")
        # The recording goes on speaking, but nothing is heard while paused.
        assert not [e for e in collect(ws, timeout=3) if e["type"] in ("speech_start", "partial")]

        assert _stenod(d, "hold") == "listening"  # and again
        again = collect(ws, timeout=30, until="speech_start")
        assert again[-1]["type"] == "speech_start" and again[-1]["utterance_id"] > speaking


def test_end_utterance_ends_it_at_once_and_goes_on(tmp_path, eval_dir) -> None:
    session = eval_dir / "sessions" / "session_03_long_passages.wav"
    with Daemon(tmp_path, "--input", str(session)) as d, d.connect("/v1/events") as ws:
        ws.recv(timeout=5)
        before = _until_words(ws, 4)
        speaking = before[-1]["utterance_id"]
        ws.send(json.dumps({"type": "end_utterance"}))
        after = collect(ws, timeout=30, stop=lambda e: e["type"] == "final" and e["utterance_id"] == speaking)
        final = after[-1]
        assert final["type"] == "final" and final["raw"].startswith(before[-1]["stable"])
        if not [e for e in after if e["type"] == "speech_start"]:
            after += collect(ws, timeout=30, until="speech_start")
        valid(after)
        assert not [e for e in after if e["type"] == "status"]  # still listening: the next utterance is heard
        assert [e["utterance_id"] for e in after if e["type"] == "speech_start"] == [speaking + 1]


def test_a_hold_during_the_release_tail_keeps_listening(tmp_path, eval_dir) -> None:
    session = eval_dir / "sessions" / "session_03_long_passages.wav"
    config = tmp_path / "stenod.toml"
    config.write_text("[audio]\nrelease_tail_ms = 1500\nstart_paused = true\n")
    with Daemon(tmp_path, "--config", str(config), "--input", str(session)) as d, d.connect("/v1/events") as ws:
        assert json.loads(ws.recv(timeout=5))["state"] == "paused"
        ws.send(json.dumps({"type": "hold"}))
        _until_words(ws, 2)
        ws.send(json.dumps({"type": "release"}))
        ws.send(json.dumps({"type": "hold"}))  # pressed again within the tail: the release is void
        events = collect(ws, timeout=4)
        assert [e["state"] for e in events if e["type"] == "status"] == []
        assert [e for e in events if e["type"] == "partial"]  # still hearing the same utterance
