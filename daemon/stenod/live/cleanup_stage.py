"""An ordered stage between a pipeline and its subscribers that lets the LLM rewrite each final's text.

Events are published in the order they came; a final waits for its rewrite and everything after it waits
for the final. While nothing is waiting, events other than finals go straight through.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace

from stenod.core.events import Event, Final

log = logging.getLogger("stenod.live.llm")
Clean = Callable[[str], Awaitable[tuple[str, str]]]  # text -> (text, "llm" or "rules"), as LlmCleaner.clean


class CleanupStage:
    """Call it with each event (as a ``publish`` callback); ``drain`` waits until all of them are out.

    ``clean`` may be swapped at any time (a reloaded configuration); None passes finals through unchanged.
    """

    def __init__(self, clean: Clean | None, publish: Callable[[Event], None]) -> None:
        self.clean = clean
        self.publish = publish
        self._waiting: deque[Event] = deque()
        self._worker: asyncio.Task[None] | None = None

    def __call__(self, event: Event) -> None:
        if self._worker is None and not self._waiting and (self.clean is None or not isinstance(event, Final)):
            self.publish(event)
            return
        self._waiting.append(event)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())

    @property
    def pending(self) -> int:
        """Events received and not yet published."""
        return len(self._waiting)

    async def drain(self) -> None:
        """Wait until every event received so far has been published."""
        while self._worker is not None:
            await asyncio.wait({self._worker})

    async def _run(self) -> None:
        try:
            while self._waiting:
                event = self._waiting[0]
                if isinstance(event, Final):
                    event = await self._cleaned(event)
                self._waiting.popleft()
                try:
                    self.publish(event)
                except Exception:
                    log.exception("publishing a %s event failed", event.type)
        finally:
            self._worker = None

    async def _cleaned(self, final: Final) -> Final:
        if self.clean is None:
            return final
        try:
            text, step = await self.clean(final.text)
        except Exception:
            log.exception("LLM clean-up failed; publishing the rule-based text")
            return final
        if step != "llm":
            return final
        return replace(final, text=text, cleaned_by="llm", rules_text=final.text)
