"""The ``stenod`` command line, run as a subprocess: one-line errors, and real transcriptions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

JFK_PHRASE = "ask not what your country can do for you"


def run_stenod(*args: str, cache: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)  # carries STENOD_CACHE_DIR (set by conftest or by the caller)
    if cache is not None:
        env["STENOD_CACHE_DIR"] = str(cache)
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-m", "stenod", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("stenod: error: "), line
    for fragment in fragments:
        assert fragment in line, line
    assert proc.stdout == ""
    return line


@pytest.fixture
def empty_cache(tmp_path: Path) -> Path:
    """A throwaway cache, so error cases leave nothing in the shared one."""
    path = tmp_path / "cache"
    path.mkdir()
    return path


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    assert_one_line_error(run_stenod("transcribe", str(path)), str(path), "no such file")


def test_directory(tmp_path: Path) -> None:
    assert_one_line_error(run_stenod("transcribe", str(tmp_path)), str(tmp_path), "directory")


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are not samples\n" * 20)
    assert_one_line_error(run_stenod("transcribe", str(path)), str(path), "not a readable audio file")


def test_empty_wav(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), 16000, subtype="PCM_16")
    assert sf.info(str(path)).frames == 0
    assert_one_line_error(run_stenod("transcribe", str(path)), str(path), "no audio")


def test_bad_file_among_good_ones_is_reported_before_loading(tmp_path: Path, jfk_wav: Path,
                                                           empty_cache: Path) -> None:
    bad = tmp_path / "missing.flac"
    proc = run_stenod("transcribe", str(jfk_wav), str(bad), "--model", "/nonexistent/model/dir", cache=empty_cache)
    assert_one_line_error(proc, str(bad))


def test_nonexistent_model_dir(jfk_wav: Path, empty_cache: Path) -> None:
    proc = run_stenod("transcribe", str(jfk_wav), "--model", "/nonexistent/dir", cache=empty_cache)
    assert_one_line_error(proc, "/nonexistent/dir")


def test_unknown_model_name(jfk_wav: Path, empty_cache: Path) -> None:
    proc = run_stenod("transcribe", str(jfk_wav), "--model", "gigantic", cache=empty_cache)
    assert_one_line_error(proc, "gigantic")


def test_model_dir_without_tokenizer(make_synthetic_whisper, jfk_wav: Path, empty_cache: Path) -> None:
    """A vocabulary no installed model shares (large-v3's 51 866 tokens) needs its own tokenizer.json."""
    path, _ = make_synthetic_whisper(n_vocab=51866)
    model = path.parent
    proc = run_stenod("transcribe", str(jfk_wav), "--model", str(model), cache=empty_cache)
    assert_one_line_error(proc, str(model), "tokenizer.json")


def test_corrupt_model_bin(tmp_path: Path, jfk_wav: Path, tiny_model_dir: Path, empty_cache: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (model / name).write_bytes((tiny_model_dir / name).read_bytes())
    (model / "model.bin").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    proc = run_stenod("transcribe", str(jfk_wav), "--model", str(model), cache=empty_cache)
    assert_one_line_error(proc, str(model / "model.bin"))


def test_truncated_model_bin(tmp_path: Path, jfk_wav: Path, tiny_model_dir: Path, empty_cache: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (model / name).write_bytes((tiny_model_dir / name).read_bytes())
    with (tiny_model_dir / "model.bin").open("rb") as handle:
        (model / "model.bin").write_bytes(handle.read(1_000_000))
    proc = run_stenod("transcribe", str(jfk_wav), "--model", str(model), cache=empty_cache)
    assert_one_line_error(proc, str(model / "model.bin"), "truncated")


def test_transcribe_jfk_default_model(jfk_wav: Path) -> None:
    proc = run_stenod("transcribe", str(jfk_wav))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert JFK_PHRASE in proc.stdout.lower().replace(",", ""), proc.stdout


def test_transcribe_jfk_json_with_word_timestamps(jfk_wav: Path) -> None:
    proc = run_stenod("transcribe", str(jfk_wav), "--json", "--word-timestamps")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    record = json.loads(lines[0])
    assert record["file"] == str(jfk_wav)
    assert record["language"] == "en"
    assert record["duration"] == pytest.approx(11.0, abs=0.01)
    assert JFK_PHRASE in record["text"].lower().replace(",", "")
    words = [w for seg in record["segments"] for w in seg["words"]]
    assert len(words) >= 20
    for seg in record["segments"]:
        assert 0.0 <= seg["start"] <= seg["end"] <= record["duration"] + 0.5
    for w in words:
        assert w["word"] and w["word"] == w["word"].strip()
        assert 0.0 <= w["start"] <= w["end"] <= record["duration"] + 0.5, w
        assert 0.0 <= w["probability"] <= 1.0
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    spoken = " ".join(w["word"] for w in words).lower()
    assert "americans" in spoken and "country" in spoken


@pytest.mark.parametrize("suite", ["engine", "stream", "daemon", "clients", "protocols"])
def test_each_benchmark_takes_its_own_options(suite: str) -> None:
    result = run_stenod("bench", suite, "--help")  # a leading --option reaches the benchmark's own parser
    assert result.returncode == 0 and result.stdout.startswith(f"usage: stenod bench {suite} ")


def test_an_unknown_option_elsewhere_is_still_an_error() -> None:
    result = run_stenod("tail", "--no-such-option")
    assert result.returncode == 2 and "unrecognized arguments: --no-such-option" in result.stderr
