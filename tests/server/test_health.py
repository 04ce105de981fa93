"""``GET /health``'s object: the fields it always had, the input and the last final's latency."""

from __future__ import annotations

from stenod.config import Config
from stenod.core.fake import FakeRecognizer
from stenod.live.bus import EventBus
from stenod.live.decoder import DecodeService
from stenod.live.pipeline import LivePipeline
from stenod.net.auth import Authority
from stenod.server.state import DaemonState


def _no_pipeline(*_args: object, **_kwargs: object) -> LivePipeline:
    raise AssertionError("no stream is opened in this test")


def test_health_names_the_input_to_its_own_user_only() -> None:
    service = DecodeService(FakeRecognizer([]))
    try:
        state = DaemonState(Config(), Authority("t" * 43), EventBus(), service, "tiny.en", "en", _no_pipeline)
        state.set_state("listening")
        before = state.health()
        assert (before["input"], before["device"], before["last_final_latency_s"]) == ("none", None, None)
        state.input, state.device, state.last_final_latency = "microphone", lambda: "USB Mic", 0.61234
        health = state.health()
        assert {"state", "model", "uptime_s", "subscribers", "lag_s", "version", "protocol"} <= set(health)
        assert (health["state"], health["model"], health["subscribers"]) == ("listening", "tiny.en", 0)
        assert (health["input"], health["device"], health["last_final_latency_s"]) == ("microphone", "USB Mic", 0.612)
        assert state.health(private=False)["device"] is None  # another user, without a token
    finally:
        service.close()
