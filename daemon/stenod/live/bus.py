"""Fan-out of events to subscribers: a replay ring, and a bounded queue per subscriber.

A slow subscriber never holds the others up. Its queued partials are coalesced (a newer partial replaces
an older one), every other event is kept, and once it owes more finals than the cap it is dropped with a
reason. A subscriber that reconnects with ``since`` gets the events after that ``seq`` from the ring.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from typing import Any

from stenod.core.events import Event


class Subscriber:
    def __init__(self, max_finals: int) -> None:
        self.max_finals = max_finals
        self.queue: deque[dict[str, Any]] = deque()
        self.dropped = ""  # why it was cut off, once it is
        self._ready = asyncio.Event()

    def offer(self, event: dict[str, Any]) -> None:
        if self.dropped:
            return
        if event["type"] == "partial":
            stale = [e for e in self.queue if e["type"] == "partial"]
            for old in stale:
                self.queue.remove(old)
        self.queue.append(event)
        if sum(e["type"] == "final" for e in self.queue) > self.max_finals:
            self.dropped = f"too slow: more than {self.max_finals} finals not read"
            self.queue.clear()
        self._ready.set()

    async def next(self) -> dict[str, Any] | None:
        """The next event to send, or None once the subscriber is dropped."""
        while not self.queue and not self.dropped:
            self._ready.clear()
            await self._ready.wait()
        return None if self.dropped else self.queue.popleft()


class EventBus:
    """The microphone stream's fan-out: every event to every subscriber, and the recent ones kept for replay.

    Call :meth:`publish` with each event, in order (serialised once here). A subscriber calls :meth:`subscribe`
    (with ``since`` to be replayed what followed that ``seq``), then awaits :meth:`Subscriber.next` until it
    returns None (it fell too far behind: ``dropped`` says why), and calls :meth:`unsubscribe` when it leaves.
    A subscriber that is slow never slows the others: partials coalesce in its queue, finals are kept up to
    ``max_finals``.
    """

    def __init__(self, replay: int = 1000, max_finals: int = 200) -> None:
        self.ring: deque[dict[str, Any]] = deque(maxlen=max(1, replay))
        self.subscribers: set[Subscriber] = set()
        self.max_finals = max_finals
        self.last_seq = 0
        self.published: Counter[str] = Counter()  # events published, by type

    def publish(self, event: Event) -> None:
        data = event.to_dict()
        self.last_seq = event.seq
        self.published[data["type"]] += 1
        self.ring.append(data)
        for subscriber in list(self.subscribers):
            subscriber.offer(data)

    def subscribe(self, since: int | None = None) -> Subscriber:
        """A new subscriber; with ``since``, first the ring's events after that ``seq``.

        The replay holds at most half the finals a subscriber may owe (the newest ones), so that catching
        up never trips the slow-subscriber limit.
        """
        subscriber = Subscriber(self.max_finals)
        if since is not None:
            replay = [event for event in self.ring if event["seq"] > since]
            finals = [i for i, event in enumerate(replay) if event["type"] == "final"]
            room = max(1, self.max_finals // 2)
            if len(finals) > room:
                replay = replay[finals[-room - 1] + 1:]
            for event in replay:
                subscriber.offer(event)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
