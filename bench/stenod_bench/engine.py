"""``stenod bench engine``: this engine against faster-whisper, each in its own process, interleaved.

The driver starts one worker process per engine per round (rotating the order), so thread pools
never share a process and drift on a busy machine hits every engine alike. Each worker loads its
engine, times the encoder (30 s window and short windows), the decoder per token and a transcription
of the English dev set, and prints one JSON line. The driver reports min and median over rounds
and the ratios of stenod to faster-whisper at the same precision.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ENGINES = ("stenod-fp32", "stenod-int8", "fw-float32", "fw-int8")
SHORT_SECONDS = (2, 5, 10)


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best_ms(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


class _Stenod:
    def __init__(self, model: str, precision: str, threads: int) -> None:
        from stenod.engine.decoding import DecodingOptions
        from stenod.engine.transcribe import TranscribeOptions, transcribe
        from stenod.engine.whisper import WhisperEngine

        self.engine = WhisperEngine.load(model, precision, threads)
        self._transcribe = transcribe
        self._options = TranscribeOptions(language="en")
        self._greedy = DecodingOptions(temperature=(0.0,), without_timestamps=True)

    def encode(self, mel: np.ndarray) -> object:
        return self.engine.encode(mel)

    def decode_tokens(self, encoded: object, max_new: int | None) -> int:
        from dataclasses import replace

        prompt = [*self.engine.tokenizer.sot_sequence("en"), self.engine.tokenizer.no_timestamps]
        result = self.engine.decode(encoded, prompt, replace(self._greedy, max_new_tokens=max_new))  # type: ignore[arg-type]
        return len(result.tokens)

    def transcribe(self, audio: np.ndarray) -> str:
        return "".join(s.text for s in self._transcribe(self.engine, audio, self._options)[0])


class _FasterWhisper:
    def __init__(self, model_dir: str, compute_type: str, threads: int) -> None:
        import ctranslate2
        from faster_whisper import WhisperModel

        self.model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads)
        self._ct2 = ctranslate2
        self._prompt = [self.model.hf_tokenizer.token_to_id("<|startoftranscript|>"),
                        self.model.hf_tokenizer.token_to_id("<|notimestamps|>")]

    def encode(self, mel: np.ndarray) -> object:
        return self.model.model.encode(self._ct2.StorageView.from_array(np.ascontiguousarray(mel[None])))

    def decode_tokens(self, encoded: object, max_new: int | None) -> int:
        result = self.model.model.generate(encoded, [self._prompt], beam_size=1,
                                           max_length=len(self._prompt) + max_new if max_new else 448,
                                           suppress_blank=True, suppress_tokens=[-1])
        return len(result[0].sequences_ids[0])

    def transcribe(self, audio: np.ndarray) -> str:
        return "".join(s.text for s in self.model.transcribe(audio, language="en", beam_size=1)[0])


def _per_token_ms(engine: _Stenod | _FasterWhisper, encoded: object) -> tuple[float, int]:
    full_tokens = engine.decode_tokens(encoded, None)
    one = _best_ms(lambda: engine.decode_tokens(encoded, 1))
    full = _best_ms(lambda: engine.decode_tokens(encoded, None))
    return (full - one) / max(1, full_tokens - 1), full_tokens


def worker(name: str, threads: int, limit: int | None) -> dict:
    from stenod.audio.files import load_audio
    from stenod.engine.mel import log_mel, pad_or_trim
    from stenod.engine.models import resolve
    from stenod_bench.evaluation import load_manifest, word_error_rate

    items = load_manifest()[:limit]
    audios = [load_audio(item.audio) for item in items]
    rss_before = _rss_mib()
    start = time.perf_counter()
    if name.startswith("stenod-"):
        engine: _Stenod | _FasterWhisper = _Stenod("tiny.en", name.split("-")[1], threads)
    else:
        files = resolve("tiny.en")
        engine = _FasterWhisper(str(files.weights[0].parent), name.split("-")[1], threads)
    out: dict = {"engine": name, "load_s": time.perf_counter() - start}
    out["rss_after_load_mib"] = _rss_mib()
    out["rss_before_load_mib"] = rss_before
    jfk = next((a for item, a in zip(items, audios) if item.id == "whisper_jfk"), audios[0])
    mel = log_mel(jfk)
    window = pad_or_trim(mel)
    encoded = engine.encode(window)
    out["encoder_30s_ms"] = _best_ms(lambda: engine.encode(window))
    for seconds in SHORT_SECONDS:
        short = pad_or_trim(mel, seconds * 100)
        try:
            engine.encode(short)
            out[f"encoder_{seconds}s_ms"] = _best_ms(functools.partial(engine.encode, short))
        except Exception:  # CTranslate2 accepts only 3000-frame windows
            out[f"encoder_{seconds}s_ms"] = None
    out["per_token_ms"], out["tokens"] = _per_token_ms(engine, encoded)
    start = time.perf_counter()
    cpu_start = time.process_time()
    hypotheses = [engine.transcribe(audio) for audio in audios]
    wall = time.perf_counter() - start
    out["cpu_s"] = time.process_time() - cpu_start
    duration = sum(len(a) for a in audios) / 16000
    out["rtf"] = wall / duration
    out["audio_s"] = duration
    out["wer"] = word_error_rate([item.text for item in items], hypotheses)
    out["peak_rss_mib"] = _peak_rss_mib()
    return out


def _summarise(runs: list[dict], key: str) -> tuple[float, float] | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return None
    return min(values), statistics.median(values)


def _fmt(pair: tuple[float, float] | None, digits: int = 1) -> str:
    return "n/a" if pair is None else f"{pair[0]:.{digits}f} / {pair[1]:.{digits}f}"


def report(results: dict[str, list[dict]], threads: int) -> str:
    rows = [
        ("encoder, 30 s window (ms)", "encoder_30s_ms", 1),
        *[(f"encoder, {s} s of audio (ms)", f"encoder_{s}s_ms", 1) for s in SHORT_SECONDS],
        ("decoder per token (ms)", "per_token_ms", 2),
        ("real-time factor, dev set", "rtf", 4),
        ("CPU seconds, dev set", "cpu_s", 1),
        ("WER, dev set", "wer", 4),
        ("RSS after load (MiB)", "rss_after_load_mib", 0),
        ("peak RSS (MiB)", "peak_rss_mib", 0),
    ]
    engines = [e for e in ENGINES if results.get(e)]
    width = 28
    lines = [f"threads={threads}, rounds={max(len(v) for v in results.values())}, "
             f"audio={results[engines[0]][0]['audio_s']:.0f} s; cells are min / median", ""]
    lines.append(f"{'':{width}}" + "".join(f"{e:>22}" for e in engines))
    for label, key, digits in rows:
        lines.append(f"{label:{width}}" + "".join(f"{_fmt(_summarise(results[e], key), digits):>22}" for e in engines))
    lines.append("")
    lines.append("ratios stenod / faster-whisper (medians; below 1 means stenod is smaller or faster):")
    for ours, theirs in (("stenod-int8", "fw-int8"), ("stenod-fp32", "fw-float32")):
        if not (results.get(ours) and results.get(theirs)):
            continue
        parts = []
        for label, key in (("encoder 30 s", "encoder_30s_ms"), ("per token", "per_token_ms"), ("RTF", "rtf"),
                           ("CPU s", "cpu_s"), ("peak RSS", "peak_rss_mib")):
            a, b = _summarise(results[ours], key), _summarise(results[theirs], key)
            if a and b:
                parts.append(f"{label} {a[1] / b[1]:.2f}")
        ours_rtf, theirs_rtf = _summarise(results[ours], "rtf"), _summarise(results[theirs], "rtf")
        speedup = f"  → {theirs_rtf[1] / ours_rtf[1]:.2f}x faster in RTF" if ours_rtf and theirs_rtf else ""
        lines.append(f"  {ours} vs {theirs}: " + ", ".join(parts) + speedup)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stenod bench engine", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N English utterances")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {ENGINES}")
    parser.add_argument("--json", type=Path, default=None, help="also write every run to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads, args.limit)))
        return 0
    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    # Convert once up front so no worker pays for it.
    from stenod.engine.cache import ensure_converted
    from stenod.engine.models import resolve

    for engine in engines:
        if engine.startswith("stenod-"):
            ensure_converted(resolve("tiny.en"), engine.split("-")[1])
    results: dict[str, list[dict]] = {e: [] for e in engines}
    for round_no in range(args.rounds):
        order = engines[round_no % len(engines):] + engines[: round_no % len(engines)]
        for engine in order:
            cmd = [sys.executable, "-m", "stenod_bench.engine", "--worker", engine, "--threads", str(args.threads)]
            if args.limit:
                cmd += ["--limit", str(args.limit)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"worker {engine} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                return 1
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            results[engine].append(run)
            print(f"round {round_no + 1}/{args.rounds} {engine}: RTF {run['rtf']:.4f}, WER {run['wer']:.4f}",
                  file=sys.stderr, flush=True)
    print(report(results, args.threads))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
