"""Voice-activity segmentation: recorded sessions against their true utterance times, and the rules one by one."""

from __future__ import annotations

import numpy as np
import pytest

from stenod.audio.classifiers import make_classifier
from stenod.audio.silero import SileroClassifier
from stenod.core import SAMPLE_RATE
from stenod.core.fake import LoudIsSpeech
from stenod.core.vad import Segmenter, VadConfig, VadEnd, VadPause, VadResume, VadStart, WebRtcClassifier

CLEAN = ("session_01_mixed_read", "session_02_commands_numbers", "session_03_long_passages")
NOISY = ("session_01_mixed_read_noisy_snr12", "session_03_long_passages_noisy_snr10")


def _utterances(classifier, audio: np.ndarray, config: VadConfig | None = None, chunk: int = 1600
                ) -> list[tuple[float, float]]:
    segmenter = Segmenter(classifier, config)
    events = []
    for i in range(0, len(audio), chunk):
        events += segmenter.push(audio[i:i + chunk])
    events += segmenter.flush()
    found: list[tuple[float, float]] = []
    start = None
    for event in events:
        if isinstance(event, VadStart):
            assert start is None, "an utterance started inside another"
            start = event.start
        elif isinstance(event, VadEnd):
            assert start is not None and event.end > start
            found.append((start / SAMPLE_RATE, event.end / SAMPLE_RATE))
            start = None
    assert start is None
    return found


def _boundary_errors(session: dict, found: list[tuple[float, float]], pause: float = 0.6) -> list[float]:
    """Distance from each true boundary next to a pause of ``pause`` s or more to the nearest one found."""
    starts = np.array([s for s, _ in found])
    ends = np.array([e for _, e in found])
    segments = session["segments"]
    errors = []
    for k, seg in enumerate(segments):
        before = seg["start_s"] - (segments[k - 1]["end_s"] if k else 0.0)
        after = (segments[k + 1]["start_s"] if k + 1 < len(segments) else session["duration_s"]) - seg["end_s"]
        if before >= pause:
            errors.append(float(np.min(np.abs(starts - seg["start_s"]))))
        if after >= pause:
            errors.append(float(np.min(np.abs(ends - seg["end_s"]))))
    return errors


@pytest.mark.parametrize("vad", ["silero", "webrtc"])
def test_clean_sessions_are_cut_where_the_utterances_are(sessions, vad: str) -> None:
    errors = []
    for name in CLEAN:
        errors += _boundary_errors(sessions[name], _utterances(make_classifier(vad), sessions[name]["samples"]))
    within = sum(e < 0.3 for e in errors) / len(errors)
    assert within >= 0.85, f"{vad}: only {within:.0%} of {len(errors)} boundaries within 300 ms"
    assert max(errors) < 0.8


def test_silero_holds_up_in_noise(sessions) -> None:
    errors = []
    for name in NOISY:
        errors += _boundary_errors(sessions[name], _utterances(SileroClassifier(), sessions[name]["samples"]))
    within = sum(e < 0.3 for e in errors) / len(errors)
    assert within >= 0.75, f"only {within:.0%} of {len(errors)} boundaries within 300 ms in noise"


def test_noise_alone_opens_no_utterance_with_silero(sessions) -> None:
    for noisy, clean in zip(NOISY, ("session_01_mixed_read", "session_03_long_passages")):
        noise = sessions[noisy]["samples"] - sessions[clean]["samples"]
        assert np.sqrt(np.mean(noise ** 2)) > 0.01  # the rain and thunder really are there
        assert _utterances(SileroClassifier(), noise) == []


@pytest.mark.parametrize("vad", ["silero", "webrtc"])
def test_silence_opens_no_utterance(vad: str) -> None:
    rng = np.random.default_rng(0)
    room_tone = (rng.standard_normal(60 * SAMPLE_RATE) * 10 ** (-70 / 20)).astype(np.float32)
    assert _utterances(make_classifier(vad), room_tone) == []
    assert _utterances(make_classifier(vad), np.zeros(10 * SAMPLE_RATE, np.float32)) == []


def test_chunk_size_does_not_change_the_cuts(sessions) -> None:
    audio = sessions["session_02_commands_numbers"]["samples"][: 20 * SAMPLE_RATE]
    reference = _utterances(SileroClassifier(), audio, chunk=len(audio))
    for chunk in (37, 320, 4999):
        assert _utterances(SileroClassifier(), audio, chunk=chunk) == reference


# The rules, with a classifier that calls any frame louder than -30 dBFS speech -------------------------


def _signal(*parts: tuple[float, float]) -> np.ndarray:
    """Concatenate (seconds, amplitude) pieces of a 200 Hz tone (amplitude 0: silence)."""
    pieces = []
    for seconds, amplitude in parts:
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        pieces.append((amplitude * np.sin(2 * np.pi * 200 * t)).astype(np.float32))
    return np.concatenate(pieces)


def _events(audio: np.ndarray, config: VadConfig) -> list:
    segmenter = Segmenter(LoudIsSpeech(), config)
    return segmenter.push(audio) + segmenter.flush()


def test_pre_roll_keeps_the_onset() -> None:
    events = _events(_signal((1.0, 0.0), (1.0, 0.5), (1.0, 0.0)), VadConfig(pre_roll_ms=300))
    start = next(e for e in events if isinstance(e, VadStart))
    assert start.start == pytest.approx(0.7 * SAMPLE_RATE, abs=480)


def test_a_short_pause_does_not_end_the_utterance_but_marks_a_pause() -> None:
    config = VadConfig(hangover_ms=450, tail_ms=90)
    events = _events(_signal((0.5, 0.0), (1.0, 0.5), (0.3, 0.0), (1.0, 0.5), (1.0, 0.0)), config)
    kinds = [type(e) for e in events]
    assert kinds == [VadStart, VadPause, VadResume, VadPause, VadEnd]
    end = events[-1]
    assert end.end == events[-2].at  # the end is where the last pause began: the speculative final covers it
    assert end.end == pytest.approx((2.8 + 0.09) * SAMPLE_RATE, abs=480)


def test_a_long_pause_ends_it_after_the_hangover() -> None:
    events = _events(_signal((0.5, 0.0), (1.0, 0.5), (0.6, 0.0), (1.0, 0.5), (1.0, 0.0)), VadConfig(hangover_ms=450))
    assert [type(e) for e in events].count(VadStart) == 2


def test_too_little_speech_is_reported_as_such() -> None:
    events = _events(_signal((0.5, 0.0), (0.15, 0.5), (1.0, 0.0)), VadConfig(onset_ms=90, min_speech_ms=250))
    end = next(e for e in events if isinstance(e, VadEnd))
    assert end.speech_ms < 250


def test_long_speech_is_cut_at_its_quietest_frame_and_goes_on() -> None:
    # 12 s of speech with a dip (quieter but still speech) at 7-7.1 s; the limit is 10 s.
    audio = _signal((0.5, 0.0), (6.5, 0.5), (0.1, 0.05), (5.4, 0.5), (1.0, 0.0))
    events = _events(audio, VadConfig(max_utterance_s=10.0, pre_roll_ms=0))
    cut = next(e for e in events if isinstance(e, VadEnd))
    assert cut.cut
    assert 7.0 * SAMPLE_RATE <= cut.end <= 7.1 * SAMPLE_RATE
    starts = [e for e in events if isinstance(e, VadStart)]
    assert len(starts) == 2 and starts[1].start == cut.end
    assert isinstance(events[-1], VadEnd) and not events[-1].cut


def test_flush_closes_the_open_utterance() -> None:
    segmenter = Segmenter(LoudIsSpeech(), VadConfig())
    assert [type(e) for e in segmenter.push(_signal((0.2, 0.0), (1.0, 0.5)))] == [VadStart]
    (end,) = segmenter.flush()
    assert isinstance(end, VadEnd) and end.end <= segmenter.position


def test_webrtc_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="10, 20 or 30 ms"):
        WebRtcClassifier(frame_ms=25)
    with pytest.raises(ValueError, match="0 to 3"):
        WebRtcClassifier(aggressiveness=5)
    with pytest.raises(ValueError, match="unknown VAD"):
        make_classifier("psychic")
