"""Decoding configurations side by side on every dictation session: WER, latency, CPU and memory.

Each configuration runs in its own process, one after the other (two engines' thread pools in one process
disturb each other, and a process's peak RSS is then that configuration's own). A configuration is written
``MODEL[/FINAL_MODEL][+beamN]``: ``tiny.en`` (today's default), ``tiny.en+beam5`` (beam search for finals),
``tiny.en/base`` (finals from base over tiny.en partials); ``auto`` is what the daemon would choose on this
machine, ``ufal`` whisper_streaming's LocalAgreement policy (beam 5, 1 s chunks) on the same engine.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stenod.engine.recognizer import WhisperRecognizer

DEFAULT_CONFIGS = "tiny.en,tiny.en+beam5,base,tiny.en/base,tiny.en/base+beam5,auto,ufal"


@dataclass(frozen=True)
class Spec:
    label: str
    model: str
    final_model: str = ""
    final_beam: int = 1
    policy: str = "stenod"  # or "ufal"


def parse_spec(text: str) -> Spec:
    """``tiny.en/base+beam5`` → Spec(model tiny.en, final model base, beam 5)."""
    if text in ("ufal", "auto"):
        return Spec(text, "tiny.en", policy=text)
    match = re.fullmatch(r"(?P<model>[^/+]+)(?:/(?P<final>[^/+]+))?(?:\+beam(?P<beam>\d+))?", text)
    if match is None:
        raise SystemExit(f"configuration {text!r}: expected MODEL[/FINAL_MODEL][+beamN], auto or ufal")
    return Spec(text, match["model"], match["final"] or "", int(match["beam"] or 1))


def build_recognizer(spec: Spec, precision: str, threads: int | None) -> tuple[WhisperRecognizer, str]:
    """The recogniser a configuration names, and (for ``auto``) what was chosen and why."""
    from stenod.engine.whisper import WhisperEngine

    if spec.policy == "auto":
        from stenod.config import Config, ModelConfig
        from stenod.tuning import load_recognizer

        recognizer = load_recognizer(Config(model=ModelConfig(precision=precision, threads=threads or 0)))
        beam = recognizer.final_options.beam_size
        return recognizer, f"{recognizer.name}, final beam {beam}: {recognizer.beam_reason}"
    engine = WhisperEngine.load(spec.model, precision, threads)
    final = None
    if spec.final_model and spec.final_model != spec.model:
        final = WhisperEngine.load(spec.final_model, precision, threads)
    return WhisperRecognizer(engine, final, spec.final_beam), ""


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure(spec: Spec, precision: str, threads: int | None, vad: str) -> dict:
    """Run one configuration over every session (in this process) and return its figures."""
    from stenod.audio.classifiers import make_classifier
    from stenod.audio.files import load_audio
    from stenod.core.events import Final
    from stenod.engine.decoding import DecodingOptions
    from stenod.engine.transcribe import TranscribeOptions, transcribe
    from stenod.live.files import run_fast
    from stenod_bench.evaluation import load_manifest, word_error_rate
    from stenod_bench.stream import final_latencies, first_partial_latencies

    sessions = load_manifest(kind="session")
    audios = {item.id: load_audio(item.audio) for item in sessions}
    recognizer, chosen = build_recognizer(spec, precision, threads)
    loaded_rss = _peak_rss_mib()
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    finals, latencies, firsts = {}, [], []
    for item in sessions:
        if spec.policy == "ufal":
            from stenod_bench.ufal import run_ufal

            events = run_ufal(audios[item.id], recognizer.engine, make_classifier(vad))
        else:
            events = run_fast(audios[item.id], recognizer, make_classifier(vad)).events
        finals[item.id] = " ".join(e.text for e in events if isinstance(e, Final))
        latencies += [x for x in final_latencies(events, item.segments) if x is not None]
        firsts += [x for x in first_partial_latencies(events, item.segments) if x is not None]
    cpu = _cpu_s() - cpu0
    wall = time.perf_counter() - wall0
    peak = _peak_rss_mib()
    speech_s = sum(seg["end_s"] - seg["start_s"] for item in sessions for seg in item.segments)
    engine = recognizer.final_engine
    beam = recognizer.final_options.beam_size if spec.policy != "ufal" else 5
    offline = {item.id: " ".join(s.text.strip() for s in transcribe(
        engine, audios[item.id], TranscribeOptions(language="en", decoding=DecodingOptions(beam_size=beam)))[0])
        for item in sessions}
    refs = [item.text for item in sessions]
    return {"label": spec.label, "chosen": chosen, "utterances": sum(len(i.segments) for i in sessions),
            "wer": word_error_rate(refs, [finals[i.id] for i in sessions]),
            "offline_wer": word_error_rate(refs, [offline[i.id] for i in sessions]),
            "wer_whisper_norm": word_error_rate(refs, [finals[i.id] for i in sessions], "whisper"),
            "offline_wer_whisper_norm": word_error_rate(refs, [offline[i.id] for i in sessions], "whisper"),
            "final_p50": _pct(latencies, 50), "final_p90": _pct(latencies, 90), "finals_timed": len(latencies),
            "first_p50": _pct(firsts, 50), "cpu_per_speech_s": cpu / speech_s, "wall_s": wall,
            "loaded_rss_mib": loaded_rss, "peak_rss_mib": peak, "finals": finals}


def _run_child(spec: str, args: argparse.Namespace) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="stenod-bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "stenod_bench.configurations", "--one", spec, "--json", str(out),
                   "--precision", args.precision, "--vad", args.vad]
        if args.threads:
            command += ["--threads", str(args.threads)]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"{spec}: failed ({tail})", file=sys.stderr)
            return None
        result: dict = json.loads(out.read_text())
        return result


def print_table(results: list[dict]) -> None:
    print(f"{'configuration':22}{'WER':>7}{'offline':>9}{'WER-w':>7}{'off-w':>7}{'final p50':>11}{'p90':>7}"
          f"{'first p50':>11}{'CPU-s/s':>9}{'peak RSS':>10}")
    for r in results:
        print(f"{r['label'][:21]:22}{r['wer']:7.3f}{r['offline_wer']:9.3f}{r.get('wer_whisper_norm', 0):7.3f}"
              f"{r.get('offline_wer_whisper_norm', 0):7.3f}{r['final_p50']:11.2f}{r['final_p90']:7.2f}"
              f"{r['first_p50']:11.2f}{r['cpu_per_speech_s']:9.2f}{r['peak_rss_mib']:8.0f} M")
    print("WER: stenod's normaliser (digits spelled out); WER-w, off-w: Whisper's English normaliser")
    for r in results:
        if r["chosen"]:
            print(f"  {r['label']}: {r['chosen']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stenod bench stream --configs", description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help=f"comma-separated (default {DEFAULT_CONFIGS})")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--precision", default="int8", choices=["int8", "fp32"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--vad", default="silero")
    args = parser.parse_args(argv)
    if args.one:
        result = measure(parse_spec(args.one), args.precision, args.threads, args.vad)
        if args.json:
            args.json.write_text(json.dumps(result))
        return 0
    specs = [s for s in args.configs.split(",") if s]
    for spec in specs:
        parse_spec(spec)
    print(f"every dictation session, fast mode (virtual clock), {args.precision}, VAD {args.vad}; "
          "one process per configuration, one after the other\n")
    results: list[dict] = []
    for spec in specs:
        row = _run_child(spec, args)
        if row is not None:
            results.append(row)
            print(f"  {spec}: WER {row['wer']:.3f}, final p50 {row['final_p50']:.2f} s, "
                  f"{row['cpu_per_speech_s']:.2f} CPU-s/s, peak {row['peak_rss_mib']:.0f} MiB", flush=True)
    print()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if len(results) == len(specs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
