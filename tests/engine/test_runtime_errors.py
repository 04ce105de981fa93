"""One-line ``ModelError``s for missing, corrupt or foreign ONNX graphs and corrupt cache entries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from stenod.engine.cache import Converted, ensure_converted, read_manifest
from stenod.engine.models import resolve
from stenod.engine.runtime import Runtime, open_session
from stenod.engine.whisper import WhisperEngine
from stenod.errors import ModelError


def _identity_model(input_name: str = "x", output_name: str = "y") -> onnx.ModelProto:
    node = helper.make_node("Identity", [input_name], [output_name])
    graph = helper.make_graph(
        [node], "identity",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, "n"])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [1, "n"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _one_line_error(path: Path, expect_in: set[str], expect_out: set[str]) -> str:
    with pytest.raises(ModelError) as info:
        open_session(path, 1, expect_in, expect_out)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message, message
    return message


def test_identity_graph_opens_when_it_has_what_is_expected(tmp_path: Path) -> None:
    path = tmp_path / "identity.onnx"
    onnx.save(_identity_model(), path)
    session = open_session(path, 1, {"x"}, {"y"})
    x = np.arange(4, dtype=np.float32)[None]
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], x)


def test_missing_file(tmp_path: Path) -> None:
    message = _one_line_error(tmp_path / "encoder.onnx", {"mel"}, set())
    assert "missing" in message


def test_directory_is_not_a_graph(tmp_path: Path) -> None:
    (tmp_path / "encoder.onnx").mkdir()
    assert "missing" in _one_line_error(tmp_path / "encoder.onnx", {"mel"}, set())


@pytest.mark.parametrize("data", [
    b"",
    b"this is not a protobuf at all \x00\xff" * 50,
    np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes(),
])
def test_garbage_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "decoder.onnx"
    path.write_bytes(data)
    message = _one_line_error(path, {"tokens"}, {"logits"})
    assert "not a loadable ONNX graph" in message
    assert len(message) < len(str(path)) + 260


def test_truncated_graph(tmp_path: Path) -> None:
    path = tmp_path / "encoder.onnx"
    onnx.save(_identity_model(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "not a loadable ONNX graph" in _one_line_error(path, {"x"}, {"y"})


def test_foreign_graph_lacks_expected_names(tmp_path: Path) -> None:
    path = tmp_path / "encoder.onnx"
    onnx.save(_identity_model(), path)
    message = _one_line_error(path, {"mel"}, {"cross_k_0", "cross_v_0"})
    assert "not a stenod Whisper graph" in message
    assert "mel" in message and "cross_k_0" in message
    # an expected output that is missing is reported even if the inputs match
    message = _one_line_error(path, {"x"}, {"y", "logits"})
    assert "not a stenod Whisper graph" in message and "logits" in message


def test_runtime_with_swapped_graphs(tmp_path: Path) -> None:
    encoder = tmp_path / "encoder.onnx"
    onnx.save(_identity_model("mel", "enc_out"), encoder)
    with pytest.raises(ModelError, match="not a stenod Whisper graph"):
        Runtime(encoder, tmp_path / "decoder.onnx", 1, 1, 1)


# A corrupt cache entry ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_fp32() -> Converted:
    return ensure_converted(resolve("tiny.en"), "fp32")


def _copy_entry(entry: Converted, target: Path, truncate: str | None = None) -> Converted:
    """Link every file of a cache entry into ``target``, writing a truncated copy of ``truncate``."""
    target.mkdir()
    for source in entry.directory.iterdir():
        if source.name == truncate:
            with source.open("rb") as handle:
                (target / source.name).write_bytes(handle.read(source.stat().st_size // 3))
        else:
            os.symlink(source, target / source.name)
    manifest = read_manifest(target)
    assert manifest is not None
    return Converted(target, manifest)


def test_intact_copy_passes_the_size_check(tiny_fp32: Converted, tmp_path: Path) -> None:
    copy = _copy_entry(tiny_fp32, tmp_path / "entry")
    copy.check_sizes("fp32")  # no error


def test_check_sizes_reports_a_truncated_decoder(tiny_fp32: Converted, tmp_path: Path) -> None:
    copy = _copy_entry(tiny_fp32, tmp_path / "entry", truncate="decoder.onnx")
    want = tiny_fp32.manifest["files"]["decoder.onnx"]["size"]
    with pytest.raises(ModelError) as info:
        copy.check_sizes("fp32")
    message = str(info.value)
    assert str(copy.directory / "decoder.onnx") in message
    assert "corrupt" in message and str(want) in message and str(want // 3) in message
    assert "\n" not in message


def test_engine_reports_a_truncated_decoder(tiny_fp32: Converted, tmp_path: Path) -> None:
    copy = _copy_entry(tiny_fp32, tmp_path / "entry", truncate="decoder.onnx")
    with pytest.raises(ModelError, match=r"decoder\.onnx: corrupt"):
        WhisperEngine(copy, "fp32", threads=1)


def test_engine_reports_a_missing_graph(tiny_fp32: Converted, tmp_path: Path) -> None:
    copy = _copy_entry(tiny_fp32, tmp_path / "entry")
    (copy.directory / "encoder.onnx").unlink()
    with pytest.raises(ModelError, match=r"encoder\.onnx: missing"):
        WhisperEngine(copy, "fp32", threads=1)


def test_same_size_garbage_graph_is_still_a_one_line_error(tiny_fp32: Converted, tmp_path: Path) -> None:
    """A graph of the right size but garbage content passes the size check and fails at load, in one line."""
    copy = _copy_entry(tiny_fp32, tmp_path / "entry")
    encoder = copy.directory / "encoder.onnx"
    size = encoder.stat().st_size
    encoder.unlink()
    encoder.write_bytes(b"\x07" * size)
    with pytest.raises(ModelError) as info:
        WhisperEngine(copy, "fp32", threads=1)
    assert str(encoder) in str(info.value) and "\n" not in str(info.value)


def test_manifest_records_sizes(tiny_fp32: Converted) -> None:
    manifest = json.loads((tiny_fp32.directory / "manifest.json").read_text())
    for name in ("encoder.onnx", "decoder.onnx"):
        assert manifest["files"][name]["size"] == (tiny_fp32.directory / name).stat().st_size
