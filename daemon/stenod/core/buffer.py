"""A growing stream of audio addressed by absolute sample offsets, trimmed from the front."""

from __future__ import annotations

import numpy as np


class AudioBuffer:
    def __init__(self) -> None:
        self._data = np.zeros(0, dtype=np.float32)
        self.base = 0  # stream offset of _data[0]

    @property
    def end(self) -> int:
        return self.base + len(self._data)

    def append(self, samples: np.ndarray) -> None:
        self._data = np.concatenate([self._data, np.asarray(samples, dtype=np.float32).reshape(-1)])

    def slice(self, start: int, end: int) -> np.ndarray:
        """Samples ``[start, end)``; the part already trimmed away is not returned."""
        lo = max(start, self.base) - self.base
        hi = max(lo, min(end, self.end) - self.base)
        return self._data[lo:hi].copy()

    def trim(self, before: int) -> None:
        """Forget the samples before ``before``."""
        cut = min(max(0, before - self.base), len(self._data))
        if cut:
            self._data = self._data[cut:]
            self.base += cut
