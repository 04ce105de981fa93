"""The CTranslate2 ``model.bin`` reader: round trips, every malformation, multi-part files, the real tiny.en."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from stenod.engine.ct2 import read_ct2, write_ct2
from stenod.errors import ModelError

# An independent serializer, written from the format description (not from write_ct2), so that the
# tests can also produce files that write_ct2 never would.
DTYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}


def _string(text: str | bytes, terminate: bool = True) -> bytes:
    raw = (text.encode("utf-8") if isinstance(text, str) else text) + (b"\0" if terminate else b"")
    return struct.pack("<H", len(raw)) + raw


def _variable(name: str, array: np.ndarray, dtype_id: int | None = None, nbytes: int | None = None,
              data: bytes | None = None) -> bytes:
    array = np.asarray(array)
    raw = array.astype(array.dtype.newbyteorder("<")).tobytes() if data is None else data
    out = _string(name) + struct.pack("<B", array.ndim) + b"".join(struct.pack("<I", d) for d in array.shape)
    code = DTYPE_IDS[array.dtype.name] if dtype_id is None else dtype_id
    return out + struct.pack("<BI", code, len(raw) if nbytes is None else nbytes) + raw


def _model(variables: list[bytes], aliases: Sequence[tuple[str, str]] = (), version: int = 6,
           spec: str = "WhisperSpec", revision: int = 3) -> bytes:
    out = struct.pack("<I", version) + _string(spec) + struct.pack("<II", revision, len(variables))
    out += b"".join(variables) + struct.pack("<I", len(aliases))
    return out + b"".join(_string(a) + _string(t) for a, t in aliases)


def _sample_variables() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "a/f32": rng.standard_normal((3, 4)).astype(np.float32),
        "a/f16": rng.standard_normal((2, 5)).astype(np.float16),
        "b/i8": rng.integers(-128, 127, size=(7,), dtype=np.int8),
        "b/i16": rng.integers(-30000, 30000, size=(2, 2, 2), dtype=np.int16),
        "b/i32": rng.integers(-(2**31), 2**31 - 1, size=(4, 1), dtype=np.int32),
        "scalar/heads": np.array(6, dtype=np.int16),
        "scalar/flag": np.array(1, dtype=np.int8),
        "scalar/f": np.array(0.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "ünïcode/name": np.arange(3, dtype=np.int32),
    }


def _expect_error(path: Path | list[Path], *fragments: str) -> str:
    with pytest.raises(ModelError) as info:
        read_ct2(path)
    message = str(info.value)
    first = path[0] if isinstance(path, list) else path
    assert str(first) in message, message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# Round trips ----------------------------------------------------------------------------------------


def test_round_trip_preserves_values_dtypes_and_shapes(tmp_path: Path) -> None:
    variables = _sample_variables()
    path = tmp_path / "model.bin"
    write_ct2(path, variables, aliases={"alias/of_f16": "a/f16"}, spec_name="WhisperSpec", revision=3)
    model = read_ct2(path)
    assert (model.spec_name, model.spec_revision, model.binary_version) == ("WhisperSpec", 3, 6)
    assert set(model.variables) == set(variables) | {"alias/of_f16"}
    for name, want in variables.items():
        got = model[name]
        assert got.dtype == want.dtype, name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want)
    assert model["scalar/heads"].ndim == 0
    assert model["scalar/f"].shape == ()
    assert model.scalar("scalar/heads") == 6
    assert model.scalar("scalar/flag") == 1
    np.testing.assert_array_equal(model["alias/of_f16"], variables["a/f16"])
    assert model["alias/of_f16"].dtype == np.float16
    assert "alias/of_f16" in model and "nope" not in model


def test_reader_accepts_an_independently_serialized_file(tmp_path: Path) -> None:
    variables = _sample_variables()
    data = _model([_variable(n, a) for n, a in variables.items()], [("x", "a/f32"), ("y", "b/i8")])
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    model = read_ct2(path)
    for name, want in variables.items():
        np.testing.assert_array_equal(model[name], want)
        assert model[name].dtype == want.dtype
    np.testing.assert_array_equal(model["x"], variables["a/f32"])
    np.testing.assert_array_equal(model["y"], variables["b/i8"])
    # write_ct2 produces exactly the same bytes as the format description
    write_ct2(tmp_path / "again.bin", variables, aliases={"x": "a/f32", "y": "b/i8"})
    assert (tmp_path / "again.bin").read_bytes() == data


def test_version_5_and_bfloat16_are_read(tmp_path: Path) -> None:
    values = np.array([[1.0, -2.5, 3.140625], [0.0, 1e-3, -65504.0]], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()  # truncation: exact for these values
    data = _model([_variable("w", values, dtype_id=5, data=bf16)], version=5)
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    model = read_ct2(path)
    assert model.binary_version == 5
    want = (values.view(np.uint32) & 0xFFFF0000).view(np.float32)
    assert model["w"].dtype == np.float32
    np.testing.assert_array_equal(model["w"], want)


def test_missing_variable_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    write_ct2(path, {"a": np.zeros(2, np.float32)})
    model = read_ct2(path)
    with pytest.raises(ModelError, match="no variable 'b'"):
        model["b"]


# Malformations ----------------------------------------------------------------------------------------


def test_truncated_at_every_offset_names_the_file(tmp_path: Path) -> None:
    variables = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(2, np.int16)}
    full = tmp_path / "full.bin"
    write_ct2(full, variables, aliases={"alias": "w"})
    data = full.read_bytes()
    read_ct2(full)  # the whole file is fine
    path = tmp_path / "model.bin"
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelError) as info:
            read_ct2(path)
        assert str(path) in str(info.value), (cut, str(info.value))
    # a cut inside the tensor data says the file is truncated
    path.write_bytes(data[:40])
    _expect_error(path, "truncated")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"")
    _expect_error(path, "truncated")


@pytest.mark.parametrize("version", [0, 4, 7, 0x46554747])
def test_wrong_binary_version(tmp_path: Path, version: int) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(_model([_variable("w", np.zeros(2, np.float32))], version=version))
    _expect_error(path, "not a CTranslate2 model", f"binary version {version}")


@pytest.mark.parametrize("dtype_id", [6, 9, 255])
def test_unknown_dtype_id(tmp_path: Path, dtype_id: int) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(_model([_variable("ok", np.zeros(2, np.float32)),
                             _variable("bad/var", np.zeros(2, np.float32), dtype_id=dtype_id)]))
    _expect_error(path, "'bad/var'", f"unknown dtype id {dtype_id}")


@pytest.mark.parametrize(("array", "dtype_id", "nbytes"), [
    (np.zeros((2, 3), np.float32), 0, 20),  # 20 bytes of data for a 24-byte tensor
    (np.zeros((2, 3), np.float32), 4, 24),  # declared f16: 12 bytes expected
    (np.zeros((4,), np.float32), 5, 4),  # bf16 needs 8
    (np.array(1, np.int16), 2, 4),  # a scalar holds one element
])
def test_byte_count_mismatch(tmp_path: Path, array: np.ndarray, dtype_id: int, nbytes: int) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(_model([_variable("mismatch", array, dtype_id=dtype_id, data=bytes(nbytes))]))
    _expect_error(path, "'mismatch'", f"{nbytes} bytes")


def test_alias_to_missing_target(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    write_ct2(path, {"w": np.zeros(2, np.float32)}, aliases={"decoder/projection/weight": "decoder/embeddings/weight"})
    _expect_error(path, "'decoder/projection/weight'", "'decoder/embeddings/weight'")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "model.bin"
    _expect_error(path, "cannot open")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    _expect_error(tmp_path, "cannot open")


def test_unterminated_and_non_utf8_strings(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(struct.pack("<I", 6) + _string("WhisperSpec", terminate=False) + bytes(64))
    _expect_error(path, "malformed string")
    path.write_bytes(struct.pack("<I", 6) + _string(b"\xff\xfe") + bytes(64))
    _expect_error(path, "UTF-8")
    path.write_bytes(struct.pack("<I", 6) + struct.pack("<H", 0) + bytes(64))
    _expect_error(path, "malformed string")


def test_implausible_variable_count(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(struct.pack("<I", 6) + _string("WhisperSpec") + struct.pack("<II", 3, 0xFFFFFFF0))
    _expect_error(path, "implausible")


def test_garbage_bytes(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _expect_error(path)


# Multi-part files ---------------------------------------------------------------------------------------


def test_multi_part_files_are_concatenated(tmp_path: Path) -> None:
    variables = _sample_variables()
    whole = tmp_path / "model.bin"
    write_ct2(whole, variables, aliases={"alias": "a/f32"})
    data = whole.read_bytes()
    cuts = [len(data) // 3, 2 * len(data) // 3]
    parts = [tmp_path / f"model.bin.part{i + 1}" for i in range(3)]
    for part, (a, b) in zip(parts, zip([0, *cuts], [*cuts, len(data)])):
        part.write_bytes(data[a:b])
    model = read_ct2(parts)
    reference = read_ct2(whole)
    assert set(model.variables) == set(reference.variables)
    for name in reference.variables:
        np.testing.assert_array_equal(model[name], reference[name])
        assert model[name].dtype == reference[name].dtype
    # read_ct2 also takes the parts as plain strings in a list
    assert set(read_ct2([str(p) for p in parts]).variables) == set(reference.variables)


def test_multi_part_missing_last_part_is_truncated(tmp_path: Path) -> None:
    whole = tmp_path / "model.bin"
    write_ct2(whole, _sample_variables())
    data = whole.read_bytes()
    parts = [tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"]
    parts[0].write_bytes(data[: len(data) // 2])
    parts[1].write_bytes(data[len(data) // 2: 3 * len(data) // 4])
    message = _expect_error(parts, "truncated")
    assert "+1 parts" in message


def test_multi_part_with_a_missing_part_file(tmp_path: Path) -> None:
    first = tmp_path / "model.bin.part1"
    write_ct2(first, _sample_variables())
    missing = tmp_path / "model.bin.part2"
    with pytest.raises(ModelError) as info:
        read_ct2([first, missing])
    assert str(missing) in str(info.value)
    assert "cannot open" in str(info.value)


# The real model --------------------------------------------------------------------------------------------


def test_real_tiny_en_model(tiny_model_dir: Path) -> None:
    model = read_ct2(tiny_model_dir / "model.bin")
    assert model.spec_name == "WhisperSpec"
    assert model.binary_version in (5, 6)
    assert model["encoder/conv1/weight"].shape == (384, 80, 3)
    assert model["encoder/conv2/weight"].shape == (384, 384, 3)
    assert model["encoder/position_encodings/encodings"].shape == (1500, 384)
    assert model["decoder/embeddings/weight"].shape == (51864, 384)
    assert model["decoder/position_encodings/encodings"].shape == (448, 384)
    assert model["encoder/layer_0/self_attention/linear_0/weight"].shape == (3 * 384, 384)
    assert model["decoder/layer_3/attention/linear_1/weight"].shape == (2 * 384, 384)
    assert "encoder/layer_4/ffn/linear_0/weight" not in model
    assert model["encoder/num_heads"].ndim == 0
    assert model.scalar("encoder/num_heads") == 6
    assert model.scalar("decoder/num_heads") == 6
    assert model["decoder/projection/weight"] is model["decoder/embeddings/weight"]
    emb = model["decoder/embeddings/weight"]
    assert emb.dtype in (np.float16, np.float32)
    assert np.isfinite(emb.astype(np.float32)).all()
    # the K part of the fused bias is zero: Whisper has no key bias
    bias = model["encoder/layer_0/self_attention/linear_0/bias"]
    assert not np.any(bias[384:768])
    assert np.any(bias[:384])
