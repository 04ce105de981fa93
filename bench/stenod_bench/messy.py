"""A long, messy recording built from the dev set: speech separated by room tone, noise and a music loop.

Nothing is committed: the audio is made on the fly from ``../shared/eval`` and numpy. Each gap is one of
three kinds, in turn: quiet room tone (-60 dBFS), broadband noise (-32 dBFS, like a fan or traffic) and a
synthetic music loop (a chord progression of sines with a beat). ``speech`` says where the speech is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stenod.core import SAMPLE_RATE

GAP_KINDS = ("room", "noise", "music")


@dataclass
class Messy:
    audio: np.ndarray
    speech: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each speech piece, s
    texts: list[str] = field(default_factory=list)  # its reference transcript


def _room(n: int, rng: np.random.Generator) -> np.ndarray:
    return (rng.standard_normal(n) * 10 ** (-60 / 20)).astype(np.float32)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    brown = np.cumsum(white)
    brown -= np.convolve(brown, np.ones(801) / 801, mode="same")  # no drift: a low rumble plus hiss
    mixed = 0.6 * white / np.abs(white).max() + 0.4 * brown / max(1e-9, np.abs(brown).max())
    return (mixed / np.sqrt(np.mean(mixed ** 2)) * 10 ** (-32 / 20)).astype(np.float32)


def _music(n: int) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (196.0, 246.9, 311.1)]
    out = np.zeros(n)
    bar = 2 * SAMPLE_RATE
    for i, start in enumerate(range(0, n, bar)):
        stop = min(n, start + bar)
        for f in chords[i % len(chords)]:
            out[start:stop] += np.sin(2 * np.pi * f * t[start:stop]) + 0.3 * np.sin(4 * np.pi * f * t[start:stop])
    beat = (np.sin(2 * np.pi * 2 * t) > 0.95) * np.sin(2 * np.pi * 60 * t) * 3  # a kick twice a second
    out += beat
    return (out / np.abs(out).max() * 0.25).astype(np.float32)


def gap(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * SAMPLE_RATE)
    return {"room": lambda: _room(n, rng), "noise": lambda: _noise(n, rng), "music": lambda: _music(n)}[kind]()


def build(pieces: list[tuple[np.ndarray, str]], gap_s: float, seed: int = 0) -> Messy:
    """The pieces (16 kHz audio, its text) with a gap of ``gap_s`` before each and after the last."""
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    messy = Messy(np.zeros(0, np.float32))
    at = 0
    for i, (audio, text) in enumerate(pieces):
        filler = gap(GAP_KINDS[i % len(GAP_KINDS)], gap_s, rng)
        parts += [filler, audio.astype(np.float32) + _room(len(audio), rng)]
        at += len(filler)
        messy.speech.append((at / SAMPLE_RATE, (at + len(audio)) / SAMPLE_RATE))
        messy.texts.append(text)
        at += len(audio)
    parts.append(gap(GAP_KINDS[len(pieces) % len(GAP_KINDS)], gap_s, rng))
    messy.audio = np.concatenate(parts)
    return messy


def words_outside(words: list[tuple[float, float]], speech: list[tuple[float, float]], margin: float = 0.5) -> int:
    """How many words (start, end) lie wholly outside every speech piece (widened by ``margin``)."""
    return sum(1 for s, e in words if not any(a - margin <= s and e <= b + margin for a, b in speech))
