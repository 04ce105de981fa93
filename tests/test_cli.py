"""The command line's clean-up switches reach the clean-up: ``--numbers`` on ``stenod stream`` and ``transcribe``."""

from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from stenod.cli import build_parser, main
from stenod.core.cleanup import CleanupConfig


def _stream_cleanup(monkeypatch: pytest.MonkeyPatch, *flags: str) -> CleanupConfig:
    """The clean-up ``stenod stream`` runs with, the audio, model and pipeline replaced by stand-ins."""
    import stenod.audio.classifiers
    import stenod.audio.files
    import stenod.live.files
    import stenod.tuning

    seen: list[Any] = []

    def run(audio: Any, recognizer: Any, classifier: Any, config: Any, sink: Any) -> SimpleNamespace:
        seen.append(config)
        return SimpleNamespace(audio_s=1.0, wall_s=1.0, partial_calls=0, final_calls=0, rtf=1.0)

    monkeypatch.setattr(stenod.audio.files, "load_audio", lambda path: np.zeros(16000, np.float32))
    monkeypatch.setattr(stenod.audio.classifiers, "make_classifier", lambda name: None)
    monkeypatch.setattr(stenod.tuning, "load_recognizer", lambda config: None)
    monkeypatch.setattr(stenod.live.files, "run_fast", run)
    assert main(["stream", "talk.wav", "--fast", "--json", *flags]) == 0
    return seen[0].cleanup


def test_stream_numbers_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _stream_cleanup(monkeypatch).numbers
    assert _stream_cleanup(monkeypatch, "--numbers").numbers


def test_transcribe_numbers_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    import stenod.recordings.command as command

    seen: list[CleanupConfig] = []

    def transcribe(engine: Any, reader: Any, vad: Any, *, cleanup: CleanupConfig, **_: Any) -> SimpleNamespace:
        seen.append(cleanup)
        return SimpleNamespace(passages=[1])

    monkeypatch.setattr(command, "transcribe_recording", transcribe)
    reader = SimpleNamespace(name="talk.wav", warning="")
    for flags in ([], ["--numbers"]):
        args: argparse.Namespace = build_parser().parse_args(["transcribe", "talk.wav", "--quiet", *flags])
        command._transcribe_one(None, None, reader, args)
    assert [c.numbers for c in seen] == [False, True]
    assert seen[1].fillers and not seen[1].spoken_punctuation  # the rest of a recording's clean-up as it was


def test_run_takes_stream_s_clean_up_flags_over_the_configuration(tmp_path, monkeypatch) -> None:
    from stenod.cli import _daemon_config, parse

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    plain = _daemon_config(parse(["run"]))
    assert plain.stream.partials and not plain.stream.numbers and plain.commands.enabled
    args = parse(["run", "--finals", "--numbers", "--spoken-punctuation", "--no-commands",
                  "--replace", "k8s=Kubernetes", "--vocabulary", "Kubernetes", "-v"])
    config = _daemon_config(args)
    assert (config.stream.partials, config.stream.numbers, config.stream.spoken_punctuation) == (False, True, True)
    assert not config.commands.enabled and config.stream.replacements == {"k8s": "Kubernetes"}
    assert config.stream.vocabulary == ("Kubernetes",) and args.verbose


def test_finals_only_is_spelled_the_same_in_stream_and_tail_and_benchmarks_stay_out_of_help(capsys) -> None:
    from stenod.cli import parse

    assert parse(["stream", "x.wav", "--finals"]).finals and parse(["stream", "x.wav", "--no-partials"]).finals
    assert parse(["tail", "--finals"]).finals
    with pytest.raises(SystemExit):
        parse(["--help"])
    assert "bench" not in capsys.readouterr().out
    assert parse(["bench", "engine", "--help"]).suite == "engine"  # still runnable


def test_a_model_is_named_with_model_everywhere() -> None:
    from stenod.cli import parse

    for argv in (["transcribe", "x.wav"], ["stream", "x.wav"], ["run"], ["check"], ["models", "convert"],
                 ["models", "verify"]):
        args = parse([*argv, "--model", "base"])
        assert "base" in (getattr(args, "model", None), getattr(args, "model_option", None)), argv
    assert parse(["models", "convert", "base"]).model == "base"  # and as the first argument, as before
