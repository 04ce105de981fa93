"""``stenod transcribe`` on long, messy recordings: speech only, the formats, the containers, the bad inputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stenod_bench.evaluation import load_manifest, word_error_rate
from stenod_bench.messy import build, words_outside

PIECES = ("whisper_jfk", "sb_spk1_snt1", "sb_spk2_snt3")


def _stenod(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stenod", "transcribe", *args], capture_output=True, text=True,
                          timeout=600, env=env, input=stdin.decode("latin-1") if stdin else None)


@pytest.fixture(scope="module")
def messy(tmp_path_factory, eval_dir):
    """Three dev utterances with 25 s of room tone, noise and music before, between and after them."""
    items = {i.id: i for i in load_manifest(eval_dir)}
    pieces = [(sf.read(items[name].audio, dtype="float32")[0], items[name].text) for name in PIECES]
    recording = build(pieces, gap_s=25.0)
    path = tmp_path_factory.mktemp("messy") / "meeting.flac"
    sf.write(path, recording.audio, 16000)
    return path, recording


def test_only_the_speech_is_transcribed(messy) -> None:
    path, recording = messy
    done = _stenod(str(path), "--format", "json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    words = [(w["start"], w["end"]) for s in record["segments"] for w in s["words"]]
    assert words and words_outside(words, recording.speech) == 0  # nothing in the silence, noise or music
    assert word_error_rate([" ".join(recording.texts)], [record["raw_text"]]) <= 0.15
    assert record["duration"] == pytest.approx(len(recording.audio) / 16000, abs=0.05)
    first = next(w for s in record["segments"] for w in s["words"])
    assert abs(first["start"] - recording.speech[0][0]) < 1.0  # times are the recording's, not the window's


def test_formats_and_output_folder(messy, tmp_path) -> None:
    path, _ = messy
    out = tmp_path / "out"
    for fmt in ("txt", "md", "srt", "vtt"):
        done = _stenod(str(path), "-f", fmt, "-o", str(out), "--quiet")
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""
    txt = (out / "meeting.txt").read_text()
    assert len(txt.strip().split("\n\n")) == 3  # a paragraph per piece: 25 s pauses between them
    assert "ask not what your country can do for you" in txt.lower()
    md = (out / "meeting.md").read_text()
    assert md.startswith("# meeting\n") and md.count("**[00:0") == 3
    srt = (out / "meeting.srt").read_text()
    assert srt.startswith("1\n00:00:2") and " --> " in srt
    vtt = (out / "meeting.vtt").read_text()
    assert vtt.startswith("WEBVTT")
    karaoke = _stenod(str(path), "-f", "vtt", "--karaoke", "-q")
    assert karaoke.returncode == 0 and "<00:00:2" in karaoke.stdout  # each word's time inside the cues
    assert karaoke.stdout.replace("<", " <").count(" <00:") > 20
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_containers_through_ffmpeg_and_standard_input(jfk_wav, tmp_path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed (make deps installs it)", pytrace=False)
    m4a = tmp_path / "jfk.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(jfk_wav), "-c:a", "aac", "-b:a", "64k", str(m4a)], check=True)
    done = _stenod(str(m4a), "-q")
    assert done.returncode == 0, done.stderr
    assert "ask not what your country can do for you" in done.stdout.lower().replace(",", "")
    piped = subprocess.run([sys.executable, "-m", "stenod", "transcribe", "-", "-q"], stdin=m4a.open("rb"),
                           capture_output=True, text=True, timeout=600)
    assert piped.returncode == 0 and piped.stdout == done.stdout
    hidden = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no ffmpeg on the PATH
    refused = _stenod(str(m4a), env=hidden)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "ffmpeg" in refused.stderr


def test_no_speech_a_truncated_file_and_bad_output_folders(jfk_wav, tmp_path) -> None:
    rng = np.random.default_rng(1)
    noise = tmp_path / "fan.wav"
    sf.write(noise, (rng.standard_normal(20 * 16000) * 0.02).astype(np.float32), 16000)
    done = _stenod(str(noise), "-q")
    assert done.returncode == 0 and done.stdout == "" and "no speech found" in done.stderr
    cut = tmp_path / "cut.wav"
    cut.write_bytes(jfk_wav.read_bytes()[: len(jfk_wav.read_bytes()) // 2])  # the header still says 11 s
    done = _stenod(str(cut), "-q")
    assert done.returncode == 0, done.stderr
    assert "fellow americans" in done.stdout.lower() and "truncated" in done.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    refused = _stenod(str(jfk_wav), "-o", str(blocker / "out"))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "cannot create" in refused.stderr
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    refused = _stenod(str(empty))
    assert refused.returncode == 2 and "empty" in refused.stderr


def test_inputs_that_would_overwrite_each_other_and_a_pipe(jfk_wav, tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "talk.wav", tmp_path / "b" / "talk.wav"
    first.write_bytes(jfk_wav.read_bytes())
    second.write_bytes(jfk_wav.read_bytes())
    refused = _stenod(str(first), str(second), "-o", str(tmp_path / "out"))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "would both be written" in refused.stderr
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f'cat "{jfk_wav}" > "{fifo}"'])
    try:
        done = _stenod(str(fifo), "-q")
    finally:
        writer.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    assert "ask not what your country" in done.stdout.lower()


def test_holes_are_found_where_the_alignment_stretched_a_word() -> None:
    from stenod.engine.alignment import Word
    from stenod.recordings.windows import holes

    def word(start: float, end: float) -> Word:
        return Word(" w", start, end, 1.0, [1])

    assert holes([word(0.0, 0.5), word(0.6, 1.0)], 1.5) == []
    assert holes([word(0.0, 0.5), word(3.0, 3.4)], 4.0) == [(0.5, 3.0)]
    # A decode that skipped 17 s: the alignment drew its first two words over all of it.
    stretched = [word(0.0, 8.7), word(8.7, 17.1), word(17.1, 17.5), word(17.5, 19.4)]
    found = [t for hole in holes(stretched, 28.7) for t in hole]
    assert found == pytest.approx([0.0, 7.2, 8.7, 15.6, 19.4, 28.7])
