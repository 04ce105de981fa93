"""A readable live view of the event stream for a terminal: partials redrawn in place, finals kept."""

from __future__ import annotations

from typing import TextIO

from stenod.core.events import Error, Event, Final, Partial, Retract, SpeechEnd, Status


def _clock(ms: int) -> str:
    minutes, ms = divmod(ms, 60000)
    return f"{minutes:02d}:{ms / 1000:05.2f}"


class LiveView:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._drawn = False
        self._finals: dict[int, str] = {}  # recent finals' text, by utterance, for a retract to name

    def __call__(self, event: Event) -> None:
        if isinstance(event, Partial):
            if self.tty:
                self.out.write(f"\r\033[K{_clock(event.start_ms)}  {event.stable} \033[2m{event.unstable}\033[0m")
                self.out.flush()
                self._drawn = True
            return
        self.clear()
        if isinstance(event, Final):
            lag = event.emitted_at - event.end_ms / 1000
            self.out.write(f"{_clock(event.start_ms)}  {event.text}   (+{lag:.2f} s)\n")
            self._finals = {**dict(list(self._finals.items())[-99:]), event.utterance_id: event.text}
        elif isinstance(event, Retract):
            withdrawn = self._finals.pop(event.utterance_id, "")
            what = f"withdrew {withdrawn.strip()!r}" if withdrawn else "withdrew what this utterance said"
            self.out.write(f"{_clock(event.audio_ms)}  [{event.command}: {what}]\n")
        elif isinstance(event, SpeechEnd) and event.discarded and event.discarded != "command":
            self.out.write(f"{_clock(event.start_ms)}  [no text: {event.discarded}]\n")
        elif isinstance(event, Error):
            self.out.write(f"error: {event.message}\n")
        elif isinstance(event, Status) and event.message and self.tty:
            self.out.write(f"[{event.state}] {event.message}\n")
        self.out.flush()

    def clear(self) -> None:
        """Erase the partial drawn in place, if one is."""
        if self._drawn:
            self.out.write("\r\033[K")
            self._drawn = False
