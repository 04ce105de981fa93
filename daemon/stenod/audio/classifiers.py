"""Choosing the voice-activity classifier: Silero (default: it holds up in noise) or WebRTC."""

from __future__ import annotations

from stenod.core.vad import FrameClassifier, WebRtcClassifier

VAD_CHOICES = ("silero", "webrtc")


def make_classifier(name: str = "silero", aggressiveness: int = 3) -> FrameClassifier:
    if name == "silero":
        from stenod.audio.silero import SileroClassifier

        return SileroClassifier()
    if name == "webrtc":
        return WebRtcClassifier(aggressiveness)
    raise ValueError(f"unknown VAD {name!r}: choose one of {', '.join(VAD_CHOICES)}")
