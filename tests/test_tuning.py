"""Choosing the finals' beam for this machine, the cached measurement, and the prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stenod.config import Config, ModelConfig, StreamConfig
from stenod.core.cleanup import SPOKEN_PUNCTUATION_PROMPT
from stenod.engine.whisper import WhisperEngine
from stenod.tuning import FINAL_BUDGET_S, Timing, cached_timing, choose_beam, explain, recognizer_prompt


def test_the_widest_beam_that_fits_is_chosen() -> None:
    fast = Timing(encoder_s=0.05, prompt_s=0.005, step_s=0.001)
    middling = Timing(encoder_s=0.09, prompt_s=0.01, step_s=0.0015)
    slow = Timing(encoder_s=0.4, prompt_s=0.05, step_s=0.01)
    assert choose_beam(0, fast).beam == 5
    assert fast.final_s(5) <= FINAL_BUDGET_S
    assert choose_beam(0, middling).beam == 3
    chosen = choose_beam(0, slow)
    assert chosen.beam == 1 and "over" in chosen.reason
    assert choose_beam(4, None).beam == 4  # a configured width is kept as it is


def test_prompt_holds_the_vocabulary_then_the_command_words() -> None:
    assert recognizer_prompt(StreamConfig()) == ""
    assert recognizer_prompt(StreamConfig(vocabulary=("Lucas", "PipeWire"))) == "Lucas, PipeWire"
    both = recognizer_prompt(StreamConfig(vocabulary=("Lucas",), spoken_punctuation=True))
    assert both == f"Lucas {SPOKEN_PUNCTUATION_PROMPT}"


@pytest.fixture(scope="module")
def tiny() -> WhisperEngine:
    return WhisperEngine.load("tiny.en", "int8")


def test_the_machine_is_measured_once_and_cached(tiny: WhisperEngine, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stenod.tuning.cache_root", lambda: tmp_path)
    first = cached_timing(tiny)
    assert 0 < first.step_s < first.encoder_s
    stored = json.loads((tmp_path / "tuning.json").read_text())
    assert len(stored) == 1 and "tiny.en" in next(iter(stored))
    (key, _), = stored.items()
    stored[key]["encoder_s"] = 123.0  # a second call reads the cache instead of measuring
    (tmp_path / "tuning.json").write_text(json.dumps(stored))
    assert cached_timing(tiny).encoder_s == 123.0
    assert choose_beam(0, cached_timing(tiny)).beam == 1


def test_config_show_explains_the_automatic_beam(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stenod.tuning.cache_root", lambda: tmp_path)
    lines = explain(Config())
    assert len(lines) == 1 and lines[0].startswith("model.final_beam = 0 → ")
    assert "budget" in lines[0]
    assert explain(Config(model=ModelConfig(final_beam=2))) == []
