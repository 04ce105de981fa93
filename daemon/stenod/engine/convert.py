"""Build Whisper's ONNX graphs (encoder + cross K/V, decoder step) from CTranslate2 weights."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from stenod.engine.ct2 import CT2Model
from stenod.engine.graph import F32, I64, GraphBuilder
from stenod.errors import ModelError

CONVERTER_VERSION = 3


@dataclass(frozen=True)
class Dims:
    """The sizes of a Whisper model, read from its weights."""

    n_mels: int
    d_model: int
    n_heads: int
    n_encoder_layers: int
    n_decoder_layers: int
    n_vocab: int
    n_text_ctx: int
    n_audio_ctx: int

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


def _count_layers(model: CT2Model, prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    found = {int(m.group(1)) for name in model.variables if (m := pattern.match(name))}
    if not found or found != set(range(len(found))):
        raise ModelError(f"model.bin: {prefix} layers are missing or not numbered 0..n-1")
    return len(found)


def read_dims(model: CT2Model) -> Dims:
    if model.spec_name != "WhisperSpec":
        raise ModelError(f"model.bin holds a {model.spec_name or 'unnamed'} model, not Whisper")
    conv1 = model["encoder/conv1/weight"]
    emb = model["decoder/embeddings/weight"]
    heads = model.scalar("encoder/num_heads")
    if conv1.ndim != 3 or emb.ndim != 2 or heads <= 0 or conv1.shape[0] % heads:
        raise ModelError("model.bin: Whisper weights have unexpected shapes")
    return Dims(
        n_mels=conv1.shape[1],
        d_model=conv1.shape[0],
        n_heads=heads,
        n_encoder_layers=_count_layers(model, "encoder"),
        n_decoder_layers=_count_layers(model, "decoder"),
        n_vocab=emb.shape[0],
        n_text_ctx=model["decoder/position_encodings/encodings"].shape[0],
        n_audio_ctx=model["encoder/position_encodings/encodings"].shape[0],
    )


def float_weight(model: CT2Model, name: str) -> np.ndarray:
    """A variable as fp32; integer-quantized CTranslate2 weights are scaled back by their ``_scale``."""
    value = model[name]
    if np.issubdtype(value.dtype, np.integer) and f"{name}_scale" in model:
        scale = np.asarray(model[f"{name}_scale"], dtype=np.float32)
        return value.astype(np.float32) / (scale.reshape(-1, *([1] * (value.ndim - 1))) if scale.ndim else scale)
    return np.asarray(value, dtype=np.float32)


class _Weights:
    """fp32 views of the CTranslate2 variables under one prefix."""

    def __init__(self, model: CT2Model, prefix: str) -> None:
        self._model = model
        self._prefix = prefix

    def __call__(self, name: str) -> np.ndarray:
        return float_weight(self._model, f"{self._prefix}/{name}")

    def optional(self, name: str) -> np.ndarray | None:
        full = f"{self._prefix}/{name}"
        return float_weight(self._model, full) if full in self._model else None


def _split_rows(weight: np.ndarray, bias: np.ndarray | None, parts: int) -> list[tuple[np.ndarray, np.ndarray | None]]:
    ws = np.split(weight, parts, axis=0)
    bs = np.split(bias, parts) if bias is not None else [None] * parts
    return [(w, None if b is None or not np.any(b) else b) for w, b in zip(ws, bs)]


def _scaled(weight: np.ndarray, bias: np.ndarray | None, scale: float) -> tuple[np.ndarray, np.ndarray | None]:
    return weight * np.float32(scale), None if bias is None else bias * np.float32(scale)


def _self_attention_projections(w: _Weights, name: str, dims: Dims) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Q (pre-scaled by 1/sqrt(d_head)), K and V weights from the fused ``linear_0``."""
    (wq, bq), k, v = _split_rows(w(f"{name}/linear_0/weight"), w.optional(f"{name}/linear_0/bias"), 3)
    return [_scaled(wq, bq, dims.d_head**-0.5), k, v]


def _ffn(g: GraphBuilder, x: str, w: _Weights, name: str) -> str:
    h = g.layer_norm(x, w(f"{name}/layer_norm/gamma"), w(f"{name}/layer_norm/beta"), name)
    h = g.linear(h, w(f"{name}/linear_0/weight"), w.optional(f"{name}/linear_0/bias"), name + "_fc1")
    h = g.linear(g.gelu(h), w(f"{name}/linear_1/weight"), w.optional(f"{name}/linear_1/bias"), name + "_fc2")
    return g.op("Add", [x, h])


def build_encoder(model: CT2Model, dims: Dims | None = None) -> onnx.ModelProto:
    """``mel [1, n_mels, F]`` (F even, ≤ 3000) → ``cross_k_i [H, dh, F/2]``, ``cross_v_i [H, F/2, dh]``."""
    dims = dims or read_dims(model)
    w = _Weights(model, "encoder")
    g = GraphBuilder("whisper_encoder")
    mel = g.input("mel", F32, [1, dims.n_mels, "frames"])
    x = g.op("Conv", [mel, g.weight(w("conv1/weight"), "conv1_w"), g.weight(w("conv1/bias"), "conv1_b")],
             kernel_shape=[3], pads=[1, 1])
    x = g.gelu(x)
    x = g.op("Conv", [x, g.weight(w("conv2/weight"), "conv2_w"), g.weight(w("conv2/bias"), "conv2_b")],
             kernel_shape=[3], pads=[1, 1], strides=[2])
    x = g.gelu(x)
    x = g.op("Reshape", [g.op("Transpose", [x], perm=[0, 2, 1]), g.const([-1, dims.d_model])])  # [S, D]
    length = g.op("Slice", [g.op("Shape", [x]), g.const([0]), g.const([1])])
    positions = g.op("Slice", [g.weight(w("position_encodings/encodings"), "enc_pos"), g.const([0]), length,
                               g.const([0])])
    x = g.op("Add", [x, positions])
    for i in range(dims.n_encoder_layers):
        name = f"layer_{i}/self_attention"
        h = g.layer_norm(x, w(f"{name}/layer_norm/gamma"), w(f"{name}/layer_norm/beta"), f"enc{i}_ln1")
        (wq, bq), (wk, bk), (wv, bv) = _self_attention_projections(w, name, dims)
        q = g.heads(g.linear(h, wq, bq, f"enc{i}_q"), dims.n_heads, dims.d_head, [1, 0, 2])
        k = g.heads(g.linear(h, wk, bk, f"enc{i}_k"), dims.n_heads, dims.d_head, [1, 2, 0])
        v = g.heads(g.linear(h, wv, bv, f"enc{i}_v"), dims.n_heads, dims.d_head, [1, 0, 2])
        attn = g.op("Softmax", [g.op("MatMul", [q, k])], axis=-1)
        o = g.merge_heads(g.op("MatMul", [attn, v]), dims.d_model)
        o = g.linear(o, w(f"{name}/linear_1/weight"), w.optional(f"{name}/linear_1/bias"), f"enc{i}_o")
        x = g.op("Add", [x, o])
        x = _ffn(g, x, w, f"layer_{i}/ffn")
    x = g.layer_norm(x, w("layer_norm/gamma"), w("layer_norm/beta"), "enc_ln")
    g.output(x, "enc_out", F32, ["enc_frames", dims.d_model])
    dw = _Weights(model, "decoder")
    for i in range(dims.n_decoder_layers):
        name = f"layer_{i}/attention/linear_1"
        (wk, bk), (wv, bv) = _split_rows(dw(f"{name}/weight"), dw.optional(f"{name}/bias"), 2)
        k = g.heads(g.linear(x, wk, bk, f"cross{i}_k"), dims.n_heads, dims.d_head, [1, 2, 0])
        v = g.heads(g.linear(x, wv, bv, f"cross{i}_v"), dims.n_heads, dims.d_head, [1, 0, 2])
        g.output(k, f"cross_k_{i}", F32, [dims.n_heads, dims.d_head, "enc_frames"])
        g.output(v, f"cross_v_{i}", F32, [dims.n_heads, "enc_frames", dims.d_head])
    return g.model()


def default_alignment_heads(dims: Dims) -> list[tuple[int, int]]:
    """Whisper's fallback: every head of the upper half of the decoder layers."""
    return [(layer, head) for layer in range(dims.n_decoder_layers // 2, dims.n_decoder_layers)
            for head in range(dims.n_heads)]


def build_decoder(model: CT2Model, alignment_heads: Sequence[Sequence[int]],
                  dims: Dims | None = None) -> onnx.ModelProto:
    """One decoder step over ``T`` new tokens with a self-attention cache of ``P`` positions.

    Inputs: ``tokens [1, T]``, per layer ``self_k_i [H, dh, P]``, ``self_v_i [H, P, dh]``,
    ``cross_k_i``, ``cross_v_i`` (from the encoder). Outputs: ``logits [1, V]`` for the last new
    token, ``new_self_k_i``/``new_self_v_i`` (the caches grown by T) and ``align_attn
    [n_alignment_heads, T, S]``, the cross-attention of the alignment heads.
    """
    dims = dims or read_dims(model)
    heads = [(int(layer), int(head)) for layer, head in alignment_heads] or default_alignment_heads(dims)
    for layer, head in heads:
        if not (0 <= layer < dims.n_decoder_layers and 0 <= head < dims.n_heads):
            raise ModelError(f"alignment head ({layer}, {head}) is outside the model")
    w = _Weights(model, "decoder")
    g = GraphBuilder("whisper_decoder")
    H, dh = dims.n_heads, dims.d_head
    tokens = g.input("tokens", I64, [1, "new"])
    caches = []
    for i in range(dims.n_decoder_layers):
        caches.append((
            g.input(f"self_k_{i}", F32, [H, dh, "past"]),
            g.input(f"self_v_{i}", F32, [H, "past", dh]),
            g.input(f"cross_k_{i}", F32, [H, dh, "enc_frames"]),
            g.input(f"cross_v_{i}", F32, [H, "enc_frames", dh]),
        ))
    ids = g.op("Reshape", [tokens, g.const([-1])])
    embeddings = w("embeddings/weight")
    # The lookup table stays in fp16 when the source weights are fp16: half the memory, no loss.
    if model["decoder/embeddings/weight"].dtype == np.float16:
        table = g.weight(embeddings.astype(np.float16), "embed")
        x = g.op("Cast", [g.op("Gather", [table, ids], axis=0)], to=F32)  # [T, D]
    else:
        x = g.op("Gather", [g.weight(embeddings, "embed"), ids], axis=0)
    n_new = g.op("Squeeze", [g.op("Shape", [ids])])
    n_past = g.op("Squeeze", [g.op("Slice", [g.op("Shape", [caches[0][0]]), g.const([2]), g.const([3])])])
    n_total = g.op("Add", [n_past, n_new])
    positions = g.op("Range", [n_past, n_total, g.const(1)])
    x = g.op("Add", [x, g.op("Gather", [g.weight(w("position_encodings/encodings"), "dec_pos"), positions],
                             axis=0)])
    rows = g.op("Unsqueeze", [positions, g.const([1])])
    cols = g.op("Unsqueeze", [g.op("Range", [g.const(0), n_total, g.const(1)]), g.const([0])])
    mask = g.op("Where", [g.op("Greater", [cols, rows]), g.const(-np.inf, np.float32), g.const(0.0, np.float32)])
    align: list[str] = []
    for i, (self_k, self_v, cross_k, cross_v) in enumerate(caches):
        name = f"layer_{i}/self_attention"
        h = g.layer_norm(x, w(f"{name}/layer_norm/gamma"), w(f"{name}/layer_norm/beta"), f"dec{i}_ln1")
        (wq, bq), (wk, bk), (wv, bv) = _self_attention_projections(w, name, dims)
        q = g.heads(g.linear(h, wq, bq, f"dec{i}_q"), H, dh, [1, 0, 2])
        k = g.op("Concat", [self_k, g.heads(g.linear(h, wk, bk, f"dec{i}_k"), H, dh, [1, 2, 0])], axis=2)
        v = g.op("Concat", [self_v, g.heads(g.linear(h, wv, bv, f"dec{i}_v"), H, dh, [1, 0, 2])], axis=1)
        g.output(k, f"new_self_k_{i}", F32, [H, dh, "total"])
        g.output(v, f"new_self_v_{i}", F32, [H, "total", dh])
        attn = g.op("Softmax", [g.op("Add", [g.op("MatMul", [q, k]), mask])], axis=-1)
        o = g.merge_heads(g.op("MatMul", [attn, v]), dims.d_model)
        x = g.op("Add", [x, g.linear(o, w(f"{name}/linear_1/weight"), w.optional(f"{name}/linear_1/bias"),
                                     f"dec{i}_o")])
        name = f"layer_{i}/attention"
        h = g.layer_norm(x, w(f"{name}/layer_norm/gamma"), w(f"{name}/layer_norm/beta"), f"dec{i}_ln2")
        wq, bq = _scaled(w(f"{name}/linear_0/weight"), w.optional(f"{name}/linear_0/bias"), dh**-0.5)
        q = g.heads(g.linear(h, wq, bq, f"dec{i}_xq"), H, dh, [1, 0, 2])
        attn = g.op("Softmax", [g.op("MatMul", [q, cross_k])], axis=-1)  # [H, T, S]
        layer_heads = [head for layer, head in heads if layer == i]
        if layer_heads:
            align.append(g.op("Gather", [attn, g.const(layer_heads)], axis=0))
        o = g.merge_heads(g.op("MatMul", [attn, cross_v]), dims.d_model)
        x = g.op("Add", [x, g.linear(o, w(f"{name}/linear_2/weight"), w.optional(f"{name}/linear_2/bias"),
                                     f"dec{i}_xo")])
        x = _ffn(g, x, w, f"layer_{i}/ffn")
    x = g.layer_norm(x, w("layer_norm/gamma"), w("layer_norm/beta"), "dec_ln")
    last = g.op("Unsqueeze", [g.op("Gather", [x, g.const(-1)], axis=0), g.const([0])])  # [1, D]
    logits = g.op("MatMul", [last, g.weight(np.ascontiguousarray(embeddings.T), "unembed")])
    g.output(logits, "logits", F32, [1, dims.n_vocab])
    g.output(align[0] if len(align) == 1 else g.op("Concat", align, axis=0), "align_attn", F32,
             [len(heads), "new", "enc_frames"])
    return g.model()
