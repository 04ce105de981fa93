"""The check's level meter: a bar redrawn in place on a terminal, one plain line a second otherwise."""

from __future__ import annotations

import io

import numpy as np

from stenod.check.meter import WIDTH, Meter, bar
from stenod.core.level import Level


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_spans_minus_sixty_to_zero_dbfs() -> None:
    assert bar(Level()) == "[" + "." * WIDTH + "]"
    assert bar(Level(1.0, 1.0)) == "[" + "#" * WIDTH + "]"
    assert bar(Level(10 ** (-30 / 20), 0.5)).count("#") == WIDTH // 2


def test_plain_lines_once_a_second_whatever_the_block_size() -> None:
    out = io.StringIO()
    meter = Meter(out)
    for _ in range(25):
        meter(np.full(1333, 0.1, np.float32))  # 2.08 s
    meter.close()
    assert out.getvalue().splitlines() == [" 1.0 s   -20 dBFS  peak  -20 dBFS"] + [" 2.0 s   -20 dBFS  peak  -20 dBFS"]


def test_on_a_terminal_one_line_redrawn_ten_times_a_second_and_erased_at_the_end() -> None:
    out = Terminal()
    meter = Meter(out)
    meter(np.zeros(16000, np.float32))
    meter.close()
    shown = out.getvalue()
    assert "\n" not in shown and shown.count("\r\033[K") == 11 and shown.endswith("\r\033[K")
    assert " 1.0 s  [" + "." * WIDTH + "] -inf dBFS  peak -inf dBFS" in shown
