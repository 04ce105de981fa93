"""``stenod bench ptt``: push-to-talk's release → final, beside the VAD's end of an utterance, by the wall clock.

A private PulseAudio server's null sink is the microphone (kept live by a stream of silence), and ``stenod run
--paused`` listens to it. Each dev utterance is played twice with ``paplay``, and the moment ``paplay`` returns
(the file has been heard to its end, as a person lets go of the key when done) is the reference:

- **push-to-talk**: ``hold`` before playing, ``release`` at that moment; the final ends the utterance at once;
- **voice activity**: ``resume`` before playing; the final comes once the VAD has heard 450 ms of silence.

The latency of each is the time from that moment to the final's arrival; WER of both against the references.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from stenod.net.auth import session_token
from stenod_bench.daemon import wait_until_healthy
from stenod_bench.processes import stop


def _p90(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(0.9 * len(values)))]


def _finals_after(ws, since: int, timeout: float) -> tuple[list[str], float | None]:  # type: ignore[no-untyped-def]
    """Finals until the utterances opened after event ``since`` are closed; the first final's arrival time."""
    open_ids: set[int] = set()
    finals: list[str] = []
    first: float | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = json.loads(ws.recv(timeout=max(0.05, deadline - time.monotonic())))
        except TimeoutError:
            break
        if event["type"] == "speech_start":
            open_ids.add(event["utterance_id"])
        elif event["type"] == "final":
            finals.append(event["text"])
            first = first if first is not None else time.monotonic()
        elif event["type"] == "speech_end":
            open_ids.discard(event["utterance_id"])
            if not open_ids and (finals or event.get("discarded")):
                break
    return finals, first


def _drain(ws) -> None:  # type: ignore[no-untyped-def]
    while True:
        try:
            ws.recv(timeout=0.3)
        except TimeoutError:
            return


def _one(ws, env: dict[str, str], wav: Path, mode: str) -> tuple[list[str], float | None]:  # type: ignore[no-untyped-def]
    ws.send(json.dumps({"type": "hold" if mode == "ptt" else "resume"}))
    _drain(ws)
    subprocess.run(["paplay", str(wav)], env=env, check=True)
    heard = time.monotonic()
    if mode == "ptt":
        ws.send(json.dumps({"type": "release"}))
    finals, first = _finals_after(ws, 0, timeout=30)
    if mode != "ptt":
        ws.send(json.dumps({"type": "pause"}))
    _drain(ws)
    return finals, (first - heard if first is not None else None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stenod bench ptt", description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=20, help="dev utterances to play (the first N, 2-12 s)")
    args = parser.parse_args(argv)

    from websockets.sync.client import connect

    from stenod_bench.evaluation import load_manifest, word_error_rate
    from stenod_bench.pulse import start_pulse, stop_pulse

    items = [i for i in load_manifest() if 2 <= i.duration <= 12][: args.utterances]
    results: dict[str, list[tuple[list[str], float | None]]] = {"ptt": [], "vad": []}
    with tempfile.TemporaryDirectory() as tmp:
        pulse, env = start_pulse(Path(tmp) / "run")
        keeper = daemon = None
        try:
            keeper = subprocess.Popen(["pacat", "--playback", "--raw", "--format=s16le", "--rate=16000",
                                       "--channels=1", "/dev/zero"], env=env)
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            daemon = subprocess.Popen([sys.executable, "-m", "stenod", "run", "--paused", "--device", "pulse",
                                       "--listen", f"127.0.0.1:{port}"], env={**env, "XDG_CONFIG_HOME": tmp},
                                      stderr=subprocess.DEVNULL)
            wait_until_healthy(port, daemon)
            with connect(f"ws://127.0.0.1:{port}/v1/events",
                         additional_headers={"Authorization": f"Bearer {session_token(env)}"}) as ws:
                ws.recv(timeout=10)
                for item in items:
                    for mode in ("ptt", "vad"):  # side by side, utterance by utterance
                        results[mode].append(_one(ws, env, item.audio, mode))
        finally:
            for proc in (daemon, keeper):
                if proc is not None:
                    stop(proc)
            stop_pulse(pulse, env)

    print(f"{len(items)} dev utterances (2-12 s), tiny.en int8, through PulseAudio; latency from the end of "
          "playback (the key's release) to the final, by the wall clock\n")
    print(f"{'mode':<16} {'p50':>6} {'p90':>6} {'max':>6}  {'WER':>6}")
    medians = {}
    for mode, label in (("ptt", "push-to-talk"), ("vad", "voice activity")):
        latencies = [lat for _, lat in results[mode] if lat is not None]
        if not latencies:
            print(f"{label:<16} no final arrived")
            return 1
        hyps = [" ".join(finals) for finals, _ in results[mode]]
        wer = word_error_rate([i.text for i in items], hyps)
        medians[mode] = statistics.median(latencies)
        print(f"{label:<16} {medians[mode]:6.2f} {_p90(latencies):6.2f} {max(latencies):6.2f}  {wer:6.3f}"
              f"   ({len(latencies)}/{len(items)} with a final)")
    print(f"\npush-to-talk's finals arrive {medians['vad'] / medians['ptt']:.1f}x sooner (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
