"""The ``stenod`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from stenod import __version__
from stenod.core import SAMPLE_RATE
from stenod.errors import StenodError

if TYPE_CHECKING:
    from stenod.config import Config

    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def _format_time(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):02d}:{secs:05.2f}"


def cmd_transcribe(args: argparse.Namespace) -> int:
    from stenod.recordings.command import run

    return run(args)


def cmd_history(args: argparse.Namespace) -> int:
    from stenod.history.command import run

    return run(args)


def cmd_models_list(args: argparse.Namespace) -> int:
    from stenod.engine.cache import list_converted
    from stenod.engine.models import CATALOGUE, hub_directory, pulled_models, resolve

    print("Available models:")
    for name in CATALOGUE:
        try:
            files = resolve(name)
            where = files.describe()
        except StenodError as exc:
            where = f"not installed ({exc})"
        print(f"  {name:8} {where}")
    print("Pulled (--model NAME):")
    pulled = pulled_models()
    for name, directory in pulled:
        state = "  (used when its packages are not installed)" if name in CATALOGUE else ""
        if hub_directory(name) is None:
            state = f"  incomplete (no model.bin): `stenod models pull {name}` again"
        print(f"  {name:8} {directory}{state}")
    if not pulled:
        print("  (none: `stenod models pull OWNER/REPO` downloads one when online)")
    print("Converted (cache):")
    converted = list_converted()
    for entry in converted:
        size = sum(f["size"] for f in entry.manifest["files"].values()) / 1e6
        print(f"  {entry.manifest['name']:8} {', '.join(entry.precisions):10} {size:7.1f} MB  {entry.directory}")
    if not converted:
        print("  (none yet: the first use converts)")
    return 0


def _model_choice(p: argparse.ArgumentParser) -> None:
    """The model to act on, named as everywhere else (``--model``) or as the first argument."""
    about = "tiny.en, base, small, a model directory or OWNER/REPO (default: the configured model)"
    p.add_argument("model", nargs="?", default=None, help=about)
    p.add_argument("--model", "-m", dest="model_option", default=None, metavar="MODEL", help=about)


def _configured_model() -> str:
    """The daemon's model, ``[model] name`` (an unusable config file is the usual one-line error)."""
    from stenod.config import load

    return load().model.name


def cmd_models_convert(args: argparse.Namespace) -> int:
    from stenod.engine.cache import PRECISIONS, ensure_converted
    from stenod.engine.models import resolve

    files = resolve(args.model or args.model_option or _configured_model())
    precisions = PRECISIONS if args.precision == "all" else (args.precision,)
    for i, precision in enumerate(precisions):
        entry = ensure_converted(files, precision, force=args.force and i == 0)
        print(f"{files.name} {precision}: {entry.directory}")
    return 0


def cmd_models_verify(args: argparse.Namespace) -> int:
    import numpy as np

    from stenod.engine.cache import ensure_converted, verify_files
    from stenod.engine.models import resolve
    from stenod.engine.whisper import WhisperEngine

    files = resolve(args.model or args.model_option or _configured_model())
    entry = ensure_converted(files, args.precision)
    problems = verify_files(entry)
    if files.fingerprint() != entry.manifest["sha256"]:
        problems.append(f"{entry.directory}: source weights changed since conversion")
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    engine = WhisperEngine(entry, args.precision, args.threads)
    window = engine.decode_window(np.zeros(SAMPLE_RATE, np.float32), full=False, language="en")
    print(f"{files.name} {args.precision}: files match the manifest, graphs load and decode "
          f"(silence → {len(window.result.tokens)} tokens, no-speech {window.result.no_speech_prob:.2f})")
    return 0


def cmd_models_pull(args: argparse.Namespace) -> int:
    from stenod.engine.models import pull

    print(pull(args.name))
    print(f"use it with --model {args.name}")
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    from stenod.audio.classifiers import make_classifier
    from stenod.audio.files import load_audio
    from stenod.config import Config, ModelConfig, StreamConfig
    from stenod.core.cleanup import CleanupConfig
    from stenod.core.commands import CommandsConfig
    from stenod.core.events import Event
    from stenod.core.pipeline import PipelineConfig
    from stenod.live.files import run_fast, run_realtime
    from stenod.live.render import LiveView
    from stenod.tuning import load_recognizer

    audio = load_audio(args.file)
    classifier = make_classifier(args.vad)
    vocabulary = tuple(args.vocabulary)
    model = ModelConfig(name=args.model or ModelConfig.name, precision=args.precision, threads=args.threads or 0,
                        final_model=args.final_model or "", final_beam=args.final_beam)
    recognizer = load_recognizer(Config(model=model, stream=StreamConfig(
        spoken_punctuation=args.spoken_punctuation, vocabulary=vocabulary)))
    config = PipelineConfig(language=args.language, partials=not args.finals,
                            commands=CommandsConfig(enabled=args.commands),
                            cleanup=CleanupConfig(spoken_punctuation=args.spoken_punctuation, numbers=args.numbers,
                                                  replacements=replacements(args.replace), vocabulary=vocabulary))
    sink: Callable[[Event], None]
    if args.json:
        def sink(event: Event) -> None:
            print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
    else:
        sink = LiveView(sys.stdout)
    run = run_fast if args.fast else run_realtime
    stats = run(audio, recognizer, classifier, config, sink)
    logging.getLogger("stenod").info("%.1f s of audio in %.1f s; %d partial and %d final decodes, RTF %.3f",
                                     stats.audio_s, stats.wall_s, stats.partial_calls, stats.final_calls, stats.rtf)
    return 0


def _daemon_config(args: argparse.Namespace) -> Config:
    from pathlib import Path

    from stenod.config import load

    return load(Path(args.config) if args.config else None, _overrides(args))


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The configuration keys the command line sets (None: not given)."""
    return {
        "audio": {"device": getattr(args, "device", None),
                  "start_paused": True if getattr(args, "paused", False) else None},
        "model": {"name": getattr(args, "model", None), "precision": getattr(args, "precision", None),
                  "threads": getattr(args, "threads", None), "language": getattr(args, "language", None),
                  "final_model": getattr(args, "final_model", None), "final_beam": getattr(args, "final_beam", None)},
        "server": {"listen": getattr(args, "listen", None),
                   "unix_socket": False if getattr(args, "no_unix_socket", False) else None,
                   "wyoming": getattr(args, "wyoming", None)},
        "stream": {"vad": getattr(args, "vad", None),
                   "partials": False if getattr(args, "finals", None) else None,
                   "spoken_punctuation": getattr(args, "spoken_punctuation", None),
                   "numbers": getattr(args, "numbers", None),
                   "replacements": replacements(args.replace) if getattr(args, "replace", None) else None,
                   "vocabulary": getattr(args, "vocabulary", None)},
        "commands": {"enabled": getattr(args, "commands", None)},
    }


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from stenod.daemon import serve_forever

    config = _daemon_config(args)
    logging.getLogger("stenod").setLevel(logging.INFO)
    source = Path(args.input) if args.input else None
    if source is not None and not source.is_file():
        raise StenodError(f"{source}: no such file")
    try:
        return asyncio.run(serve_forever(config, Path(args.config) if args.config else None, source,
                                         not args.no_mic, _overrides(args), args.show_text))
    finally:
        # The loop is gone and with it the SIGTERM handler: a second SIGTERM (systemd's, a supervisor's) must
        # not kill the process while the interpreter waits for the engine's thread on the way out.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def cmd_check(args: argparse.Namespace) -> int:
    from stenod.check.command import run

    return run(args, _daemon_config(args))


def cmd_devices(args: argparse.Namespace) -> int:
    from stenod.audio.mic import input_devices

    devices = input_devices()
    if not devices:
        print("no audio input devices", file=sys.stderr)
        return 1
    for d in devices:
        mark = "*" if d["default"] else " "
        print(f"{mark} {d['index']:3d}  {d['name']}  ({d['channels']} ch, {d['rate']} Hz)")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    from stenod.systemd import install_user

    units = tuple(c for c in args.client if c != "ime")
    paths = install_user(enable=not args.no_enable, clients=units)
    for path in paths:
        print(f"installed {path}")
    if not args.no_enable:
        print("enabled and started (journalctl --user -u stenod -f)")
    if "ime" in args.client:
        import shutil
        import sys
        from pathlib import Path

        from stenod_clients.ime.install import install

        executable = shutil.which("stenod") or str(Path(sys.executable).with_name("stenod"))
        for line in install(executable, refresh=not args.no_enable):
            print(line)
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    from stenod.uninstall import uninstall

    return uninstall(dry_run=args.dry_run, config=args.config, history=args.history)


def cmd_token(args: argparse.Namespace) -> int:
    from stenod.net.auth import load_or_create_token, read_token
    from stenod.paths import runtime_dir

    token = load_or_create_token(runtime_dir())
    if args.captions_url:
        host, port = _daemon_config(args).host_port
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        print(f"http://{shown}:{port}/captions#token={read_token(token)}")
    else:
        print(read_token(token) if args.read else token)
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    from stenod.config import to_toml
    from stenod.tuning import explain

    config = _daemon_config(args)
    print(to_toml(config), end="")
    for line in explain(config):
        print(f"# {line}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from stenod_bench import run

    return run(args.suite, args.bench_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stenod", description="Local real-time dictation with Whisper.")
    parser.add_argument("--version", action="version", version=f"stenod {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_transcribe(sub)
    _add_models(sub)
    _add_daemon_commands(sub)
    _add_history(sub)
    _add_stream(sub)

    from stenod_clients.cli import add_commands

    add_commands(sub)
    _verbose_after(sub)
    _add_bench(sub)
    return parser


def _verbose_after(sub: Subcommands) -> None:
    """``-v`` after the subcommand too (``stenod run -v``), in every subcommand and theirs."""
    for parser in set(sub.choices.values()):
        parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                            help="log progress to stderr")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _verbose_after(action)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default=None, help="tiny.en (default), base, small, a model directory, "
                   "or OWNER/REPO after `stenod models pull OWNER/REPO`")
    p.add_argument("--precision", choices=["int8", "fp32"], default="int8",
                   help="weights: int8 (default, faster) or fp32")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: cores, max 4)")


def _add_transcribe(sub: Subcommands) -> None:
    from stenod.recordings.command import add_arguments

    p = sub.add_parser("transcribe", help="transcribe recordings: text, Markdown, JSON or subtitles")
    add_arguments(p)
    _model_args(p)
    p.set_defaults(func=cmd_transcribe)


def _add_models(sub: Subcommands) -> None:
    models = sub.add_parser("models", help="list, convert, verify or pull models").add_subparsers(
        dest="action", required=True)
    p = models.add_parser("list", help="models available and converted")
    p.set_defaults(func=cmd_models_list)
    p = models.add_parser("convert", help="convert a model to ONNX into the cache")
    _model_choice(p)
    p.add_argument("--precision", choices=["int8", "fp32", "all"], default="all",
                   help="which conversions: int8, fp32 or all (default)")
    p.add_argument("--force", action="store_true", help="convert again even if cached")
    p.set_defaults(func=cmd_models_convert)
    p = models.add_parser("verify", help="re-hash a converted model and run it once")
    _model_choice(p)
    p.add_argument("--precision", choices=["int8", "fp32"], default="int8",
                   help="which conversion to check: int8 (default) or fp32")
    p.add_argument("--threads", type=int, default=None, help="inference threads (default: the cores, at most 4)")
    p.set_defaults(func=cmd_models_verify)
    p = models.add_parser("pull", help="download a faster-whisper model from the Hugging Face hub (online)")
    p.add_argument("name", help="tiny.en, base, small, or OWNER/REPO: a CTranslate2 (faster-whisper) repository, "
                   "used afterwards as --model OWNER/REPO")
    p.set_defaults(func=cmd_models_pull)


def _add_daemon_commands(sub: Subcommands) -> None:
    """run, install, uninstall, token, devices, check and config: the daemon and its setup."""
    _add_run(sub)
    p = sub.add_parser("install", help="install the systemd user unit and enable it")
    p.add_argument("--user", action="store_true", help="as a user service (the default, and the only kind)")
    p.add_argument("--no-enable", action="store_true", help="only write the unit files")
    p.add_argument("--client", action="append", default=[], choices=["type", "captions", "ime"],
                   help="also install a client (repeatable): type, captions (their units), ime (the IBus component)")
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("uninstall", help="stop and remove what install put in place, and the model cache")
    p.add_argument("--user", action="store_true", help="the user's units (the default, and the only kind)")
    p.add_argument("--config", action="store_true", help="also remove the configuration folder")
    p.add_argument("--history", action="store_true", help="also remove the dictation history")
    p.add_argument("--dry-run", action="store_true", help="print what would be removed, remove nothing")
    p.set_defaults(func=cmd_uninstall)

    p = sub.add_parser("token", help="print the daemon's token, for clients that connect over TCP")
    p.add_argument("--read", action="store_true", help="the read-only token (receive events, no control)")
    p.add_argument("--captions-url", action="store_true",
                   help="the captions page's address with the read token, for another user or an OBS elsewhere")
    p.add_argument("--config", "-c", default=None, help="config file (default: $XDG_CONFIG_HOME/stenod/config.toml)")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("devices", help="list audio input devices")
    p.set_defaults(func=cmd_devices)
    _add_check(sub)

    config = sub.add_parser("config", help="the daemon's configuration").add_subparsers(dest="action", required=True)
    p = config.add_parser("show", help="print the effective configuration (file and defaults) as TOML")
    p.add_argument("--config", "-c", default=None, help="config file (default: $XDG_CONFIG_HOME/stenod/config.toml)")
    p.set_defaults(func=cmd_config_show)


def _add_check(sub: Subcommands) -> None:
    from stenod.check.command import add_arguments

    p = sub.add_parser("check", help="does it hear me? a level meter, then the VAD and the model on what it heard")
    add_arguments(p)
    p.set_defaults(func=cmd_check)


def _add_history(sub: Subcommands) -> None:
    from stenod.history.command import add_arguments

    p = sub.add_parser("history", help="list or search the dictation history (--clear deletes it)")
    add_arguments(p)
    p.set_defaults(func=cmd_history)


def _add_run(sub: Subcommands) -> None:
    p = sub.add_parser("run", help="the dictation daemon: microphone → events on ws://127.0.0.1:7767/v1/events")
    p.add_argument("--config", "-c", default=None, help="config file (default: $XDG_CONFIG_HOME/stenod/config.toml)")
    p.add_argument("--device", "-d", default=None, help="input device: index or name substring (see stenod devices)")
    p.add_argument("--listen", default=None, help="HOST:PORT for the WebSocket server (default 127.0.0.1:7767)")
    p.add_argument("--wyoming", default=None, metavar="URI",
                   help="also serve Wyoming (Home Assistant) on tcp://127.0.0.1:10300 or unix:///PATH")
    p.add_argument("--no-unix-socket", action="store_true",
                   help="do not listen on $XDG_RUNTIME_DIR/stenod/stenod.sock (local clients' default)")
    p.add_argument("--model", "-m", default=None, help="tiny.en (default), base, small, a model directory, "
                   "or OWNER/REPO after `stenod models pull OWNER/REPO`")
    p.add_argument("--precision", choices=["int8", "fp32"], default=None,
                   help="weights: int8 (default, faster) or fp32 ([model] precision)")
    p.add_argument("--threads", type=int, default=None,
                   help="inference threads (default: the cores, at most 4; [model] threads)")
    p.add_argument("--language", "-l", default=None,
                   help="language code (default: detect; .en models: en; [model] language)")
    p.add_argument("--vad", choices=["silero", "webrtc"], default=None,
                   help="voice-activity detector: silero (default) or webrtc ([stream] vad)")
    p.add_argument("--no-mic", action="store_true", help="no microphone: serve remote audio on /v1/listen only")
    p.add_argument("--input", default=None, help="play this audio file as the microphone, in real time")
    p.add_argument("--paused", action="store_true",
                   help="start paused (listen after `stenod resume`, or while `stenod ptt`'s key is held)")
    p.add_argument("--show-text", action="store_true",
                   help="log what is heard even when stderr is not a terminal (then the journal holds it)")
    _stream_args(p, unset=True)
    _final_args(p, default_beam=None)
    p.set_defaults(func=cmd_run)


def _add_stream(sub: Subcommands) -> None:
    p = sub.add_parser("stream", help="run the live pipeline on an audio file, as if it were the microphone")
    p.add_argument("file", help="WAV/FLAC/OGG file")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--realtime", action="store_true", help="feed the audio at its real pace (default)")
    pace.add_argument("--fast", action="store_true",
                      help="virtual clock: real-time latencies, computed as fast as the machine allows")
    p.add_argument("--json", action="store_true", help="events as JSON lines")
    _model_args(p)
    p.add_argument("--language", "-l", default=None, help="language code (default: detect; .en models: en)")
    p.add_argument("--vad", choices=["silero", "webrtc"], default="silero", help="voice-activity detector")
    _stream_args(p, unset=False)
    _final_args(p, default_beam=1)
    p.set_defaults(func=cmd_stream)


def _stream_args(p: argparse.ArgumentParser, unset: bool) -> None:
    """The streaming and clean-up flags `stream` and `run` share; ``unset``: None when not given (the
    configuration decides), else the defaults."""
    off: bool | None = None if unset else False
    p.add_argument("--finals", action="store_true", default=off,
                   help="finals only: no partial decodes (as `stenod tail --finals` prints finals only)")
    p.add_argument("--no-partials", dest="finals", action="store_true", default=off, help=argparse.SUPPRESS)
    p.add_argument("--spoken-punctuation", action="store_true", default=off,
                   help='"comma", "new line"… become marks')
    p.add_argument("--numbers", action="store_true", default=off,
                   help='spoken numbers as digits in finals: "twenty five" → 25, "ten percent" → 10%%')
    p.add_argument("--no-commands", dest="commands", action="store_false", default=None if unset else True,
                   help='do not act on spoken commands ("scratch that" withdraws the previous final)')
    p.add_argument("--replace", action="append", default=None if unset else [], metavar="FROM=TO",
                   help="replace a word or phrase in final text (repeatable; whole words, any case)")
    p.add_argument("--vocabulary", action="append", default=None if unset else [], metavar="TERM",
                   help="a name or term the model is prompted with and near-misses are corrected to (repeatable)")


def replacements(pairs: list[str]) -> dict[str, str]:
    """``--replace FROM=TO`` flags as a table; StenodError for one without ``=``."""
    table = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip():
            raise StenodError(f"--replace {pair!r}: expected FROM=TO")
        table[source.strip()] = target
    return table


def _final_args(p: argparse.ArgumentParser, default_beam: int | None) -> None:
    p.add_argument("--final-model", default=None, help="a second, larger model for finals (e.g. base)")
    p.add_argument("--final-beam", type=int, default=default_beam, help="beam width of the final decode")


def _add_bench(sub: Subcommands) -> None:
    from stenod_bench import SUITES

    # not in the user's --help (no help= given), still runnable: stenod bench SUITE
    bench = sub.add_parser("bench", description="benchmarks").add_subparsers(dest="suite", required=True)
    for name, (_, summary) in SUITES.items():
        p = bench.add_parser(name, help=summary, add_help=False)  # each benchmark parses its own options
        p.add_argument("bench_args", nargs=argparse.REMAINDER)
        p.set_defaults(func=cmd_bench)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, as ``main`` reads it (an error exits 2 with argparse's message)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if hasattr(args, "bench_args"):  # a benchmark parses its own options (argparse leaves a leading --flag out)
        args.bench_args = [*extra, *args.bench_args]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="stenod: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except StenodError as exc:
        print(f"stenod: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
