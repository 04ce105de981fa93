"""The run-ahead stage: order kept, heavy items bounded, errors raised in the consumer, the producer stopped."""

from __future__ import annotations

import threading
import time

import pytest

from stenod.recordings.ahead import Emit, RunAhead


def test_items_come_in_order_and_heavy_ones_are_bounded() -> None:
    made: list[int] = []

    def produce(emit: Emit[int]) -> None:
        for i in range(8):
            emit(-i, False)  # light marks pass freely
            made.append(i)
            emit(i, True)

    seen = []
    for item in RunAhead(produce, depth=2):
        seen.append(item)
        if item == 0:
            time.sleep(0.3)  # the producer may get at most two heavy items (and the one it is making) ahead
            assert len(made) <= 4
    assert seen == [x for i in range(8) for x in (-i, i)]


def test_an_error_in_the_producer_is_raised_in_the_consumer() -> None:
    def produce(emit: Emit[int]) -> None:
        emit(1, True)
        raise ValueError("not audio")

    seen = []
    with pytest.raises(ValueError, match="not audio"):
        for item in RunAhead(produce):
            seen.append(item)
    assert seen == [1]


def test_leaving_early_stops_the_producer() -> None:
    stopped = threading.Event()

    def produce(emit: Emit[int]) -> None:
        try:
            i = 0
            while True:
                emit(i, True)
                i += 1
        finally:
            stopped.set()

    for item in RunAhead(produce, depth=1):
        if item == 3:
            break
    assert stopped.wait(2)
    assert not any(t.name == "stenod-ahead" for t in threading.enumerate())
