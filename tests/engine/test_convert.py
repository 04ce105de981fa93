"""The ONNX graphs built from CTranslate2 weights against a plain NumPy Whisper, on synthetic and real weights."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest

from stenod.engine.cache import Converted, ensure_converted
from stenod.engine.convert import Dims, build_decoder, build_encoder, default_alignment_heads, read_dims
from stenod.engine.ct2 import CT2Model, read_ct2, write_ct2
from stenod.engine.mel import log_mel, pad_or_trim
from stenod.engine.models import resolve
from stenod.engine.runtime import Runtime
from stenod.errors import ModelError

# A NumPy Whisper (float64), written from the architecture, not from the graph builder ------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * gamma + beta


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """``x [C, F]``, ``weight [O, C, 3]``, zero padding 1 each side → ``[O, F_out]``."""
    padded = np.pad(x, ((0, 0), (1, 1)))
    n_out = (x.shape[1] + 2 - 3) // stride + 1
    out = np.zeros((weight.shape[0], n_out))
    for k in range(3):
        out += weight[:, :, k] @ padded[:, k: k + stride * (n_out - 1) + 1: stride]
    return out + bias[:, None]


class Weights:
    def __init__(self, variables: Mapping[str, np.ndarray]) -> None:
        self.v = variables

    def __call__(self, name: str) -> np.ndarray:
        return np.asarray(self.v[name], dtype=np.float64)

    def linear(self, x: np.ndarray, name: str) -> np.ndarray:
        out = x @ self(f"{name}/weight").T
        return out + self(f"{name}/bias") if f"{name}/bias" in self.v else out

    def norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return layer_norm(x, self(f"{name}/gamma"), self(f"{name}/beta"))


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, n_heads: int, causal_offset: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Multi-head attention of ``q [T, D]`` over ``k, v [S, D]``; returns (output [T, D], probs [H, T, S])."""
    t, d = q.shape
    dh = d // n_heads
    qh = q.reshape(t, n_heads, dh).transpose(1, 0, 2)
    kh = k.reshape(-1, n_heads, dh).transpose(1, 0, 2)
    vh = v.reshape(-1, n_heads, dh).transpose(1, 0, 2)
    scores = qh @ kh.transpose(0, 2, 1) / math.sqrt(dh)
    if causal_offset is not None:
        s = k.shape[0]
        mask = np.arange(s)[None, :] > (np.arange(t)[:, None] + causal_offset)
        scores = np.where(mask[None], -np.inf, scores)
    probs = softmax(scores)
    return (probs @ vh).transpose(1, 0, 2).reshape(t, d), probs


def ffn(w: Weights, x: np.ndarray, name: str) -> np.ndarray:
    h = w.norm(x, f"{name}/layer_norm")
    return x + w.linear(gelu(w.linear(h, f"{name}/linear_0")), f"{name}/linear_1")


def reference_encoder(variables: Mapping[str, np.ndarray], mel: np.ndarray, n_heads: int, n_layers: int
                      ) -> np.ndarray:
    w = Weights(variables)
    x = gelu(conv1d(mel.astype(np.float64), w("encoder/conv1/weight"), w("encoder/conv1/bias"), 1))
    x = gelu(conv1d(x, w("encoder/conv2/weight"), w("encoder/conv2/bias"), 2)).T  # [S, D]
    x = x + w("encoder/position_encodings/encodings")[: x.shape[0]]
    for i in range(n_layers):
        name = f"encoder/layer_{i}/self_attention"
        h = w.norm(x, f"{name}/layer_norm")
        q, k, v = np.split(w.linear(h, f"{name}/linear_0"), 3, axis=-1)
        out, _ = attention(q, k, v, n_heads)
        x = x + w.linear(out, f"{name}/linear_1")
        x = ffn(w, x, f"encoder/layer_{i}/ffn")
    return w.norm(x, "encoder/layer_norm")


def reference_decoder(variables: Mapping[str, np.ndarray], tokens: list[int], enc: np.ndarray, n_heads: int,
                      n_layers: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Full-sequence pass: logits ``[T, V]`` and each layer's cross-attention probabilities ``[H, T, S]``."""
    w = Weights(variables)
    emb = w("decoder/embeddings/weight")
    x = emb[tokens] + w("decoder/position_encodings/encodings")[: len(tokens)]
    cross_probs = []
    for i in range(n_layers):
        name = f"decoder/layer_{i}/self_attention"
        h = w.norm(x, f"{name}/layer_norm")
        q, k, v = np.split(w.linear(h, f"{name}/linear_0"), 3, axis=-1)
        out, _ = attention(q, k, v, n_heads, causal_offset=0)
        x = x + w.linear(out, f"{name}/linear_1")
        name = f"decoder/layer_{i}/attention"
        h = w.norm(x, f"{name}/layer_norm")
        q = w.linear(h, f"{name}/linear_0")
        k, v = np.split(w.linear(enc, f"{name}/linear_1"), 2, axis=-1)
        out, probs = attention(q, k, v, n_heads)
        cross_probs.append(probs)
        x = x + w.linear(out, f"{name}/linear_2")
        x = ffn(w, x, f"decoder/layer_{i}/ffn")
    x = w.norm(x, "decoder/layer_norm")
    return x @ w("decoder/projection/weight" if "decoder/projection/weight" in variables
                 else "decoder/embeddings/weight").T, cross_probs


def cross_kv(variables: Mapping[str, np.ndarray], enc: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray]:
    w = Weights(variables)
    k, v = np.split(w.linear(enc, f"decoder/layer_{layer}/attention/linear_1"), 2, axis=-1)
    return k, v


# Synthetic model -------------------------------------------------------------------------------------------


@dataclass
class Built:
    variables: dict[str, np.ndarray]
    model: CT2Model
    dims: Dims
    runtime: Runtime
    encoder_path: Path
    decoder_path: Path


def _build(tmp_path: Path, model_bin: Path, variables: dict[str, np.ndarray],
           heads: list[tuple[int, int]] | None = None) -> Built:
    model = read_ct2(model_bin)
    dims = read_dims(model)
    encoder_path, decoder_path = tmp_path / "encoder.onnx", tmp_path / "decoder.onnx"
    onnx.save(build_encoder(model, dims), encoder_path)
    onnx.save(build_decoder(model, heads or [], dims), decoder_path)
    runtime = Runtime(encoder_path, decoder_path, dims.n_decoder_layers, dims.n_heads, dims.d_head, threads=1)
    return Built(variables, model, dims, runtime, encoder_path, decoder_path)


@pytest.fixture
def built(tmp_path: Path, synthetic_whisper: tuple[Path, dict[str, np.ndarray]]) -> Built:
    path, variables = synthetic_whisper
    return _build(tmp_path, path, variables, [(0, 1), (1, 0), (1, 1)])


def _random_mel(frames: int, n_mels: int = 80, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n_mels, frames)).astype(np.float32)


def test_read_dims_of_synthetic_model(built: Built) -> None:
    assert built.dims == Dims(n_mels=80, d_model=16, n_heads=2, n_encoder_layers=2, n_decoder_layers=2,
                              n_vocab=60, n_text_ctx=448, n_audio_ctx=1500)
    assert built.dims.d_head == 8
    assert default_alignment_heads(built.dims) == [(1, 0), (1, 1)]


def test_graphs_are_valid_onnx(built: Built) -> None:
    for path in (built.encoder_path, built.decoder_path):
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)


@pytest.mark.parametrize("frames", [2, 200, 3000])
def test_synthetic_encoder_matches_numpy(built: Built, frames: int) -> None:
    mel = _random_mel(frames, seed=frames)
    got = built.runtime.encoder_output(mel)
    want = reference_encoder(built.variables, mel, 2, 2)
    assert got.shape == want.shape == (frames // 2, 16)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_synthetic_cross_kv_layout(built: Built) -> None:
    mel = _random_mel(64)
    outputs = [o.name for o in built.runtime.encoder.get_outputs()]
    values = dict(zip(outputs, built.runtime.encoder.run(None, {"mel": mel[None]})))
    enc = reference_encoder(built.variables, mel, 2, 2)
    for layer in range(2):
        k, v = cross_kv(built.variables, enc, layer)  # [S, D]
        want_k = k.reshape(32, 2, 8).transpose(1, 2, 0)  # [H, dh, S]
        want_v = v.reshape(32, 2, 8).transpose(1, 0, 2)  # [H, S, dh]
        np.testing.assert_allclose(values[f"cross_k_{layer}"], want_k, atol=1e-4)
        np.testing.assert_allclose(values[f"cross_v_{layer}"], want_v, atol=1e-4)


def test_synthetic_decoder_kv_cache_matches_full_pass(built: Built) -> None:
    mel = _random_mel(120, seed=3)
    enc = reference_encoder(built.variables, mel, 2, 2)
    prompt = [5, 17, 3, 42]
    follow = [7, 7, 59, 0, 31]
    full_logits, _ = reference_decoder(built.variables, prompt + follow, enc, 2, 2)

    state = built.runtime.encode(mel)
    assert state.frames == 60
    logits, _ = built.runtime.step(state, prompt)
    assert logits.shape == (60,)
    np.testing.assert_allclose(logits, full_logits[len(prompt) - 1], atol=1e-4)
    assert state.length == len(prompt)
    for i, token in enumerate(follow):
        logits, align = built.runtime.step(state, [token])
        assert align is None
        np.testing.assert_allclose(logits, full_logits[len(prompt) + i], atol=1e-4, err_msg=f"step {i}")
    assert state.length == len(prompt) + len(follow)
    assert state.self_cache["self_k_0"].shape() == [2, 8, len(prompt) + len(follow)]
    assert state.self_cache["self_v_1"].shape() == [2, len(prompt) + len(follow), 8]

    # feeding several tokens after a cache is the same as feeding them one by one
    state2 = built.runtime.encode(mel)
    built.runtime.step(state2, prompt[:2])
    logits2, _ = built.runtime.step(state2, prompt[2:] + follow)
    np.testing.assert_allclose(logits2, full_logits[-1], atol=1e-4)


def test_synthetic_decoder_alignment_attention(built: Built) -> None:
    mel = _random_mel(80, seed=4)
    enc = reference_encoder(built.variables, mel, 2, 2)
    tokens = [1, 2, 3, 4, 5, 6]
    _, cross = reference_decoder(built.variables, tokens, enc, 2, 2)
    state = built.runtime.encode(mel)
    _, align = built.runtime.step(state, tokens, want_alignment=True)
    assert align is not None
    assert align.shape == (3, len(tokens), 40)
    want = np.stack([cross[0][1], cross[1][0], cross[1][1]])
    np.testing.assert_allclose(align, want, atol=1e-5)
    np.testing.assert_allclose(align.sum(axis=-1), 1.0, atol=1e-5)


def test_default_alignment_heads_shape(tmp_path: Path, synthetic_whisper: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, variables = synthetic_whisper
    b = _build(tmp_path, path, variables, heads=None)
    state = b.runtime.encode(_random_mel(40))
    _, align = b.runtime.step(state, [1, 2, 3], want_alignment=True)
    assert align is not None and align.shape == (2, 3, 20)


def test_alignment_head_outside_the_model(synthetic_whisper: tuple[Path, dict[str, np.ndarray]]) -> None:
    model = read_ct2(synthetic_whisper[0])
    with pytest.raises(ModelError, match="outside the model"):
        build_decoder(model, [(2, 0)])
    with pytest.raises(ModelError, match="outside the model"):
        build_decoder(model, [(0, 2)])


def test_single_layer_fp16_model(tmp_path: Path,
                                 make_synthetic_whisper: Callable[..., tuple[Path, dict[str, np.ndarray]]]) -> None:
    path, variables = make_synthetic_whisper(n_encoder_layers=1, n_decoder_layers=1, n_heads=4, d_model=32,
                                             n_vocab=50, dtype=np.float16, seed=7)
    b = _build(tmp_path, path, variables)
    assert b.dims.n_heads == 4 and b.dims.d_head == 8
    mel = _random_mel(100, seed=9)
    enc = reference_encoder(variables, mel, 4, 1)
    np.testing.assert_allclose(b.runtime.encoder_output(mel), enc, atol=1e-4)
    full, _ = reference_decoder(variables, [3, 1, 4, 1, 5], enc, 4, 1)
    state = b.runtime.encode(mel)
    np.testing.assert_allclose(b.runtime.step(state, [3, 1, 4])[0], full[2], atol=1e-4)
    np.testing.assert_allclose(b.runtime.step(state, [1])[0], full[3], atol=1e-4)
    np.testing.assert_allclose(b.runtime.step(state, [5])[0], full[4], atol=1e-4)


def test_runtime_rejects_bad_frame_counts(built: Built) -> None:
    for frames in (0, 3, 3002):
        with pytest.raises(ValueError, match="even"):
            built.runtime.encode(np.zeros((80, frames), np.float32))


# read_dims errors --------------------------------------------------------------------------------------------


def _write_and_read(tmp_path: Path, variables: dict[str, np.ndarray], spec_name: str = "WhisperSpec") -> CT2Model:
    path = tmp_path / "model.bin"
    write_ct2(path, variables, aliases={"decoder/projection/weight": "decoder/embeddings/weight"},
              spec_name=spec_name)
    return read_ct2(path)


def test_read_dims_wrong_spec(tmp_path: Path, synthetic_whisper: tuple[Path, dict[str, np.ndarray]]) -> None:
    model = _write_and_read(tmp_path, synthetic_whisper[1], spec_name="TransformerSpec")
    with pytest.raises(ModelError, match="TransformerSpec"):
        read_dims(model)


@pytest.mark.parametrize("drop", ["encoder/layer_", "decoder/layer_", "encoder/layer_0/", "decoder/layer_0/"])
def test_read_dims_missing_layers(tmp_path: Path, synthetic_whisper: tuple[Path, dict[str, np.ndarray]],
                                  drop: str) -> None:
    variables = {k: v for k, v in synthetic_whisper[1].items() if not k.startswith(drop)}
    with pytest.raises(ModelError, match="layers are missing"):
        read_dims(_write_and_read(tmp_path, variables))


@pytest.mark.parametrize("drop", ["encoder/conv1/weight", "decoder/embeddings/weight", "encoder/num_heads",
                                  "decoder/position_encodings/encodings"])
def test_read_dims_missing_variable(tmp_path: Path, synthetic_whisper: tuple[Path, dict[str, np.ndarray]],
                                    drop: str) -> None:
    variables = {k: v for k, v in synthetic_whisper[1].items() if k != drop}
    path = tmp_path / "model.bin"
    write_ct2(path, variables)
    with pytest.raises(ModelError, match=drop):
        read_dims(read_ct2(path))


def test_read_dims_bad_head_count(tmp_path: Path, synthetic_whisper: tuple[Path, dict[str, np.ndarray]]) -> None:
    variables = dict(synthetic_whisper[1])
    variables["encoder/num_heads"] = np.array(3, np.int16)  # 16 is not divisible by 3
    with pytest.raises(ModelError, match="unexpected shapes"):
        read_dims(_write_and_read(tmp_path, variables))
    variables["encoder/num_heads"] = np.array(0, np.int16)
    with pytest.raises(ModelError, match="unexpected shapes"):
        read_dims(_write_and_read(tmp_path, variables))


# The real tiny.en model ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_fp32() -> Converted:
    return ensure_converted(resolve("tiny.en"), "fp32")


@pytest.fixture(scope="module")
def tiny_runtime(tiny_fp32: Converted) -> Runtime:
    dims = tiny_fp32.dims
    encoder, decoder = tiny_fp32.graphs("fp32")
    return Runtime(encoder, decoder, dims.n_decoder_layers, dims.n_heads, dims.d_head, threads=2)


@pytest.fixture(scope="module")
def tiny_weights(tiny_model_dir: Path) -> dict[str, np.ndarray]:
    return read_ct2(tiny_model_dir / "model.bin").variables


@pytest.fixture(scope="module")
def jfk_mel(jfk_audio: np.ndarray) -> np.ndarray:
    return pad_or_trim(log_mel(jfk_audio))


@pytest.fixture(scope="module")
def jfk_reference_encoding(tiny_weights: dict[str, np.ndarray], jfk_mel: np.ndarray) -> np.ndarray:
    return reference_encoder(tiny_weights, jfk_mel, 6, 4)


def test_real_dims(tiny_fp32: Converted) -> None:
    assert tiny_fp32.dims == Dims(n_mels=80, d_model=384, n_heads=6, n_encoder_layers=4, n_decoder_layers=4,
                                  n_vocab=51864, n_text_ctx=448, n_audio_ctx=1500)
    assert tiny_fp32.manifest["alignment_heads"] == [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]]


def test_real_encoder_matches_numpy(tiny_runtime: Runtime, jfk_mel: np.ndarray,
                                    jfk_reference_encoding: np.ndarray) -> None:
    got = tiny_runtime.encoder_output(jfk_mel)
    assert got.shape == (1500, 384)
    diff = float(np.abs(got - jfk_reference_encoding).max())
    print(f"tiny.en encoder fp32 vs NumPy float64: max abs diff {diff:.3g}")
    assert diff < 2e-4  # measured 1.4e-5 on an AVX-512 Xeon


def test_real_encoder_on_a_short_mel(tiny_runtime: Runtime, tiny_weights: dict[str, np.ndarray],
                                     jfk_mel: np.ndarray) -> None:
    mel = jfk_mel[:, :400]
    got = tiny_runtime.encoder_output(mel)
    assert got.shape == (200, 384)
    want = reference_encoder(tiny_weights, mel, 6, 4)
    assert float(np.abs(got - want).max()) < 2e-4


def test_real_decoder_matches_numpy(tiny_runtime: Runtime, tiny_weights: dict[str, np.ndarray],
                                    jfk_mel: np.ndarray, jfk_reference_encoding: np.ndarray,
                                    tiny_fp32: Converted) -> None:
    from stenod.engine.tokenizer import WhisperTokenizer

    tok = WhisperTokenizer(tiny_fp32.directory / "tokenizer.json", 51864)
    text = tok.encode(" And so my fellow Americans")
    prompt = [tok.sot, tok.no_timestamps]
    want, cross = reference_decoder(tiny_weights, prompt + text, jfk_reference_encoding, 6, 4)
    state = tiny_runtime.encode(jfk_mel)
    logits, _ = tiny_runtime.step(state, prompt)
    scale = float(np.abs(want).max())
    assert np.abs(logits - want[1]).max() < 2e-3 * scale
    assert int(np.argmax(logits)) == int(np.argmax(want[1])) == text[0]  # the model's first word is " And"
    for i, token in enumerate(text[:-1]):
        logits, _ = tiny_runtime.step(state, [token])
        assert np.abs(logits - want[2 + i]).max() < 2e-3 * scale, i
    # alignment heads from config.json: layer-major order as listed
    _, align = tiny_runtime.step(tiny_runtime.encode(jfk_mel), prompt + text, want_alignment=True)
    assert align is not None and align.shape == (8, len(prompt) + len(text), 1500)
    heads = [(1, 0), (2, 0), (2, 5), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4)]
    np.testing.assert_allclose(align, np.stack([cross[layer][head] for layer, head in heads]), atol=1e-3)


def test_int8_ctranslate2_weights_are_scaled_back_to_float() -> None:
    from stenod.engine.convert import float_weight
    from stenod.engine.ct2 import CT2Model

    weight = np.array([[10, -20], [30, 40]], np.int8)
    model = CT2Model("WhisperSpec", 3, 6, {"x/weight": weight, "x/weight_scale": np.array([2.0, 4.0], np.float32),
                                           "y/weight": np.array([[1.5]], np.float16)})
    np.testing.assert_allclose(float_weight(model, "x/weight"), [[5.0, -10.0], [7.5, 10.0]])
    assert float_weight(model, "y/weight").dtype == np.float32
