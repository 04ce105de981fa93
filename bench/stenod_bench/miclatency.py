"""``stenod bench mic``: where a virtual microphone's latency goes, hop by hop, by the wall clock.

A private PulseAudio server runs a null sink kept busy by a stream of silence (as a live device is); its
monitor is the microphone. Several readers listen to the monitor at once, each in its own process: ``parec``
(PulseAudio's native client, 20 ms fragments) and PortAudio through ALSA's pulse plugin as the daemon opens
it, with ``latency="low"``, and with ``PULSE_LATENCY_MSEC`` set. Clicks are played into the sink with
``paplay --latency-msec=10``; each reader notes (CLOCK_MONOTONIC, shared by all processes) when a click's
first loud sample reaches it. Reported per reader: the median and spread of that time after ``paplay`` was
started, so the differences between readers are what each capture path adds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

RATE = 16000
THRESHOLD = 0.2
READERS = {  # name: (how it reads, extra environment)
    "parec (native, 20 ms)": ("parec", {}),
    "PortAudio, default latency": ("portaudio-high", {}),
    "PortAudio, latency=low": ("portaudio-low", {}),
    "PortAudio, low + PULSE_LATENCY_MSEC=20": ("portaudio-low", {"PULSE_LATENCY_MSEC": "20"}),
}


def _detector(out: Path) -> Callable[[np.ndarray, float], None]:
    """A callable taking blocks of samples; it appends the time of each click's onset to ``out``."""
    state = {"quiet_since": 0.0}

    def feed(block: np.ndarray, now: float) -> None:
        loud = bool(np.max(np.abs(block)) > THRESHOLD) if len(block) else False
        if loud and now - state["quiet_since"] > 0.5:
            with out.open("a") as handle:
                handle.write(f"{now:.6f}\n")
        if loud:
            state["quiet_since"] = now

    return feed


def _read_parec(out: Path, stop_at: float) -> None:
    feed = _detector(out)
    proc = subprocess.Popen(["parec", "--latency-msec=20", "--raw", "--format=float32le", f"--rate={RATE}",
                             "--channels=1"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        while time.monotonic() < stop_at:
            data = proc.stdout.read(4 * 160)
            if not data:
                break
            feed(np.frombuffer(data, np.float32), time.monotonic())
    finally:
        proc.kill()
        proc.wait()


def _read_portaudio(out: Path, stop_at: float, latency: str) -> None:
    import sounddevice as sd

    feed = _detector(out)
    device = next(i for i, d in enumerate(sd.query_devices()) if d["name"] == "pulse")
    rate = int(sd.query_devices(device)["default_samplerate"])

    def callback(data: np.ndarray, frames: int, when: object, status: object) -> None:
        feed(data[:, 0].copy(), time.monotonic())

    with sd.InputStream(device=device, channels=1, samplerate=rate, blocksize=rate // 20, dtype="float32",
                        latency=latency, callback=callback):
        while time.monotonic() < stop_at:
            time.sleep(0.05)


def reader_main(kind: str, out: Path, seconds: float) -> int:
    stop_at = time.monotonic() + seconds
    if kind == "parec":
        _read_parec(out, stop_at)
    else:
        _read_portaudio(out, stop_at, kind.split("-", 1)[1])
    return 0


def _click(path: Path) -> None:
    import soundfile as sf

    samples = np.zeros(int(0.3 * RATE), np.float32)
    samples[:int(0.05 * RATE)] = 0.8 * np.sin(2 * np.pi * 1000 * np.arange(int(0.05 * RATE)) / RATE)
    sf.write(path, samples, RATE)


def _session(tmp: Path, names: list[str], args: argparse.Namespace) -> tuple[dict, list[float]]:
    """One PulseAudio server, the named readers on its monitor, the clicks; (readers, play times)."""
    from stenod_bench.processes import stop
    from stenod_bench.pulse import start_pulse, stop_pulse

    pulse, env = start_pulse(tmp / "run")
    click = tmp / "click.wav"
    _click(click)
    keeper_latency = [f"--latency-msec={args.keeper_latency_ms}"] if args.keeper_latency_ms else []
    keeper = None if args.idle_sink else subprocess.Popen(
        ["pacat", "--playback", *keeper_latency, "--raw", "--format=s16le", f"--rate={RATE}", "--channels=1",
         "/dev/zero"], env=env)
    seconds = 4 + 1.5 * args.clicks
    readers: dict[str, tuple[Path, subprocess.Popen]] = {}
    played: list[float] = []
    try:
        for name in names:
            kind, extra = READERS[name]
            out = tmp / f"{kind}-{len(readers)}-{time.monotonic_ns()}.txt"
            out.touch()
            readers[name] = (out, subprocess.Popen(
                [sys.executable, "-m", "stenod_bench.miclatency", "--reader", kind, "--out", str(out),
                 "--seconds", str(seconds)], env={**env, **extra}))
        time.sleep(3)
        player = [f"--latency-msec={args.player_latency_ms}"] if args.player_latency_ms else []
        for _ in range(args.clicks):
            played.append(time.monotonic())
            subprocess.run(["paplay", *player, str(click)], env=env, check=True)
            time.sleep(1.5 - (time.monotonic() - played[-1]) % 1.5)
        for _, proc in readers.values():
            proc.wait(timeout=seconds + 10)
    finally:
        for _, proc in readers.values():
            stop(proc)
        if keeper is not None:
            stop(keeper)
        stop_pulse(pulse, env)
    return readers, played


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stenod bench mic", description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument("--idle-sink", action="store_true", help="no stream of silence: the sink idles between clicks")
    parser.add_argument("--keeper-latency-ms", type=int, default=0,
                        help="the silence stream's --latency-msec (0: pacat's default, which asks for no low latency)")
    parser.add_argument("--player-latency-ms", type=int, default=10,
                        help="paplay's --latency-msec (0: paplay's default buffering, as a plain paplay plays)")
    parser.add_argument("--together", action="store_true",
                        help="all readers on one server (the lowest latency any of them asks for applies to all)")
    parser.add_argument("--reader", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reader:
        return reader_main(args.reader, args.out, args.seconds)
    groups = [list(READERS)] if args.together else [[name] for name in READERS]
    print(f"{args.clicks} clicks played with "
          f"{f'paplay --latency-msec={args.player_latency_ms}' if args.player_latency_ms else 'plain paplay'} "
          f"into a null sink ({'idle between clicks' if args.idle_sink else 'kept busy by a stream of silence'}"
          f"); each reader {'beside the others' if args.together else 'alone on its own server'}; from "
          "paplay's start to the click's first loud sample:\n")
    with tempfile.TemporaryDirectory() as tmp:
        for group in groups:
            readers, played = _session(Path(tmp), group, args)
            _report(readers, played)
    return 0


def _report(readers: dict[str, tuple[Path, subprocess.Popen]], played: list[float]) -> None:
    for name, (out, _) in readers.items():
        seen = [float(x) for x in out.read_text().split()]
        delays = [min((s - p for s in seen if 0 <= s - p < 1.4), default=None) for p in played]
        got = [d for d in delays if d is not None]
        if not got:
            print(f"  {name:42} no clicks heard", flush=True)
            continue
        print(f"  {name:42} median {1000 * statistics.median(got):5.0f} ms   min {1000 * min(got):5.0f}"
              f"   max {1000 * max(got):5.0f}   ({len(got)}/{len(played)} heard)", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
