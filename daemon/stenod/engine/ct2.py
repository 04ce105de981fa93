"""Reader for CTranslate2 ``model.bin`` files (binary format versions 5 and 6)."""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from stenod.errors import ModelError

_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}
_BF16 = 5
SUPPORTED_VERSIONS = (5, 6)


@dataclass(frozen=True)
class CT2Model:
    """The variables of a CTranslate2 model, with aliases resolved."""

    spec_name: str
    spec_revision: int
    binary_version: int
    variables: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.variables[name]
        except KeyError:
            raise ModelError(f"model.bin has no variable {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.variables

    def scalar(self, name: str) -> int:
        return int(np.asarray(self[name]).reshape(()))


class _Stream:
    def __init__(self, handle: BinaryIO, origin: str) -> None:
        self._handle = handle
        self._origin = origin
        self.where = ""  # where the parse is, for the message of a file that ends early

    def read(self, n: int) -> bytes:
        data = self._handle.read(n)
        if len(data) != n:
            raise ModelError(f"{self._origin}: truncated{self.where} (wanted {n} bytes, got {len(data)}): "
                             "the file is incomplete")
        return data

    def u8(self) -> int:
        return self.read(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.read(2), "little")

    def u32(self) -> int:
        return int.from_bytes(self.read(4), "little")

    def string(self) -> str:
        n = self.u16()
        raw = self.read(n)
        if n == 0 or raw[-1] != 0:
            raise ModelError(f"{self._origin}: malformed string field")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise ModelError(f"{self._origin}: string field is not UTF-8") from None


def _bf16_to_f32(raw: bytes, shape: tuple[int, ...]) -> np.ndarray:
    halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
    return halves.view(np.float32).reshape(shape)


def read_ct2(path: str | Path | Sequence[Path]) -> CT2Model:
    """Read every variable of a CTranslate2 ``model.bin`` (or of its parts, concatenated in order).

    Raises :class:`ModelError` with a message naming the file on any malformation.
    """
    parts = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
    origin = str(parts[0]) if len(parts) == 1 else f"{parts[0]} (+{len(parts) - 1} parts)"
    try:
        handle: BinaryIO = parts[0].open("rb") if len(parts) == 1 else io.BytesIO(
            b"".join(p.read_bytes() for p in parts))
    except OSError as exc:
        raise ModelError(f"{exc.filename}: cannot open ({exc.strerror})") from None
    with handle:
        return _parse(_Stream(handle, origin), origin)


def _parse(s: _Stream, origin: str) -> CT2Model:
    version = s.u32()
    if version not in SUPPORTED_VERSIONS:
        raise ModelError(f"{origin}: not a CTranslate2 model (binary version {version})")
    spec_name = s.string()
    revision = s.u32()
    count = s.u32()
    if count > 100_000:
        raise ModelError(f"{origin}: implausible variable count {count}")
    variables: dict[str, np.ndarray] = {}
    for index in range(count):
        s.where = f" in variable {index + 1} of {count}"
        name = s.string()
        rank = s.u8()
        shape = tuple(s.u32() for _ in range(rank))
        dtype_id = s.u8()
        nbytes = s.u32()
        raw = s.read(nbytes)
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if dtype_id == _BF16:
            if nbytes != 2 * size:
                raise ModelError(f"{origin}: variable {name!r} has {nbytes} bytes for {shape}")
            variables[name] = _bf16_to_f32(raw, shape)
            continue
        dtype = _DTYPES.get(dtype_id)
        if dtype is None:
            raise ModelError(f"{origin}: variable {name!r} has unknown dtype id {dtype_id}")
        if nbytes != dtype.itemsize * size:
            raise ModelError(f"{origin}: variable {name!r} has {nbytes} bytes for {shape} {dtype}")
        variables[name] = np.frombuffer(raw, dtype=dtype).reshape(shape)
    s.where = " in the aliases"
    for _ in range(s.u32()):
        alias = s.string()
        target = s.string()
        if target not in variables:
            raise ModelError(f"{origin}: alias {alias!r} points at missing {target!r}")
        variables[alias] = variables[target]
    return CT2Model(spec_name, revision, version, variables)


def write_ct2(path: str | Path, variables: dict[str, np.ndarray], aliases: dict[str, str] | None = None,
              spec_name: str = "WhisperSpec", revision: int = 3) -> None:
    """Write a version-6 ``model.bin`` (used to build fixtures)."""
    codes = {v: k for k, v in _DTYPES.items()}

    def string(text: str) -> bytes:
        raw = text.encode("utf-8") + b"\0"
        return struct.pack("<H", len(raw)) + raw

    out = [struct.pack("<I", 6), string(spec_name), struct.pack("<I", revision)]
    out.append(struct.pack("<I", len(variables)))
    for name, value in variables.items():
        value = np.asarray(value)
        data = value.astype(value.dtype.newbyteorder("<")).tobytes()
        out += [string(name), struct.pack("<B", value.ndim)]
        out += [struct.pack("<I", d) for d in value.shape]
        out += [struct.pack("<B", codes[value.dtype.newbyteorder("<")]), struct.pack("<I", len(data)), data]
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [string(alias), string(target)]
    Path(path).write_bytes(b"".join(out))
