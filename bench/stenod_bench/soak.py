"""Soak: hours of dictation through the daemon, many subscribers, faults on the way; nothing may be lost.

A private PulseAudio server (null-sink monitor as the microphone) and ``stenod run`` on it. Audio goes in
two ways at once: the dev-set sessions looped with silences through ``/v1/listen`` as fast as the daemon
takes them, and the same loop played into the virtual microphone in real time. Subscribers on
``/v1/events``: most read everything, some are slow readers, some drop their connection now and then and
resume with ``since``. Meanwhile: a control flood, malformed messages, a few hundred connections that come
and go, and the microphone's sink unloaded and loaded again.

At the end, every subscriber that stayed must hold each final the daemon counted as published
(``stenod_finals_total``) exactly once, and the daemon's RSS, file descriptors and tasks must be flat. Usage::

    python bench/stenod_bench/soak.py --listen-hours 1 --mic-minutes 10 --subscribers 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from stenod.audio.files import load_audio
from stenod.net.auth import session_token
from stenod_bench.evaluation import eval_dir as default_eval_dir
from stenod_bench.processes import stop as stop_process
from stenod_bench.pulse import SINK, start_pulse, stop_pulse

SESSIONS = ["session_01_mixed_read", "session_02_commands_numbers", "session_03_long_passages",
            "session_01_mixed_read_noisy_snr12", "session_03_long_passages_noisy_snr10"]


@dataclass
class Subscriber:
    name: str
    kind: str  # steady, slow or reconnecting
    finals: list[int] = field(default_factory=list)  # seq of each final received
    reconnects: int = 0
    dropped: str = ""


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and line[0] != "#"}


def _playlist(eval_dir: Path, seconds: float, rate: int = 16000) -> np.ndarray:
    """The sessions looped, each followed by 3 s of silence, ``seconds`` long."""
    pieces, total = [], 0
    parts = [load_audio(eval_dir / "sessions" / f"{name}.wav") for name in SESSIONS]
    gap = np.zeros(3 * rate, np.float32)
    while total < seconds * rate:
        for part in parts:
            pieces += [part, gap]
            total += len(part) + len(gap)
    return np.concatenate(pieces)[: int(seconds * rate)]


async def _subscribe(url: str, headers: dict[str, str], sub: Subscriber, stop: asyncio.Event) -> None:
    last: int | None = None
    stream = ""
    while not stop.is_set():
        query = "" if last is None else f"?since={last}&stream={stream}"
        try:
            async with connect(f"{url}/v1/events{query}", additional_headers=headers, max_size=2**22) as ws:
                hangup = time.monotonic() + random.uniform(10, 40) if sub.kind == "reconnecting" else float("inf")
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
                    except TimeoutError:
                        if time.monotonic() > hangup:
                            break
                        continue
                    event = json.loads(raw)
                    if event["type"] == "hello":
                        if event["stream"] != stream:
                            stream, last = event["stream"], event["seq"] if last is None else 0
                        continue
                    if event["type"] in ("pong", "error"):
                        continue
                    if last is not None and event["seq"] <= last:
                        continue
                    last = event["seq"]
                    if event["type"] == "final":
                        sub.finals.append(event["seq"])
                    if sub.kind == "slow":
                        await asyncio.sleep(0.2)
                    if time.monotonic() > hangup:
                        break
            if sub.kind == "reconnecting" and not stop.is_set():
                sub.reconnects += 1
                await asyncio.sleep(random.uniform(0.5, 3.0))
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == 1008:
                sub.dropped = exc.rcvd.reason
                return
            await asyncio.sleep(1.0)
        except OSError:
            await asyncio.sleep(1.0)


async def _all_received(subs: list[Subscriber], port: int, baseline: dict[str, float], timeout: float = 60.0) -> int:
    """The number of finals the daemon published (``stenod_finals_total``, since ``baseline``), once every
    subscriber still connected holds that many, or ``timeout`` seconds passed (then some were lost)."""
    deadline = time.monotonic() + timeout
    while True:
        published = int(_metrics(port)["stenod_finals_total"] - baseline["stenod_finals_total"])
        behind = [s for s in subs if not s.dropped and len(set(s.finals)) < published]
        if not behind or time.monotonic() > deadline:
            return published
        await asyncio.sleep(0.5)


async def _listen(url: str, headers: dict[str, str], audio: np.ndarray, counters: dict[str, float]) -> None:
    """Stream ``audio`` to /v1/listen as fast as the daemon decodes it, in 10-minute connections.

    The client keeps at most 30 s of audio ahead of the newest decoded point (the ``end_ms`` of the
    stream's latest partial or final), or waits until the stream has been quiet for 2 s (silence
    needs no decoding).
    """
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    chunk, piece = 16000, 600 * 16000
    for start in range(0, len(pcm), piece):
        part = pcm[start:start + piece]
        progress = {"decoded_s": 0.0, "heard": time.monotonic()}
        async with connect(f"{url}/v1/listen", additional_headers=headers, max_size=2**22) as ws:
            await ws.recv()

            async def read(ws: ClientConnection = ws, progress: dict[str, float] = progress) -> None:
                async for raw in ws:
                    event = json.loads(raw)
                    progress["heard"] = time.monotonic()
                    if "end_ms" in event:
                        progress["decoded_s"] = max(progress["decoded_s"], event["end_ms"] / 1000)
                    if event["type"] == "final":
                        counters["listen_finals"] += 1

            reader = asyncio.create_task(read())
            for at in range(0, len(part), chunk):
                await ws.send(part[at:at + chunk].tobytes())
                counters["listen_audio_s"] += len(part[at:at + chunk]) / 16000
                sent = (at + chunk) / 16000
                while sent - progress["decoded_s"] > 30 and time.monotonic() - progress["heard"] < 2.0:
                    await asyncio.sleep(0.1)
            await ws.send(json.dumps({"type": "end"}))
            await reader
        counters["listen_streams"] += 1


async def _faults(url: str, headers: dict[str, str], env: dict[str, str], counters: dict[str, float],
                  stop: asyncio.Event, period: float) -> None:
    """Every ``period`` seconds, one of the faults, in turn."""
    turn = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=period)
            return
        except TimeoutError:
            pass
        fault = turn % 4
        turn += 1
        try:
            if fault == 0:  # a control flood
                async with connect(f"{url}/v1/events", additional_headers=headers) as ws:
                    await ws.recv()
                    try:
                        for _ in range(3000):
                            await ws.send(json.dumps({"type": "ping"}))
                        async for _ in ws:
                            pass
                    except ConnectionClosed:
                        pass
                counters["floods"] += 1
            elif fault == 1:  # malformed messages
                async with connect(f"{url}/v1/events", additional_headers=headers) as ws:
                    await ws.recv()
                    for raw in ("[" * 100_000, "nope", '{"type": 1}', b"\x00\x01"):
                        await ws.send(raw)
                        await ws.recv()
                counters["malformed"] += 4
            elif fault == 2:  # connections that come and go
                for i in range(300):
                    async with connect(f"{url}/v1/events", additional_headers=headers) as ws:
                        if i % 2:
                            await ws.recv()
                counters["churn"] += 300
            else:  # the microphone's sink unloaded and loaded again
                modules = subprocess.run(["pactl", "list", "short", "modules"], env=env, capture_output=True,
                                         text=True).stdout
                index = next((line.split()[0] for line in modules.splitlines() if "module-null-sink" in line), None)
                if index is not None:
                    subprocess.run(["pactl", "unload-module", index], env=env)
                    await asyncio.sleep(3.0)
                    subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={SINK}", "rate=48000"],
                                   env=env, capture_output=True)
                    for args in (["set-default-sink", SINK], ["set-default-source", f"{SINK}.monitor"]):
                        subprocess.run(["pactl", *args], env=env)
                    counters["device_losses"] += 1
        except (OSError, ConnectionClosed) as exc:
            print(f"fault {fault} client: {exc}", file=sys.stderr)


async def _mic(env: dict[str, str], audio: np.ndarray, folder: Path, stop: asyncio.Event,
               counters: dict[str, float]) -> None:
    """Play ``audio`` into the virtual microphone in real time (restarting paplay after a sink reload)."""
    import soundfile

    wav = folder / "mic.wav"
    soundfile.write(wav, audio, 16000, subtype="PCM_16")
    total = len(audio) / 16000
    started = time.monotonic()
    offset = 0.0
    while offset < total and not stop.is_set():
        clip = folder / "mic-rest.wav"
        soundfile.write(clip, audio[int(offset * 16000):], 16000, subtype="PCM_16")
        player = await asyncio.create_subprocess_exec("paplay", str(clip), env=env,
                                                      stderr=asyncio.subprocess.DEVNULL)
        began = time.monotonic()
        await player.wait()
        offset += time.monotonic() - began
        counters["mic_audio_s"] = min(total, offset)
        await asyncio.sleep(1.0)
    counters["mic_wall_s"] = time.monotonic() - started


async def soak(args: argparse.Namespace) -> dict:
    eval_dir = args.eval_dir or default_eval_dir()
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM (a test run's timeout, a CI job cancelled) cancels the soak, so the daemon and the sound server
    # it started are stopped by the clean-up below instead of being left behind.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    with tempfile.TemporaryDirectory(prefix="stenod-soak-") as tmp:
        folder = Path(tmp)
        pulse, env = start_pulse(folder / "xdg")
        port = args.port
        env = {**env, "XDG_CONFIG_HOME": str(folder / "config")}
        daemon: subprocess.Popen | None = None
        url = f"ws://127.0.0.1:{port}"
        try:
            with (folder / "daemon.log").open("w") as log:
                daemon = subprocess.Popen([sys.executable, "-m", "stenod", "run", "--device", "pulse", "--listen",
                                           f"127.0.0.1:{port}"], env=env, stderr=log)
            deadline = time.monotonic() + 180
            while True:
                try:
                    _metrics(port)
                    break
                except OSError:
                    if time.monotonic() > deadline or daemon.poll() is not None:
                        log_tail = (folder / "daemon.log").read_text()[-2000:]
                        raise SystemExit(f"the daemon did not start: {log_tail}") from None
                    await asyncio.sleep(0.5)
            token = session_token(env)
            headers = {"Authorization": f"Bearer {token}"}
            baseline = _metrics(port)
            stop = asyncio.Event()
            counts = {"steady": args.subscribers - 2 * (args.subscribers // 10),
                      "slow": args.subscribers // 10, "reconnecting": args.subscribers // 10}
            subs = [Subscriber(f"{kind}-{i}", kind) for kind, n in counts.items() for i in range(n)]
            tasks = [asyncio.create_task(_subscribe(url, headers, s, stop)) for s in subs]
            reference = Subscriber("reference", "steady")
            tasks.append(asyncio.create_task(_subscribe(url, headers, reference, stop)))
            await asyncio.sleep(3.0)
            counters: dict[str, float] = dict.fromkeys(
                ("listen_audio_s", "listen_finals", "listen_streams", "floods", "malformed", "churn",
                 "device_losses", "mic_audio_s"), 0.0)
            samples: list[dict[str, float]] = []

            async def watch() -> None:
                while not stop.is_set():
                    samples.append(_metrics(port))
                    await asyncio.sleep(10)

            watcher = asyncio.create_task(watch())
            faults = asyncio.create_task(_faults(url, headers, env, counters, stop, args.fault_period))
            mic = asyncio.create_task(_mic(env, _playlist(eval_dir, args.mic_minutes * 60), folder, stop, counters))
            began = time.monotonic()
            await _listen(url, headers, _playlist(eval_dir, args.listen_hours * 3600), counters)
            await mic
            await asyncio.sleep(8.0)  # the last utterance is closed and decoded
            published = await _all_received([reference, *subs], port, baseline)
            stop.set()
            await asyncio.gather(faults, watcher, *tasks, return_exceptions=True)
            await asyncio.sleep(3.0)  # every subscriber has left
            end = _metrics(port)
            wall = time.monotonic() - began
        finally:
            if daemon is not None:
                stop_process(daemon, grace=60)
            stop_pulse(pulse, env)
    # The daemon's own count of the finals it published is the truth: a final lost for every subscriber alike
    # counts as lost too.
    staying = [s for s in [reference, *subs] if not s.dropped]
    lost = {s.name: max(0, published - len(set(s.finals))) for s in staying}
    repeated = {s.name: len(s.finals) - len(set(s.finals)) for s in staying}
    return {
        "wall_s": round(wall, 1),
        "audio_hours": round((counters["listen_audio_s"] + counters["mic_audio_s"]) / 3600, 3),
        "listen_audio_h": round(counters["listen_audio_s"] / 3600, 3),
        "mic_audio_h": round(counters["mic_audio_s"] / 3600, 3),
        "listen_finals": int(counters["listen_finals"]),
        "mic_finals": published,
        "reference_finals": len(set(reference.finals)),
        "subscribers": len(subs) + 1,
        "subscribers_dropped": {s.name: s.dropped for s in subs if s.dropped},
        "reconnects": sum(s.reconnects for s in subs),
        "finals_lost": sum(lost.values()),
        "finals_repeated": sum(repeated.values()),
        "faults": {k: int(counters[k]) for k in ("floods", "malformed", "churn", "device_losses")},
        # RSS before any audio, a quarter of the way in (the engine's arenas have grown to their size), the end
        "rss_mib": [round(baseline["stenod_resident_bytes"] / 2**20),
                    round(samples[len(samples) // 4]["stenod_resident_bytes"] / 2**20) if samples else 0,
                    round(end["stenod_resident_bytes"] / 2**20)],
        "fds": [int(baseline["stenod_open_fds"]), int(end["stenod_open_fds"])],
        "tasks": [int(baseline["stenod_tasks"]), int(end["stenod_tasks"])],
        "max_lag_s": round(max((m["stenod_lag_seconds"] for m in samples), default=0.0), 2),
        "rss_mib_max": round(max((m["stenod_resident_bytes"] for m in samples), default=0.0) / 2**20),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen-hours", type=float, default=1.0, help="audio sent through /v1/listen")
    parser.add_argument("--mic-minutes", type=float, default=10.0, help="audio played into the microphone")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--fault-period", type=float, default=60.0, help="seconds between injected faults")
    parser.add_argument("--port", type=int, default=7791)
    parser.add_argument("--eval-dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(soak(args))
    except asyncio.CancelledError:
        print("soak: stopped by SIGTERM", file=sys.stderr)
        return 128 + signal.SIGTERM
    print(json.dumps(result, indent=None if args.json else 2))
    return 0 if result["finals_lost"] == 0 and result["finals_repeated"] == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
