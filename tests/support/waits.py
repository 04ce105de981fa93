"""Waiting for a condition instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def until(condition: Callable[[], T], what: str, timeout: float = 60, every: float = 0.05) -> T:
    """Poll ``condition`` until it returns something true, and return that; a test failure naming ``what``
    (the awaited state, as in "the window shows the text") when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting until {what}")
        time.sleep(every)
