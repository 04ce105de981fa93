"""``stenod check``: listen to the input for a few seconds with a level meter, run the VAD and the model over
what came in, and say whether stenod hears you, and if not, what to do next. No daemon is needed.

Exit status 0 when speech was heard and transcribed, 1 otherwise (a device that cannot be opened too).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import numpy as np

from stenod.audio.files import load_audio
from stenod.audio.mic import DeviceError, choose_device
from stenod.check.listen import record
from stenod.check.meter import Meter
from stenod.check.understand import understand
from stenod.check.verdict import judge
from stenod.config import Config
from stenod.core import SAMPLE_RATE

DEFAULT_SECONDS = 5.0
DEVICE_STEP = ("if another program holds the device (a running `stenod run`: systemctl --user stop stenod), stop "
               "it first, or pick another device with --device (stenod devices lists them)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: expected a number of seconds") from None
    if not 0.5 <= value <= 600:  # less than half a second is too little audio to say anything about
        raise argparse.ArgumentTypeError(f"{text}: expected 0.5 to 600 seconds")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", "-d", default=None,
                   help="input device: index or name substring (default: audio.device, else the system's)")
    p.add_argument("--seconds", type=_seconds, default=DEFAULT_SECONDS,
                   help=f"how long to listen (default {DEFAULT_SECONDS:g})")
    p.add_argument("--input", default=None, metavar="FILE", help="check this audio file instead of the microphone")
    p.add_argument("--config", "-c", default=None, help="config file (default: $XDG_CONFIG_HOME/stenod/config.toml)")
    p.add_argument("--model", "-m", default=None, help="the model to transcribe with (default: [model] name)")
    p.add_argument("--precision", choices=["int8", "fp32"], default=None, help="weights ([model] precision)")
    p.add_argument("--threads", type=int, default=None, help="inference threads ([model] threads)")
    p.add_argument("--language", "-l", default=None, help="language code ([model] language)")
    p.add_argument("--vad", choices=["silero", "webrtc"], default=None, help="voice-activity detector ([stream] vad)")


def run(args: argparse.Namespace, config: Config, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.input:
        audio = load_audio(args.input)
        say(out, f"checking {args.input} ({len(audio) / SAMPLE_RATE:.1f} s)")
    else:
        try:
            audio = _listen(config, args.seconds, out)
        except DeviceError as exc:
            say(out, f"stenod check: {exc}")
            say(out, f"next: {DEVICE_STEP}")
            return 1
    say(out, f"transcribing with {config.model.name}…")
    verdict = judge(understand(audio, config))
    for line in verdict.lines:
        say(out, line)
    say(out, f"{'ok' if verdict.ok else 'next'}: {verdict.next_step}")
    return 0 if verdict.ok else 1


def say(out: TextIO, line: str) -> None:
    print(line, file=out, flush=True)


def _listen(config: Config, seconds: float, out: TextIO) -> np.ndarray:
    """``seconds`` from the configured input device, its level shown as it comes."""
    device = choose_device(config.audio.device)
    say(out, f"listening to {device['name']} for {seconds:g} s: say something…")
    meter = Meter(out)
    try:
        audio = record(device, seconds, config.audio.block_ms, meter)
    finally:
        meter.close()
    if len(audio) < seconds * SAMPLE_RATE:
        say(out, f"{device['name']} delivered only {len(audio) / SAMPLE_RATE:.1f} s of audio")
    return audio
