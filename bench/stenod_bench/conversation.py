"""A conversation built from the dev set's speakers, with its true turns, and the diarization error rate.

The turns are whole dev-set utterances of several speakers in a shuffled order, 0.3-1.2 s apart, so who
spoke when is known to the sample. ``der`` scores a hypothesis (speaker-labelled stretches) against them:
missed speech, false alarm and confusion over 10 ms frames, the hypothesis' speakers mapped one to one onto
the reference's so that they overlap the most (no collar, no overlap in the reference).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from stenod.core import SAMPLE_RATE
from stenod_bench.evaluation import load_manifest

Turn = tuple[float, float, str]  # start s, end s, speaker
SETS = {  # speakers with several utterances each in the dev set
    "four": ("ljspeech", "librivox_austen", "sb_spk1", "sb_spk2"),
    "three": ("ljspeech", "ps_cards", "librivox_austen"),
    "five": ("ljspeech", "librivox_austen", "sb_spk1", "sb_spk2", "ps_cards"),
    "two": ("sb_spk1", "ljspeech"),
}


@dataclass
class Conversation:
    audio: np.ndarray
    turns: list[Turn]
    texts: list[str]


def build(speakers: tuple[str, ...], seed: int = 0, per_speaker: int = 5) -> Conversation:
    rng = random.Random(seed)
    pools = {s: [i for i in load_manifest() if i.speaker == s] for s in speakers}
    for speaker, pool in pools.items():
        if not pool:
            raise ValueError(f"no utterances of {speaker} in the dev set")
        rng.shuffle(pool)
        pools[speaker] = pool[:per_speaker]
    order = [s for s in speakers for _ in range(len(pools[s]))]
    rng.shuffle(order)
    pieces = [np.zeros(SAMPLE_RATE // 2, np.float32)]
    turns: list[Turn] = []
    texts: list[str] = []
    at = len(pieces[0])
    for speaker in order:
        item = pools[speaker].pop()
        audio, rate = sf.read(item.audio, dtype="float32", always_2d=True)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{item.audio}: {rate} Hz")
        audio = audio.mean(axis=1)
        turns.append((at / SAMPLE_RATE, (at + len(audio)) / SAMPLE_RATE, speaker))
        texts.append(item.text)
        gap = np.zeros(int(rng.uniform(0.3, 1.2) * SAMPLE_RATE), np.float32)
        pieces += [audio, gap]
        at += len(audio) + len(gap)
    return Conversation(np.concatenate(pieces), turns, texts)


def _frames(turns: list[Turn], names: list[str], n: int, step: float) -> np.ndarray:
    grid = np.zeros((len(names), n), bool)
    for start, end, speaker in turns:
        grid[names.index(speaker), int(start / step):int(end / step)] = True
    return grid


def der(reference: list[Turn], hypothesis: list[Turn], step: float = 0.01) -> dict[str, float]:
    """Diarization error rate and its parts, as fractions of the reference's speech."""
    n = int(max(end for _, end, _ in [*reference, *hypothesis]) / step) + 2
    ref_names = sorted({s for *_, s in reference})
    hyp_names = sorted({s for *_, s in hypothesis})
    ref = _frames(reference, ref_names, n, step)
    hyp = _frames(hypothesis, hyp_names, n, step)
    speech = max(1, int(ref.any(0).sum()))
    missed = int((ref.any(0) & ~hyp.any(0)).sum())
    false_alarm = int((~ref.any(0) & hyp.any(0)).sum())
    overlap = (ref[:, None, :] & hyp[None, :, :]).sum(axis=2)
    small, large = sorted([len(ref_names), len(hyp_names)])
    best = 0
    for chosen in itertools.permutations(range(large), small):  # a handful of speakers: every mapping
        pairs = zip(range(small), chosen)
        best = max(best, sum(int(overlap[a, b] if len(ref_names) <= len(hyp_names) else overlap[b, a])
                             for a, b in pairs))
    confusion = int((ref.any(0) & hyp.any(0)).sum()) - best
    return {"der": (missed + false_alarm + confusion) / speech, "missed": missed / speech,
            "false_alarm": false_alarm / speech, "confusion": confusion / speech,
            "speakers": len(hyp_names), "reference_speakers": len(ref_names)}
