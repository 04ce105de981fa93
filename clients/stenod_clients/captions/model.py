"""What the captions show, and when: the overlay's rules, without Qt or asyncio.

``CaptionModel.feed(event, now)`` takes the daemon's events; ``visible(now)`` says what to draw, oldest
line first. The clock is passed in (any monotonic seconds), so the rules are testable with plain floats.

- Each ``final`` with text becomes a line; the last ``lines`` finals are kept.
- A final stays fully opaque for ``fade`` seconds after it arrived, then fades linearly to transparent
  over ``fade_out`` seconds and is dropped.
- The current utterance's ``partial`` is one line after the finals, replaced in place by each newer
  partial: its ``stable`` words (committed) and ``unstable`` words (may still change, drawn dimmer).
  The utterance's ``final`` replaces it; a ``speech_end`` clears it (an utterance discarded without a
  final leaves nothing behind), and so does a ``hello`` (a reconnection: the daemon may have restarted
  mid-utterance, and a resumed stream replays whatever is still to come).
- A ``retract`` (a spoken "scratch that") drops the line of the utterance it names, and the partial of an
  utterance that withdrew itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from stenod.core.events import Event, Final, Hello, Partial, Retract, SpeechEnd

FINAL = "final"
PARTIAL = "partial"


@dataclass(frozen=True)
class Line:
    """One caption line. For a partial, ``text`` is ``stable`` and ``unstable`` joined by a space."""

    text: str
    kind: str  # FINAL or PARTIAL
    opacity: float = 1.0
    stable: str = ""
    unstable: str = ""


@dataclass(frozen=True)
class _Final:
    text: str
    arrived: float
    utterance_id: int = 0


@dataclass(frozen=True)
class _Partial:
    utterance_id: int
    stable: str
    unstable: str


class CaptionModel:
    """The captions' state: the last ``lines`` finals and the utterance in progress."""

    def __init__(self, lines: int = 2, fade: float = 8.0, fade_out: float = 1.0) -> None:
        if lines < 1:
            raise ValueError("lines must be at least 1")
        self.fade = max(0.0, fade)
        self.fade_out = max(0.0, fade_out)
        self._finals: deque[_Final] = deque(maxlen=lines)
        self._partial: _Partial | None = None

    def feed(self, event: Event, now: float) -> None:
        """Take one of the daemon's events, received at ``now``; events it does not draw are ignored."""
        if isinstance(event, Partial):
            stable, unstable = event.stable.strip(), event.unstable.strip()
            self._partial = _Partial(event.utterance_id, stable, unstable) if stable or unstable else None
        elif isinstance(event, Final):
            self._end(event.utterance_id)
            text = " ".join(event.text.split())
            if text:
                self._finals.append(_Final(text, now, event.utterance_id))
        elif isinstance(event, SpeechEnd):
            self._end(event.utterance_id)
        elif isinstance(event, Retract):
            self._end(event.utterance_id)
            kept = [f for f in self._finals if f.utterance_id != event.utterance_id]
            self._finals = deque(kept, maxlen=self._finals.maxlen)
        elif isinstance(event, Hello):
            self._partial = None

    def _end(self, utterance_id: int) -> None:
        if self._partial is not None and self._partial.utterance_id <= utterance_id:
            self._partial = None

    def opacity(self, arrived: float, now: float) -> float:
        """How opaque a final that arrived at ``arrived`` is at ``now``: 1.0, then down to 0.0."""
        age = now - arrived - self.fade
        if age <= 0:
            return 1.0
        if age >= self.fade_out:
            return 0.0
        return 1.0 - age / self.fade_out

    def visible(self, now: float) -> list[Line]:
        """The lines to draw at ``now``, oldest first; finals that have faded out are forgotten."""
        while self._finals and self.opacity(self._finals[0].arrived, now) <= 0.0:
            self._finals.popleft()
        lines = [Line(f.text, FINAL, opacity) for f in self._finals if (opacity := self.opacity(f.arrived, now)) > 0]
        if self._partial is not None:
            p = self._partial
            lines.append(Line(" ".join(t for t in (p.stable, p.unstable) if t), PARTIAL, 1.0, p.stable, p.unstable))
        return lines

    def changes_with_time(self, now: float) -> bool:
        """Whether ``visible`` will change as time passes without events: a final is shown and will fade."""
        return any(self.opacity(f.arrived, now) > 0 for f in self._finals)
