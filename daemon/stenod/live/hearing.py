"""What ``stenod run`` says about what it hears, on its stderr: each final as one log line, the live partial
redrawn in place, and one line when the open microphone has heard no speech for a while.

Dictated text goes only to a terminal, or anywhere when asked (``--show-text``): under systemd stderr is the
journal, and the journal never holds what was said. The line about no speech holds only levels.
"""

from __future__ import annotations

import json
import logging
from typing import TextIO

import numpy as np

from stenod.core.clock import Clock, MonotonicClock
from stenod.core.events import Event, Final, Partial, SpeechEnd, SpeechStart
from stenod.core.quiet import QUIET_AFTER_S, QuietWatch
from stenod.live.render import LiveView

log = logging.getLogger("stenod")
NEXT_STEP = "is the right microphone selected? stenod devices / stenod check"


class Hearing:
    """Call it with each event of the microphone's pipeline (with a final, the seconds from the end of its
    speech until now, when known), and :meth:`audio` with each block the pipeline is fed.

    ``out`` is where the log goes (stderr): when it is a terminal, finals are logged and partials drawn on
    it; otherwise finals are logged only with ``show_text``.
    """

    def __init__(self, out: TextIO, show_text: bool = False, clock: Clock | None = None,
                 quiet_after_s: float = QUIET_AFTER_S) -> None:
        self.view = LiveView(out) if out.isatty() else None
        self.show_text = show_text or self.view is not None
        self.watch = QuietWatch(clock or MonotonicClock(), quiet_after_s)
        if self.view is not None:
            for handler in logging.getLogger().handlers:
                if getattr(handler, "stream", None) is out:
                    handler.addFilter(self._clear_line)

    def audio(self, samples: np.ndarray) -> None:
        quiet = self.watch.audio(samples)
        if quiet is not None:
            log.info("no speech heard in %.0f s (%s): %s", quiet.seconds, quiet.level.describe(), NEXT_STEP)

    def __call__(self, event: Event, latency: float | None = None) -> None:
        if isinstance(event, SpeechStart):
            self.watch.speech_started()
        elif isinstance(event, SpeechEnd):
            if self.view is not None:
                self.view.clear()
        elif isinstance(event, Partial) and self.view is not None:
            self.view(event)
        elif isinstance(event, Final) and self.show_text:
            if latency is None:  # the audio that came in while it was decoded
                latency = max(0, event.audio_ms - event.end_ms) / 1000
            log.info("heard: %s (latency %.2f s)", json.dumps(event.text, ensure_ascii=False), latency)

    def _clear_line(self, record: logging.LogRecord) -> bool:
        """Before any log line: the partial drawn in place is erased, so the line starts at the left."""
        assert self.view is not None
        self.view.clear()
        return True
