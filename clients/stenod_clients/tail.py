"""``stenod tail``: the daemon's events on standard output, for reading or for scripts.

``--finals`` prints each final's text on one line and nothing else: a spoken command has no final, and a
``retract`` prints nothing there (what was printed stays printed); ``--json`` has every event, ``retract``
included, for a script that keeps its own text.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from stenod.core.events import Event, Final, Hello, Partial, Retract, SpeechEnd, SpeechStart, Status
from stenod_clients.connection import Subscription

FORMATS = ("text", "json", "finals")


def render(event: Event, style: str) -> str | None:
    """One line for ``event`` in ``style`` (``text``, ``json`` or ``finals``), or None to print nothing."""
    if style == "json":
        return json.dumps(event.to_dict(), ensure_ascii=False)
    if style == "finals":
        return event.text.replace("\n", " ").strip() or None if isinstance(event, Final) else None
    stamp = f"{event.audio_ms / 1000:8.2f}"
    if isinstance(event, Final):
        return f"{stamp}  final    #{event.utterance_id}  {event.text}"
    if isinstance(event, Partial):
        shown = event.stable + (f" [{event.unstable}]" if event.unstable else "")
        return f"{stamp}  partial  #{event.utterance_id}  {shown.strip()}"
    if isinstance(event, Retract):
        return f"{stamp}  retract  #{event.utterance_id}  (\"{event.command}\" in #{event.command_utterance_id})"
    if isinstance(event, SpeechStart):
        return f"{stamp}  speech   #{event.utterance_id}"
    if isinstance(event, SpeechEnd):
        return f"{stamp}  end      #{event.utterance_id}" + (f"  ({event.discarded})" if event.discarded else "")
    if isinstance(event, Hello):
        return f"{stamp}  hello    {event.server}, {event.model} ({event.language}), {event.state}"
    if isinstance(event, Status):
        return f"{stamp}  status   {event.state}" + (f": {event.message}" if event.message else "")
    return f"{stamp}  {event.type:<8} {json.dumps(event.to_dict())}"


async def tail(style: str, url: str | None = None, out: TextIO = sys.stdout) -> None:
    def status(message: str) -> None:
        print(f"stenod tail: {message}", file=sys.stderr, flush=True)

    async for event in Subscription(url, on_status=status):
        line = render(event, style)
        if line is not None:
            out.write(line + "\n")
            out.flush()
