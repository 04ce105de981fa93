"""What the daemon's endpoints share: the configuration, the bus, the engine, the microphone's pipeline and state.

``state`` is what ``hello``, ``status`` events and ``/health`` report: ``starting``, ``listening``, ``paused``,
``no_microphone`` (serving, waiting for an input device to appear), ``device_lost`` (the device stopped
delivering; waiting for it to come back), and, in ``/health`` only, ``degraded`` (listening, but decoding
slower than speech).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stenod import __version__
from stenod.config import Config
from stenod.core import SAMPLE_RATE
from stenod.core.events import PROTOCOL_VERSION, Hello
from stenod.history.recorder import Recorder
from stenod.live.bus import EventBus
from stenod.live.decoder import DecodeService
from stenod.live.factory import NewPipeline
from stenod.live.llm import LlmCleaner
from stenod.live.pipeline import LivePipeline
from stenod.net.auth import Authority
from stenod.protocols.openai_rest import Transcriptions
from stenod.server.notifications import PauseNotifier


@dataclass
class Counters:
    """Open streams and sessions, and where to read the microphone's lost blocks."""

    started: float = field(default_factory=time.monotonic)
    listen_streams: int = 0
    realtime_sessions: int = 0
    overflows: Callable[[], int] = lambda: 0  # audio blocks the microphone lost so far


class DaemonState:
    """The daemon's shared record. Build it once the model is loaded, then set ``mic`` and ``state``."""

    def __init__(self, config: Config, authority: Authority, bus: EventBus, decoder: DecodeService, model: str,
                 language: str, new_pipeline: NewPipeline) -> None:
        self.config = config
        self.authority = authority
        self.bus = bus
        self.decoder = decoder
        self.model = model
        self.language = language
        self.new_pipeline = new_pipeline
        self.mic: LivePipeline | None = None  # the microphone's pipeline, publishing to the bus
        self.llm_cleaner: LlmCleaner | None = None  # the LLM clean-up of finals ([llm]), for the mic and /v1/listen
        self.history: Recorder | None = None  # keeps the microphone's finals ([history]), and /v1/listen's on request
        self.paused = config.audio.start_paused
        self.state = "starting"
        self.languages: set[str] | None = None  # what a session may ask for; None: English only
        self.transcriptions: Transcriptions | None = None  # POST /v1/audio/transcriptions, once the model is loaded
        self.stream = secrets.token_hex(6)  # names the microphone stream; a restarted daemon has a new one
        self.counters = Counters()
        self.input = "none"  # what the microphone's pipeline hears: "microphone", "file" or "none" (--no-mic)
        self.device: Callable[[], str | None] = lambda: None  # the open input device's name (or the file played)
        self.last_final_latency: float | None = None  # seconds from the end of its speech to its publishing
        self._release: asyncio.TimerHandle | None = None  # a push-to-talk release waiting for its tail
        self.on_paused: Callable[[bool], None] = lambda paused: None  # told each pause and resume that takes effect
        self.notifier: PauseNotifier | None = None  # the desktop notifications it sends ([audio] notify)

    def set_state(self, state: str, message: str = "") -> None:
        """Report a new state to the subscribers (a ``status`` event) unless it is the current one."""
        if state != self.state:
            self.state = state
            if self.mic is not None:
                self.mic.status(state, message)

    def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if self.state not in ("listening", "paused"):
            return  # no microphone to pause: the choice applies once one is there
        if paused and self.mic is not None:
            self.mic.end_utterance()  # what was said before the pause gets its final
        self.set_state("paused" if paused else "listening")
        self.on_paused(paused)

    def control(self, kind: str) -> None:
        """A subscriber's ``pause``, ``resume``, ``toggle``, ``hold``, ``release`` or ``end_utterance``.

        ``hold`` and ``release`` are push-to-talk: hold listens; release takes ``audio.release_tail_ms`` more
        audio (the last word is still on its way from the device), then ends the utterance at once (its final
        is decoded without waiting for the silence that would end it) and pauses. ``end_utterance`` ends the
        utterance in progress now and goes on listening.
        """
        if kind == "end_utterance":
            if self.mic is not None and self.state == "listening":
                self.mic.end_utterance()
            return
        if self._release is not None:
            self._release.cancel()  # a hold, pause or resume during the tail overrides the release
            self._release = None
        if kind == "release":
            tail = self.config.audio.release_tail_ms / 1000
            try:
                self._release = asyncio.get_running_loop().call_later(tail, self._released)
            except RuntimeError:  # no event loop (a direct call): release now
                self._released()
            return
        self.set_paused(not self.paused if kind == "toggle" else kind == "pause")

    def _released(self) -> None:
        self._release = None
        self.set_paused(True)

    @property
    def listening_state(self) -> str:
        """The state of a microphone that delivers: ``paused`` or ``listening``."""
        return "paused" if self.paused else "listening"

    def health(self, private: bool = True) -> dict[str, Any]:
        """What ``GET /health`` answers (and ``stenod status`` shows); the device's name (or the file's path) only
        when ``private``: to the daemon's own user, or a client with a token."""
        degraded = self.state == "listening" and self.mic is not None and self.mic.degraded
        latency = self.last_final_latency
        return {"state": "degraded" if degraded else self.state, "model": self.model,
                "uptime_s": round(time.monotonic() - self.counters.started, 1),
                "subscribers": len(self.bus.subscribers), "lag_s": round(self.lag, 3),
                "version": __version__, "protocol": PROTOCOL_VERSION, "input": self.input,
                "device": self.device() if private else None,
                "last_final_latency_s": None if latency is None else round(latency, 3)}

    @property
    def lag(self) -> float:
        return self.mic.lag if self.mic else 0.0

    def hello(self, sample_rate: int = SAMPLE_RATE, stream: str = "") -> Hello:
        """The first message of a connection: where the stream is, and what serves it."""
        audio_ms = int(self.mic.audio_seconds * 1000) if self.mic else 0
        emitted = self.mic.clock.now() if self.mic else 0.0
        return Hello(seq=self.bus.last_seq, emitted_at=emitted, audio_ms=audio_ms, protocol=PROTOCOL_VERSION,
                     server=f"stenod {__version__}", model=self.model, language=self.language,
                     sample_rate=sample_rate, state=self.state, stream=stream or self.stream)
