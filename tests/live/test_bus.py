"""Fan-out: replay, coalesced partials for slow subscribers, and dropping one that owes too many finals."""

from __future__ import annotations

import asyncio

from stenod.core.events import Final, Partial, SpeechStart
from stenod.live.bus import EventBus


def _partial(seq: int, text: str) -> Partial:
    return Partial(seq=seq, emitted_at=0.0, audio_ms=0, utterance_id=1, revision=seq, stable="", unstable=text,
                   start_ms=0, end_ms=0)


def _final(seq: int, text: str) -> Final:
    return Final(seq=seq, emitted_at=0.0, audio_ms=0, utterance_id=seq, text=text, raw=text, words=(),
                 language="en", start_ms=0, end_ms=0)


def test_a_slow_subscriber_gets_only_the_newest_partial_and_every_final() -> None:
    bus = EventBus()
    slow = bus.subscribe()
    bus.publish(SpeechStart(seq=1, emitted_at=0.0, audio_ms=0, utterance_id=1, start_ms=0))
    for i, text in enumerate(["a", "a b", "a b c"], start=2):
        bus.publish(_partial(i, text))
    bus.publish(_final(5, "A b c."))
    assert [(e["type"], e.get("unstable", e.get("text"))) for e in slow.queue] == [
        ("speech_start", None), ("partial", "a b c"), ("final", "A b c.")]


def test_one_that_owes_too_many_finals_is_dropped_and_the_others_are_not() -> None:
    bus = EventBus(max_finals=3)
    stuck, reader = bus.subscribe(), bus.subscribe()

    async def run() -> list[str]:
        got = []
        for i in range(1, 6):
            bus.publish(_final(i, f"final {i}"))
            event = await reader.next()
            assert event is not None
            got.append(event["text"])
        return got

    assert asyncio.run(run()) == [f"final {i}" for i in range(1, 6)]
    assert stuck.dropped.startswith("too slow")
    assert asyncio.run(stuck.next()) is None


def test_since_replays_from_the_ring() -> None:
    bus = EventBus(replay=3)
    for i in range(1, 6):
        bus.publish(_final(i, f"final {i}"))
    assert [e["seq"] for e in bus.subscribe(since=3).queue] == [4, 5]
    assert [e["seq"] for e in bus.subscribe(since=0).queue] == [3, 4, 5]  # older ones are gone
    assert not bus.subscribe().queue


def test_a_long_replay_is_trimmed_so_catching_up_never_counts_as_too_slow() -> None:
    bus = EventBus(replay=1000, max_finals=10)
    for i in range(1, 101):
        bus.publish(_final(i, f"final {i}"))
    late = bus.subscribe(since=0)
    assert not late.dropped
    assert [e["seq"] for e in late.queue] == list(range(96, 101))  # the newest half of what it may owe
    bus.publish(_final(101, "final 101"))
    assert not late.dropped and late.queue[-1]["seq"] == 101
