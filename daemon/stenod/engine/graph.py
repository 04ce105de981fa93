"""A small helper for building ONNX graphs from numpy arrays with ``onnx.helper``."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphBuilder:
    """Accumulates nodes and initializers; every op returns the name of its (first) output."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._ids = itertools.count()
        self._consts: dict[tuple[str, bytes, tuple[int, ...]], str] = {}

    def fresh(self, hint: str) -> str:
        return f"{hint}_{next(self._ids)}"

    def input(self, name: str, elem: int, shape: Sequence[int | str]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem, list(shape)))
        return name

    def output(self, value: str, name: str, elem: int, shape: Sequence[int | str] | None) -> None:
        self.nodes.append(helper.make_node("Identity", [value], [name]))
        self.outputs.append(helper.make_tensor_value_info(name, elem, None if shape is None else list(shape)))

    def weight(self, array: np.ndarray, hint: str) -> str:
        """A named initializer (a copy, so 0-d arrays keep their rank)."""
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.array(array, copy=True), name))
        return name

    def const(self, value: float | int | Sequence[int], dtype: type = np.int64) -> str:
        array: np.ndarray = np.array(value, dtype=dtype)
        key = (array.dtype.str, array.tobytes(), array.shape)
        if key not in self._consts:
            self._consts[key] = self.weight(array, "c")
        return self._consts[key]

    def op(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        out = self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    # Layers -----------------------------------------------------------------------------
    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray | None, hint: str) -> str:
        """``x @ weight.T + bias`` for a PyTorch-layout ``[out, in]`` weight."""
        y = self.op("MatMul", [x, self.weight(np.ascontiguousarray(weight.T), hint + "_w")])
        if bias is not None:
            y = self.op("Add", [y, self.weight(bias, hint + "_b")])
        return y

    def layer_norm(self, x: str, gamma: np.ndarray, beta: np.ndarray, hint: str) -> str:
        return self.op(
            "LayerNormalization", [x, self.weight(gamma, hint + "_g"), self.weight(beta, hint + "_b")],
            axis=-1, epsilon=1e-5,
        )

    def gelu(self, x: str) -> str:
        """Exact (erf) GELU, written so that ONNX Runtime fuses it."""
        scaled = self.op("Div", [x, self.const(np.sqrt(2.0), np.float32)])
        erf = self.op("Erf", [scaled])
        return self.op("Mul", [self.op("Mul", [x, self.op("Add", [erf, self.const(1.0, np.float32)])]),
                               self.const(0.5, np.float32)])

    def heads(self, x: str, n_heads: int, d_head: int, perm: Sequence[int]) -> str:
        """``[S, D]`` → ``[S, H, dh]`` → transposed by ``perm``."""
        split = self.op("Reshape", [x, self.const([0, n_heads, d_head])])
        return self.op("Transpose", [split], perm=list(perm))

    def merge_heads(self, x: str, d_model: int) -> str:
        """``[H, S, dh]`` → ``[S, D]``."""
        return self.op("Reshape", [self.op("Transpose", [x], perm=[1, 0, 2]), self.const([-1, d_model])])

    def model(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="stenod")
        model.ir_version = 8
        return model


F32 = TensorProto.FLOAT
I64 = TensorProto.INT64
