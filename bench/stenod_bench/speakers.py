"""``--speakers`` on conversations built from the dev set's speakers: diarization error rate and its cost.

Each conversation is transcribed twice in this process, with and without speaker labels (which goes first
alternates), so the time the labels add is measured side by side. The hypothesis is the transcript's
passages (a passage never holds two speakers), scored against the true turns (``conversation.der``: no
collar).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf

from stenod.core import SAMPLE_RATE
from stenod_bench.conversation import SETS, build, der
from stenod_bench.evaluation import word_error_rate


def _transcribe(engine, path: Path, encoder) -> tuple[object, float]:  # type: ignore[no-untyped-def]
    from stenod.audio.reader import AudioReader
    from stenod.audio.silero_sequence import SileroSequence
    from stenod.recordings.transcriber import transcribe_recording

    reader = AudioReader(path)
    try:
        start = time.perf_counter()
        transcript = transcribe_recording(engine, reader, SileroSequence(), speakers=encoder)
        return transcript, time.perf_counter() - start
    finally:
        reader.close()


def main(argv: Sequence[str] | None = None) -> int:
    from stenod.engine.whisper import WhisperEngine
    from stenod.recordings.speakers import SpeakerEncoder
    from stenod.recordings.transcriber import stage_threads

    parser = argparse.ArgumentParser(prog="stenod bench speakers", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=2, help="conversations per set of speakers")
    args = parser.parse_args(argv)
    engine = WhisperEngine.load(args.model, "int8", stage_threads(args.threads))
    encoder = SpeakerEncoder()
    print(f"{'conversation':14}{'length s':>9}{'speakers':>9}{'found':>6}{'DER':>7}{'missed':>8}{'false al.':>10}"
          f"{'confusion':>10}{'WER':>7}{'plain s':>8}{'+speakers s':>12}")
    totals = []
    with tempfile.TemporaryDirectory(prefix="stenod-speakers-") as tmp:
        for name, speakers in SETS.items():
            for seed in range(args.seeds):
                talk = build(speakers, seed)
                path = Path(tmp) / f"{name}-{seed}.wav"
                sf.write(path, talk.audio, SAMPLE_RATE)
                if seed % 2:  # which goes first alternates: the second run finds the file in the page cache
                    transcript, labelled = _transcribe(engine, path, encoder)
                    _, plain = _transcribe(engine, path, None)
                else:
                    _, plain = _transcribe(engine, path, None)
                    transcript, labelled = _transcribe(engine, path, encoder)
                passages = transcript.passages  # type: ignore[attr-defined]
                scores = der(talk.turns, [(p.start, p.end, p.speaker) for p in passages])
                wer = word_error_rate([" ".join(talk.texts)], [transcript.raw])  # type: ignore[attr-defined]
                totals.append((scores, plain, labelled, len(talk.audio) / SAMPLE_RATE))
                print(f"{name + '-' + str(seed):14}{len(talk.audio) / SAMPLE_RATE:9.1f}{len(speakers):9d}"
                      f"{scores['speakers']:6.0f}{scores['der']:7.3f}{scores['missed']:8.3f}"
                      f"{scores['false_alarm']:10.3f}{scores['confusion']:10.3f}{wer:7.3f}{plain:8.2f}{labelled:12.2f}")
    audio = sum(t[3] for t in totals)
    mean = {k: sum(t[0][k] * t[3] for t in totals) / audio for k in ("der", "missed", "false_alarm", "confusion")}
    print(f"\nover {audio / 60:.1f} min: DER {mean['der']:.3f} (missed {mean['missed']:.3f}, false alarm "
          f"{mean['false_alarm']:.3f}, confusion {mean['confusion']:.3f}); the speaker labels add "
          f"{sum(t[2] for t in totals) / sum(t[1] for t in totals) - 1:.0%} to the time "
          f"({sum(t[2] - t[1] for t in totals) / audio * 60:.2f} s per minute of audio)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
