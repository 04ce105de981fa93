"""ONNX Runtime sessions for the encoder and decoder-step graphs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from stenod.errors import ModelError


def session_options(threads: int, spinning: bool = True) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # The CPU arena reuses the encoder's buffers between windows: about 5% faster over the dev set for
    # about 35 MiB more peak memory (tiny.en int8: 353 vs 319 MiB).
    opts.enable_cpu_mem_arena = True
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def open_session(path: Path, threads: int, expect_inputs: set[str], expect_outputs: set[str],
                 spinning: bool = True) -> ort.InferenceSession:
    """Open an ONNX graph, with a one-line :class:`ModelError` if it is missing, corrupt or wrong."""
    if not path.is_file():
        raise ModelError(f"{path}: missing")
    try:
        session = ort.InferenceSession(str(path), sess_options=session_options(threads, spinning),
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: not a loadable ONNX graph ({first[:200]})") from None
    have_in = {i.name for i in session.get_inputs()}
    have_out = {o.name for o in session.get_outputs()}
    missing = sorted((expect_inputs - have_in) | (expect_outputs - have_out))
    if missing:
        raise ModelError(f"{path}: not a stenod Whisper graph (lacks {', '.join(missing[:4])})")
    return session


@dataclass
class DecoderState:
    """The key/value caches of one decoding pass."""

    cross: dict[str, ort.OrtValue]
    frames: int
    self_cache: dict[str, ort.OrtValue] = field(default_factory=dict)
    length: int = 0


class Runtime:
    """Runs the two graphs; holds one session each, created once."""

    def __init__(self, encoder: Path, decoder: Path, n_layers: int, n_heads: int, d_head: int,
                 threads: int = 2) -> None:
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.d_head = d_head
        cross = {f"cross_{kv}_{i}" for kv in "kv" for i in range(n_layers)}
        self._self_in = [f"self_{kv}_{i}" for i in range(n_layers) for kv in "kv"]
        self._self_out = ["new_" + name for name in self._self_in]
        # Neither pool spins after a run. The encoder's spinning threads took the cores from the decoder
        # steps that follow (10% of a transcription's time); the decoder's burned CPU between steps and
        # between partials for no measurable speed (live on tiny.en: 0.48 → 0.41 CPU-s per second of audio,
        # the same latency; offline: the same wall time, 5-10% less CPU).
        self.encoder = open_session(encoder, threads, {"mel"}, cross, spinning=False)
        self.decoder = open_session(decoder, threads, {"tokens", *cross, *self._self_in},
                                    {"logits", "align_attn", *self._self_out}, spinning=False)
        self._cross_names = sorted(cross)
        self._empty = {
            f"self_k_{i}": np.zeros((n_heads, d_head, 0), np.float32) for i in range(n_layers)
        } | {f"self_v_{i}": np.zeros((n_heads, 0, d_head), np.float32) for i in range(n_layers)}

    def encode(self, mel: np.ndarray) -> DecoderState:
        """Encode ``mel [n_mels, F]`` (F even, at most 3000) into a fresh decoding state."""
        if mel.ndim == 2:
            mel = mel[None]
        if mel.shape[-1] % 2 or not 0 < mel.shape[-1] <= 3000:
            raise ValueError(f"mel frame count must be even and in 2..3000, got {mel.shape[-1]}")
        values = self.encoder.run_with_ort_values(self._cross_names,
                                                  {"mel": ort.OrtValue.ortvalue_from_numpy(
                                                      np.ascontiguousarray(mel, dtype=np.float32))})
        return DecoderState(cross=dict(zip(self._cross_names, values)), frames=mel.shape[-1] // 2)

    def encoder_output(self, mel: np.ndarray) -> np.ndarray:
        """The encoder's final hidden states ``[F/2, D]`` (for verification)."""
        hidden: np.ndarray = self.encoder.run(["enc_out"], {"mel": np.ascontiguousarray(
            mel[None] if mel.ndim == 2 else mel, dtype=np.float32)})[0]
        return hidden

    def step(self, state: DecoderState, tokens: list[int], want_alignment: bool = False
             ) -> tuple[np.ndarray, np.ndarray | None]:
        """Feed ``tokens`` after what ``state`` has seen; returns the last token's logits ``[V]``."""
        feeds: dict[str, ort.OrtValue] = dict(state.cross)
        feeds["tokens"] = ort.OrtValue.ortvalue_from_numpy(np.asarray([tokens], dtype=np.int64))
        if state.self_cache:
            feeds.update(state.self_cache)
        else:
            feeds.update({k: ort.OrtValue.ortvalue_from_numpy(v) for k, v in self._empty.items()})
        names = ["logits", *self._self_out] + (["align_attn"] if want_alignment else [])
        out = self.decoder.run_with_ort_values(names, feeds)
        state.self_cache = dict(zip(self._self_in, out[1:1 + len(self._self_out)]))
        state.length += len(tokens)
        align = out[-1].numpy() if want_alignment else None
        return out[0].numpy()[0], align
