"""``stenod bench stream``: the live pipeline on every dictation session, in fast mode, against offline text.

For each session of the dev set it runs the pipeline (tiny.en int8 by default, Silero VAD) on the
computation-aware virtual clock and reports, against the manifest's true utterance times:
final-text latency (the utterance's last word finalised minus its true end), first-partial latency
(its first partial minus its true start), WER of the finals, the recogniser's real-time factor, and
engine calls on a minute of silence and on the sessions' noise alone. In the same run: offline
``stenod transcribe`` WER on the same files, the WebRTC VAD in place of Silero, and a real-time run of a
short file beside its fast run (their latencies should agree). With ``--configs`` it compares decoding
configurations instead (:mod:`stenod_bench.configurations`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stenod.audio.classifiers import make_classifier
from stenod.audio.files import load_audio
from stenod.core.events import Event, Final, Partial
from stenod.engine.recognizer import WhisperRecognizer
from stenod.engine.transcribe import TranscribeOptions, transcribe
from stenod.engine.whisper import WhisperEngine
from stenod.live.files import StreamStats, run_fast, run_realtime
from stenod_bench.evaluation import EvalItem, eval_dir, load_manifest, word_error_rate


def final_latencies(events: list[Event], segments: list[dict]) -> list[float | None]:
    """Per true utterance: when the final holding its end was published, minus its true end (None: missed).

    A reference end may include a clip's trailing silence, so a final ending up to 1 s before it counts.
    """
    finals = [e for e in events if isinstance(e, Final)]
    out: list[float | None] = []
    for seg in segments:
        covering = [f for f in finals if f.start_ms / 1000 < seg["end_s"] and f.end_ms / 1000 >= seg["end_s"] - 1.0]
        out.append(min(f.emitted_at for f in covering) - seg["end_s"] if covering else None)
    return out


def first_partial_latencies(events: list[Event], segments: list[dict]) -> list[float | None]:
    """Per true utterance: the first partial or final showing text of it, minus its true start."""
    shown = [e for e in events if isinstance(e, (Partial, Final))]
    out: list[float | None] = []
    for seg in segments:
        hits = [e.emitted_at for e in shown
                if e.end_ms / 1000 > seg["start_s"] + 0.2 and e.start_ms / 1000 < seg["end_s"]
                and e.emitted_at >= seg["start_s"]]
        out.append(min(hits) - seg["start_s"] if hits else None)
    return out


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run_session(item: EvalItem, audio: np.ndarray, recognizer: WhisperRecognizer, vad: str) -> dict:
    stats = run_fast(audio, recognizer, make_classifier(vad))
    finals = [e for e in stats.events if isinstance(e, Final)]
    return {"id": item.id, "vad": vad, "audio_s": stats.audio_s, "decode_s": stats.decode_s, "rtf": stats.rtf,
            "partial_calls": stats.partial_calls, "final_calls": stats.final_calls,
            "hypothesis": " ".join(f.text for f in finals),
            "final_latency": final_latencies(stats.events, item.segments),
            "first_partial_latency": first_partial_latencies(stats.events, item.segments)}


def _silence_calls(recognizer: WhisperRecognizer, audio: np.ndarray, vad: str) -> float:
    stats: StreamStats = run_fast(audio, recognizer, make_classifier(vad))
    return stats.calls / (len(audio) / 16000 / 60)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(argv if argv is not None else sys.argv[1:])
    if any(a == "--configs" or a.startswith("--configs=") for a in argv):
        from stenod_bench.configurations import main as compare

        return compare(argv)  # decoding configurations side by side, each in its own process
    parser = argparse.ArgumentParser(prog="stenod bench stream", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--precision", default="int8", choices=["int8", "fp32"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--vads", default="silero,webrtc", help="voice-activity detectors to compare")
    parser.add_argument("--json", type=Path, default=None, help="also write the per-session results here")
    args = parser.parse_args(argv)

    engine = WhisperEngine.load(args.model, args.precision, args.threads)
    recognizer = WhisperRecognizer(engine)
    sessions = load_manifest(kind="session")
    audios = {item.id: load_audio(item.audio) for item in sessions}
    results = []
    vads = [v for v in args.vads.split(",") if v]
    for vad in vads:
        for item in sessions:
            results.append(run_session(item, audios[item.id], recognizer, vad))
    offline = {item.id: " ".join(s.text.strip() for s in transcribe(engine, audios[item.id],
                                                                    TranscribeOptions(language="en"))[0])
               for item in sessions}

    rng = np.random.default_rng(0)
    room_tone = (rng.standard_normal(60 * 16000) * 10 ** (-70 / 20)).astype(np.float32)
    noises = []
    for item in sessions:
        clean_id = item.id.split("_noisy")[0]
        if clean_id != item.id and clean_id in audios:
            noises.append(audios[item.id] - audios[clean_id])

    print(f"model {engine.name} {args.precision}, {engine.threads} threads, fast mode (virtual clock)\n")
    header = f"{'session':36}{'vad':>7}{'WER':>7}{'offline':>9}{'final p50':>10}{'p90':>6}{'first p50':>10}" \
             f"{'missed':>7}{'RTF':>7}{'calls':>7}"
    print(header)
    summary: dict[str, dict] = {}
    for vad in vads:
        rows = [r for r in results if r["vad"] == vad]
        for r in rows:
            item = next(i for i in sessions if i.id == r["id"])
            lat = [x for x in r["final_latency"] if x is not None]
            first = [x for x in r["first_partial_latency"] if x is not None]
            print(f"{r['id'][:35]:36}{vad:>7}{word_error_rate([item.text], [r['hypothesis']]):7.3f}"
                  f"{word_error_rate([item.text], [offline[r['id']]]):9.3f}{_pct(lat, 50):10.2f}{_pct(lat, 90):6.2f}"
                  f"{_pct(first, 50):10.2f}{r['final_latency'].count(None):7d}{r['rtf']:7.3f}"
                  f"{r['partial_calls'] + r['final_calls']:7d}")
        refs = [next(i for i in sessions if i.id == r["id"]).text for r in rows]
        lat = [x for r in rows for x in r["final_latency"] if x is not None]
        first = [x for r in rows for x in r["first_partial_latency"] if x is not None]
        summary[vad] = {
            "wer": word_error_rate(refs, [r["hypothesis"] for r in rows]),
            "offline_wer": word_error_rate(refs, [offline[r["id"]] for r in rows]),
            "final_p50": _pct(lat, 50), "final_p90": _pct(lat, 90),
            "first_p50": _pct(first, 50), "first_p90": _pct(first, 90),
            "missed": sum(r["final_latency"].count(None) for r in rows),
            "utterances": sum(len(r["final_latency"]) for r in rows),
            "rtf": sum(r["decode_s"] for r in rows) / sum(r["audio_s"] for r in rows),
            "calls_per_min_silence": _silence_calls(recognizer, room_tone, vad),
            "calls_per_min_noise": statistics.mean(_silence_calls(recognizer, n, vad) for n in noises) if noises else 0,
        }
    print("\nall sessions:")
    for vad, s in summary.items():
        print(f"  {vad:7} WER {s['wer']:.3f} (offline {s['offline_wer']:.3f});"
              f" final latency p50 {s['final_p50']:.2f} s,"
              f" p90 {s['final_p90']:.2f} s; first partial p50 {s['first_p50']:.2f} s, p90 {s['first_p90']:.2f} s;"
              f" missed {s['missed']}/{s['utterances']}; RTF {s['rtf']:.3f}; engine calls per minute:"
              f" silence {s['calls_per_min_silence']:.1f}, noise alone {s['calls_per_min_noise']:.1f}")

    jfk = next((i for i in load_manifest(eval_dir()) if i.id == "whisper_jfk"), None)
    if jfk is not None:
        audio = load_audio(jfk.audio)
        segments = [{"start_s": 0.0, "end_s": jfk.duration}]
        fast = run_fast(audio, recognizer, make_classifier())
        real = run_realtime(audio, recognizer, make_classifier())
        lat_fast = final_latencies(fast.events, segments)[0]
        lat_real = final_latencies(real.events, segments)[0]
        print(f"\nfast vs real time on {jfk.id} ({jfk.duration:.0f} s):"
              f" final latency {lat_fast:.2f} vs {lat_real:.2f} s;"
              f" wall {fast.wall_s:.1f} vs {real.wall_s:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "sessions": results, "offline": offline}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
