"""``stenod bench daemon``: the daemon through a real sound server, idle cost, and fan-out.

It starts a private PulseAudio server with a null sink whose monitor is the default source, runs
``stenod run`` on it as a separate process, and measures: CPU use while the microphone hears silence,
RSS after start, final-text latency of a dictation session played into the sink (against the manifest's
utterance ends), beside ``stenod stream --fast`` latencies of the same file in this process, and the same
session again with 50 subscribers on ``/v1/events``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from stenod.net.auth import session_token
from stenod_bench.processes import stop

SESSION = "session_01_mixed_read"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _play_and_listen(port: int, env: dict[str, str], wav: Path, duration: float, subscribers: int
                     ) -> tuple[float, list[list[tuple[float, dict]]]]:
    """Play ``wav`` into the sink with ``subscribers`` connected.

    Returns where the file began in the daemon's audio time (seconds) and, per subscriber, the events with
    their arrival times relative to the start of playback.
    """
    from websockets.sync.client import connect

    received: list[list[tuple[float, dict]]] = [[] for _ in range(subscribers)]
    token = session_token(env)
    connections = [connect(f"ws://127.0.0.1:{port}/v1/events", open_timeout=10,
                           additional_headers={"Authorization": f"Bearer {token}"}) for _ in range(subscribers)]
    hello = json.loads(connections[0].recv(timeout=10))
    hello_at = time.monotonic()
    for ws in connections[1:]:
        ws.recv(timeout=10)

    def read(i: int) -> None:
        try:
            while True:
                raw = connections[i].recv(timeout=duration + 8)
                received[i].append((time.monotonic(), json.loads(raw)))
        except Exception:  # timeout or close: the playback is over
            return

    threads = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(subscribers)]
    for t in threads:
        t.start()
    started = time.monotonic()
    subprocess.run(["paplay", str(wav)], env=env, check=True)
    for t in threads:
        t.join()
    for ws in connections:
        ws.close()
    offset = hello["audio_ms"] / 1000 + (started - hello_at)
    return offset, [[(t - started, e) for t, e in sub] for sub in received]


def wait_until_healthy(port: int, daemon: subprocess.Popen, timeout: float = 180) -> None:
    """Return once the daemon on ``port`` answers ``/health``; RuntimeError if it exits or never does."""
    from urllib.request import urlopen

    deadline = time.monotonic() + timeout
    while True:
        try:
            urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise RuntimeError("the daemon did not start") from None
            time.sleep(0.5)


def _latencies(offset: float, events: list[tuple[float, dict]], segments: list[dict]) -> list[float]:
    """Per reference utterance, by the wall clock: arrival of the final holding its end (seconds after
    ``paplay`` started), minus the utterance's end in the file."""
    return [t - seg["end_s"] for seg in segments if (t := _covering(offset, events, seg)[0]) is not None]


def _audio_clock_latencies(offset: float, events: list[tuple[float, dict]], segments: list[dict]) -> list[float]:
    """The same finals by the daemon's own clock: the audio it had received when it sent each (``audio_ms``)."""
    out = []
    for seg in segments:
        _, event = _covering(offset, events, seg)
        if event is not None:
            out.append(event["audio_ms"] / 1000 - offset - seg["end_s"])
    return out


def _p90(values: list[float]) -> float:
    return float(sorted(values)[int(0.9 * (len(values) - 1))]) if values else float("nan")


def _covering(offset: float, events: list[tuple[float, dict]], seg: dict) -> tuple[float | None, dict | None]:
    finals = [(t, e) for t, e in events if e["type"] == "final" and e["start_ms"] / 1000 - offset < seg["end_s"]
              and e["end_ms"] / 1000 - offset >= seg["end_s"] - 1.0]
    return min(finals, key=lambda f: f[0]) if finals else (None, None)


def _aligned_offset(events: list[tuple[float, dict]], segments: list[dict], guess: float) -> float:
    """Where the file began in the daemon's audio time, from the speech it heard (not from ``hello``).

    Each ``speech_start`` lies about 0.3 s (the pre-roll) before an utterance's true start; the median
    difference over the session places the file on the daemon's clock whatever the clock did before.
    """
    starts = [e["start_ms"] / 1000 for _, e in events if e["type"] == "speech_start"]
    diffs = []
    for seg in segments:
        near = [s for s in starts if abs(s - guess - seg["start_s"]) < 1.5]
        if near:
            diffs.append(min(near, key=lambda s: abs(s - guess - seg["start_s"])) - seg["start_s"])
    return statistics.median(diffs) + 0.3 if diffs else guess


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stenod bench daemon", description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--idle-sink", action="store_true",
                        help="no stream of silence into the sink: its monitor delivers nothing between files")
    args = parser.parse_args(argv)

    from stenod.audio.classifiers import make_classifier
    from stenod.audio.files import load_audio
    from stenod.core.events import Final
    from stenod.engine.recognizer import WhisperRecognizer
    from stenod.engine.whisper import WhisperEngine
    from stenod.live.files import run_fast
    from stenod_bench.evaluation import load_manifest, word_error_rate
    from stenod_bench.pulse import start_pulse, stop_pulse
    from stenod_bench.stream import final_latencies

    item = next(i for i in load_manifest(kind="session") if i.id == SESSION)
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Path(tmp) / "run"
        pulse, env = start_pulse(runtime)
        keeper = None if args.idle_sink else subprocess.Popen(  # a live device never stops delivering
            ["pacat", "--playback", "--raw", "--format=s16le", "--rate=16000", "--channels=1", "/dev/zero"], env=env)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        daemon = subprocess.Popen([sys.executable, "-m", "stenod", "run", "--device", "pulse",
                                   "--listen", f"127.0.0.1:{port}"], env={**env, "XDG_CONFIG_HOME": tmp},
                                  stderr=subprocess.DEVNULL)
        try:
            wait_until_healthy(port, daemon)
            time.sleep(2)
            rss = _rss_mib(daemon.pid)
            cpu0, t0 = _cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(args.idle_seconds)
            idle = (_cpu_seconds(daemon.pid) - cpu0) / (time.monotonic() - t0)

            one_start, one = _play_and_listen(port, env, item.audio, item.duration, 1)
            many_start, many = _play_and_listen(port, env, item.audio, item.duration, args.subscribers)
        finally:
            stop(daemon)
            if keeper is not None:
                stop(keeper)
            stop_pulse(pulse, env)

    audio = load_audio(item.audio)
    fast = run_fast(audio, WhisperRecognizer(WhisperEngine.load("tiny.en", "int8")), make_classifier())
    fast_lat = [x for x in final_latencies(fast.events, item.segments) if x is not None]
    one_start = _aligned_offset(one[0], item.segments, one_start)
    many_start = _aligned_offset(many[0], item.segments, many_start)
    mic_lat = _latencies(one_start, one[0], item.segments)
    mic_audio_lat = _audio_clock_latencies(one_start, one[0], item.segments)
    fan_lat = _latencies(many_start, many[0], item.segments)
    finals_one = [e["text"] for _, e in one[0] if e["type"] == "final"]
    finals_many = [[e["text"] for _, e in sub if e["type"] == "final"] for sub in many]
    identical = all(f == finals_many[0] for f in finals_many)
    fast_text = " ".join(e.text for e in fast.events if isinstance(e, Final))

    sink = "idle before the file" if args.idle_sink else "kept running by a stream of silence"
    print(f"session {item.id} ({item.duration:.0f} s), tiny.en int8, through PulseAudio (null sink monitor, "
          f"{sink})\n")
    print(f"idle on silence: {100 * idle:.1f}% of one core over {args.idle_seconds:.0f} s;"
          f" RSS after start {rss:.0f} MiB")
    print(f"final latency, mic path, 1 subscriber, by the wall clock:  p50 {statistics.median(mic_lat):.2f} s,"
          f" max {max(mic_lat):.2f} s ({len(mic_lat)}/{len(item.segments)} utterances);"
          f" WER {word_error_rate([item.text], [' '.join(finals_one)]):.3f}")
    print(f"  the same finals by the daemon's audio clock (audio_ms): p50 {statistics.median(mic_audio_lat):.2f} s,"
          f" p90 {_p90(mic_audio_lat):.2f} s; wall minus audio clock at the finals: median "
          f"{statistics.median(w - a for w, a in zip(mic_lat, mic_audio_lat)):.2f} s; p90 by the wall clock "
          f"{_p90(mic_lat):.2f} s")
    print(f"final latency, stream --fast, same file: p50 {statistics.median(fast_lat):.2f} s,"
          f" max {max(fast_lat):.2f} s; WER {word_error_rate([item.text], [fast_text]):.3f}")
    print(f"final latency, mic path, {args.subscribers} subscribers: p50 {statistics.median(fan_lat):.2f} s,"
          f" max {max(fan_lat):.2f} s; every subscriber got the same {len(finals_many[0])} finals: {identical}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
