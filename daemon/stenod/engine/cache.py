"""The cache of converted ONNX models: keyed by the weights' hash and the converter version, written atomically."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import onnx

from stenod.engine.convert import CONVERTER_VERSION, Dims, build_decoder, build_encoder, read_dims
from stenod.engine.ct2 import read_ct2
from stenod.engine.known_models import alignment_heads, missing_tokenizer_hint, shared_files
from stenod.engine.models import ModelFiles
from stenod.errors import ModelError
from stenod.paths import cache_root

log = logging.getLogger(__name__)

PRECISIONS = ("int8", "fp32")
MANIFEST = "manifest.json"


def graph_names(precision: str) -> tuple[str, str]:
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r} (use {' or '.join(PRECISIONS)})")
    suffix = "" if precision == "fp32" else f".{precision}"
    return f"encoder{suffix}.onnx", f"decoder{suffix}.onnx"


@dataclass(frozen=True)
class Converted:
    """A converted model in the cache."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def dims(self) -> Dims:
        return Dims(**self.manifest["dims"])

    @property
    def precisions(self) -> list[str]:
        return [p for p in PRECISIONS if all(n in self.manifest["files"] for n in graph_names(p))]

    def graphs(self, precision: str) -> tuple[Path, Path]:
        encoder, decoder = graph_names(precision)
        return self.directory / encoder, self.directory / decoder

    def check_sizes(self, precision: str) -> None:
        for path in self.graphs(precision):
            want = self.manifest["files"].get(path.name, {}).get("size")
            try:
                have = path.stat().st_size
            except OSError:
                raise ModelError(f"{path}: missing from the model cache (run `stenod models convert`)") from None
            if have != want:
                raise ModelError(f"{path}: corrupt ({have} bytes, expected {want}); "
                                 "run `stenod models convert --force`")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _file_entry(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": _sha256(path)}


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    tmp = directory / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, directory / MANIFEST)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("converter") == CONVERTER_VERSION else None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:60]


def entry_dir(files: ModelFiles) -> Path:
    return cache_root() / "models" / f"{_safe(files.name)}-{files.fingerprint()[:16]}-c{CONVERTER_VERSION}"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alignment_heads(config: dict[str, Any]) -> list[list[int]]:
    heads = config.get("alignment_heads") or []
    return [[int(a), int(b)] for a, b in heads]


def _load_config(files: ModelFiles) -> dict[str, Any]:
    if files.config is None:
        return {}
    try:
        config = json.loads(files.config.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{files.config}: unreadable ({exc})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{files.config}: not a JSON object")
    return config


def _complete(files: ModelFiles, dims: Dims) -> tuple[ModelFiles, dict[str, Any]]:
    """``files`` and its config, with what the model's release shares filled in where the directory lacks it."""
    config = _load_config(files)
    shared = shared_files(dims.n_vocab) if files.tokenizer is None or files.config is None else None
    if files.tokenizer is None:
        if shared is None:
            raise ModelError(f"{files.describe()}: no tokenizer.json ({missing_tokenizer_hint(dims.n_vocab)})")
        log.info("%s: using the tokenizer of %s", files.name, shared.tokenizer.parent)
        files = replace(files, tokenizer=shared.tokenizer, vocabulary=files.vocabulary or shared.vocabulary)
    if files.config is None and shared is not None and shared.config is not None:
        config = {k: v for k, v in json.loads(shared.config.read_text()).items() if k != "alignment_heads"}
    if not config.get("alignment_heads"):
        config["alignment_heads"] = [list(head) for head in alignment_heads(dims)]
    return files, config


def _convert_fp32(files: ModelFiles, target: Path) -> None:
    log.info("converting %s (%s) to ONNX", files.name, files.describe())
    model = read_ct2(files.weights)
    dims = read_dims(model)
    files, config = _complete(files, dims)
    heads = _alignment_heads(config)
    assert files.tokenizer is not None
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as tmp_name:
        tmp = Path(tmp_name)
        onnx.save(build_encoder(model, dims), tmp / "encoder.onnx")
        onnx.save(build_decoder(model, heads, dims), tmp / "decoder.onnx")
        del model
        shutil.copyfile(files.tokenizer, tmp / "tokenizer.json")
        if files.vocabulary is not None:
            shutil.copyfile(files.vocabulary, tmp / "vocabulary.txt")
        (tmp / "config.json").write_text(json.dumps(config))
        manifest = {
            "name": files.name,
            "source": files.describe(),
            "sha256": files.fingerprint(),
            "converter": CONVERTER_VERSION,
            "dims": asdict(dims),
            "alignment_heads": heads,
            "files": {n: _file_entry(tmp / n) for n in ("encoder.onnx", "decoder.onnx")},
        }
        _write_manifest(tmp, manifest)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp made it private; a finished entry gets the usual permissions
        os.rename(tmp, target)  # atomic: the entry appears whole or not at all


def _quantize(entry: Converted, precision: str) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log.info("quantizing %s to %s", entry.manifest["name"], precision)
    manifest = dict(entry.manifest)
    manifest["files"] = dict(manifest["files"])
    for source, target in zip(entry.graphs("fp32"), entry.graphs(precision)):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantizer logs a harmless "run pre-processing" warning on root
        try:
            quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                             per_channel=False, extra_options={"MatMulConstBOnly": True})
            os.replace(tmp, target)
        finally:
            root.setLevel(level)
            tmp.unlink(missing_ok=True)
        manifest["files"][target.name] = _file_entry(target)
    _write_manifest(entry.directory, manifest)


def ensure_converted(files: ModelFiles, precision: str = "int8", force: bool = False) -> Converted:
    """The cached conversion of ``files`` at ``precision``, converting (once, under a lock) if needed."""
    graph_names(precision)
    target = entry_dir(files)
    manifest = None if force else read_manifest(target)
    if manifest is not None and precision in Converted(target, manifest).precisions:
        return Converted(target, manifest)
    with _locked(target):
        manifest = read_manifest(target)
        if force or manifest is None:
            if target.exists():
                shutil.rmtree(target)
            _convert_fp32(files, target)
            manifest = read_manifest(target)
            assert manifest is not None
        entry = Converted(target, manifest)
        if precision not in entry.precisions:
            _quantize(entry, precision)
            entry = Converted(target, read_manifest(target) or manifest)
        return entry


def list_converted() -> list[Converted]:
    root = cache_root() / "models"
    if not root.is_dir():
        return []
    found = []
    for directory in sorted(root.iterdir()):
        manifest = read_manifest(directory) if directory.is_dir() and not directory.name.startswith(".") else None
        if manifest is not None:
            found.append(Converted(directory, manifest))
    return found


def verify_files(entry: Converted) -> list[str]:
    """Problems found by re-hashing every graph against the manifest (empty if none)."""
    problems = []
    for name, want in entry.manifest["files"].items():
        path = entry.directory / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != want["size"] or _sha256(path) != want["sha256"]:
            problems.append(f"{path}: contents do not match the manifest")
    return problems
