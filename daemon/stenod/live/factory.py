"""The signature of the daemon's pipeline factory, as the protocol adapters call it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from stenod.core.events import Event
from stenod.live.cleanup_stage import Clean
from stenod.live.pipeline import LivePipeline


class NewPipeline(Protocol):
    """A new live pipeline for one stream, its events to ``publish``; ``language`` and ``vad`` (VadConfig
    fields) override the configuration for this stream; ``clean`` is its LLM clean-up, if any; ``commands``
    turns on the configured spoken commands (for a protocol that carries ``retract``)."""

    def __call__(self, publish: Callable[[Event], None], language: str | None = None,
                 vad: dict[str, Any] | None = None, clean: Clean | None = None,
                 commands: bool = False) -> LivePipeline: ...
