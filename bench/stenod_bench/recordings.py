"""``stenod bench recordings``: a long, messy recording through stenod and faster-whisper, side by side.

Every dev session is joined into one recording with ``--gap`` seconds of room tone, broadband noise or a
synthetic music loop before, between and after them (built here, never committed; ``stenod_bench.messy``).
Each system runs in its own process, one after the other, with the same weights and threads: stenod's
``transcribe`` path (Silero chunks, windows decoded alone, word times), faster-whisper sequential with
``vad_filter=True``, and its ``BatchedInferencePipeline`` (batch 8), all greedy with word times, plus
faster-whisper's default beam 5. Reported: wall time, × real time, CPU seconds, peak RSS, WER against the
sessions' references, and words written inside the stretches with no speech.
"""

from __future__ import annotations

import argparse
import atexit
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SYSTEMS = ("stenod", "fw-batched8", "fw-sequential", "fw-sequential-beam5")


def build_recording(path: Path, gap_s: float, repeat: int = 1) -> dict:
    import soundfile as sf

    from stenod.audio.files import load_audio
    from stenod_bench.evaluation import load_manifest
    from stenod_bench.messy import build

    sessions = load_manifest(kind="session")
    pieces = [(load_audio(item.audio), item.text) for _ in range(repeat) for item in sessions]
    messy = build(pieces, gap_s)
    sf.write(path, messy.audio, 16000, subtype="PCM_16")
    return {"speech": messy.speech, "texts": messy.texts, "duration": len(messy.audio) / 16000}


def _stenod(path: Path, model: str, threads: int) -> list[tuple[str, float, float]]:
    from stenod.audio.reader import AudioReader
    from stenod.audio.silero_sequence import SileroSequence
    from stenod.engine.whisper import WhisperEngine
    from stenod.recordings.transcriber import stage_threads, transcribe_recording

    engine = WhisperEngine.load(model, "int8", stage_threads(threads))
    _start()
    transcript = transcribe_recording(engine, AudioReader(path), SileroSequence())
    _stop()
    return [(w.word, w.start, w.end) for p in transcript.passages for w in p.words]


def _faster_whisper(path: Path, model: str, threads: int, system: str) -> list[tuple[str, float, float]]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from stenod.engine.models import resolve

    fw = WhisperModel(_ct2_dir(resolve(model)), device="cpu", compute_type="int8", cpu_threads=threads)
    beam = 5 if system.endswith("beam5") else 1
    _start()
    if system == "fw-batched8":
        segments, _ = BatchedInferencePipeline(fw).transcribe(str(path), batch_size=8, beam_size=beam,
                                                              word_timestamps=True, language="en")
    else:
        segments, _ = fw.transcribe(str(path), vad_filter=True, beam_size=beam, word_timestamps=True,
                                    language="en")
    words = [(w.word.strip(), w.start, w.end) for s in segments for w in (s.words or [])]
    _stop()
    return words


def _ct2_dir(files: Any) -> str:
    """A directory faster-whisper can load: the package's own, or (weights in parts) one put together."""
    if len(files.weights) == 1:
        return str(files.weights[0].parent)
    folder = Path(tempfile.mkdtemp(prefix="stenod-ct2-"))
    atexit.register(shutil.rmtree, folder, True)
    with (folder / "model.bin").open("wb") as out:
        for chunk in files.open_weights():
            out.write(chunk)
    for name, path in (("config.json", files.config), ("tokenizer.json", files.tokenizer),
                       ("vocabulary.txt", files.vocabulary)):
        if path is not None:
            shutil.copyfile(path, folder / name)
    return str(folder)


_timing: dict[str, float] = {}


def _start() -> None:
    _timing["wall0"], _timing["cpu0"] = time.perf_counter(), time.process_time()


def _stop() -> None:
    _timing["transcribe_s"] = time.perf_counter() - _timing["wall0"]
    _timing["cpu_s"] = time.process_time() - _timing["cpu0"]


def run_one(system: str, path: Path, model: str, threads: int, out: Path) -> None:
    """One system in this process: the transcription's wall and CPU time (the model's loading excluded)."""
    words = _stenod(path, model, threads) if system == "stenod" else _faster_whisper(path, model, threads, system)
    out.write_text(json.dumps({"system": system, "words": words, "transcribe_s": _timing["transcribe_s"],
                               "cpu_s": _timing["cpu_s"],
                               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _child(system: str, path: Path, model: str, threads: int) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="stenod-bench-") as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run([sys.executable, "-m", "stenod_bench.recordings", "--one", system, "--file", str(path),
                               "--model", model, "--threads", str(threads), "--json", str(out)],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            print(f"{system}: failed ({(proc.stderr.strip().splitlines() or ['no output'])[-1]})", file=sys.stderr)
            return None
        result: dict = json.loads(out.read_text())
        return result


def report(results: list[dict], recording: dict, model: str, threads: int) -> None:
    from stenod_bench.evaluation import word_error_rate
    from stenod_bench.messy import words_outside

    duration = recording["duration"]
    print(f"{duration / 60:.1f} min recording ({sum(e - s for s, e in recording['speech']) / 60:.1f} min of "
          f"speech), {model} int8, {threads} threads\n")
    print(f"{'system':22}{'wall s':>8}{'x RT':>8}{'CPU s':>8}{'peak RSS':>10}{'WER':>7}{'words in gaps':>15}")
    reference = " ".join(recording["texts"])
    fastest_fw = min((r["transcribe_s"] for r in results if r["system"] != "stenod"), default=None)
    for r in results:
        words = r["words"]
        wer = word_error_rate([reference], [" ".join(w for w, _, _ in words)])
        outside = words_outside([(s, e) for _, s, e in words], [tuple(x) for x in recording["speech"]])
        print(f"{r['system']:22}{r['transcribe_s']:8.1f}{r['transcribe_s'] / duration:8.4f}{r['cpu_s']:8.1f}"
              f"{r['peak_rss_mib']:8.0f} M{wer:7.3f}{outside:15d}")
    mine = next((r for r in results if r["system"] == "stenod"), None)
    if mine and fastest_fw:
        print(f"\nstenod is {fastest_fw / mine['transcribe_s']:.2f}x as fast as the fastest faster-whisper mode")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stenod bench recordings", description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gap", type=float, default=60.0, help="seconds of room tone, noise or music between")
    parser.add_argument("--repeat", type=int, default=1, help="the sessions this many times (3: about an hour)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--file", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--build", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        run_one(args.one, Path(args.file), args.model, args.threads, Path(args.json))
        return 0
    if args.build:
        Path(args.json).write_text(json.dumps(build_recording(Path(args.build), args.gap, args.repeat)))
        return 0
    with tempfile.TemporaryDirectory(prefix="stenod-messy-") as tmp:
        path = Path(tmp) / "messy.wav"
        # Built in a process of its own: a child forked from a process holding the hour of audio would
        # report that process's memory as its own peak.
        subprocess.run([sys.executable, "-m", "stenod_bench.recordings", "--build", str(path), "--gap",
                        str(args.gap), "--repeat", str(args.repeat), "--json", str(Path(tmp) / "recording.json")],
                       check=True)
        recording = json.loads((Path(tmp) / "recording.json").read_text())
        results = [r for s in args.systems.split(",") if (r := _child(s, path, args.model, args.threads))]
    report(results, recording, args.model, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
