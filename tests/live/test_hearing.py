"""What ``stenod run`` tells its terminal: finals as log lines, the partial in place, a line when nothing is heard;
and no dictated text in a log that is not a terminal unless asked."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stenod.core.clock import FakeClock
from stenod.core.events import Final, Partial, SpeechEnd, SpeechStart
from stenod.live.hearing import Hearing
from support.daemon import Daemon, wait_finished


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def partial(text: str) -> Partial:
    return Partial(seq=2, emitted_at=1.0, audio_ms=1000, utterance_id=1, revision=1, stable="", unstable=text,
                   start_ms=200, end_ms=1000)


FINAL = Final(seq=3, emitted_at=2.0, audio_ms=2600, utterance_id=1, text="Hello there.", raw="hello there",
              words=(), language="en", start_ms=200, end_ms=2000)


@pytest.fixture
def stderr_log() -> Iterator[Terminal]:
    """A terminal with the root logger writing to it, as ``stenod run``'s stderr."""
    out = Terminal()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("stenod: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = logging.getLogger("stenod").level
    logging.getLogger("stenod").setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        logging.getLogger("stenod").setLevel(level)


def test_on_a_terminal_the_partial_is_drawn_in_place_and_erased_before_the_final_s_line(stderr_log) -> None:
    hearing = Hearing(stderr_log)
    hearing(SpeechStart(seq=1, emitted_at=0.5, audio_ms=500, utterance_id=1, start_ms=200))
    hearing(partial("hello"))
    hearing(partial("hello there"))
    assert stderr_log.getvalue().count("\r\033[K") == 2 and "hello there" in stderr_log.getvalue()
    hearing(FINAL, 0.42)
    shown = stderr_log.getvalue()
    assert shown.endswith('\r\033[Kstenod: heard: "Hello there." (latency 0.42 s)\n')


def test_without_a_known_latency_it_is_the_audio_that_came_in_meanwhile(stderr_log) -> None:
    Hearing(stderr_log)(FINAL)
    assert '(latency 0.60 s)' in stderr_log.getvalue()


def test_a_final_with_line_breaks_is_still_one_line(stderr_log) -> None:
    Hearing(stderr_log)(replace(FINAL, text="Dear Ann,\nthanks."), 0.3)
    assert stderr_log.getvalue().splitlines()[-1] == 'stenod: heard: "Dear Ann,\\nthanks." (latency 0.30 s)'


def test_a_log_that_is_not_a_terminal_gets_no_text_unless_asked(caplog) -> None:
    caplog.set_level(logging.INFO, logger="stenod")
    out = io.StringIO()
    hearing = Hearing(out)
    hearing(partial("secret"))
    hearing(FINAL, 0.4)
    assert out.getvalue() == "" and "Hello" not in caplog.text and "secret" not in caplog.text
    Hearing(out, show_text=True)(FINAL, 0.4)
    assert 'heard: "Hello there." (latency 0.40 s)' in caplog.text


def test_thirty_seconds_of_open_microphone_with_no_speech_is_one_line_with_the_level(caplog) -> None:
    caplog.set_level(logging.INFO, logger="stenod")
    clock = FakeClock()
    hearing = Hearing(io.StringIO(), clock=clock)
    hum = np.full(800, 0.001, np.float32)
    for _ in range(1200):  # 60 s of 50 ms blocks
        clock.advance(0.05)
        hearing.audio(hum)
    assert caplog.messages == ["no speech heard in 30 s (input level -60 dBFS, peak -60 dBFS): is the right "
                               "microphone selected? stenod devices / stenod check"]

    caplog.clear()
    heard = Hearing(io.StringIO(), clock=clock)
    for _ in range(400):  # 20 s, then someone speaks: the microphone works
        clock.advance(0.05)
        heard.audio(hum)
    heard(SpeechStart(seq=1, emitted_at=20, audio_ms=20000, utterance_id=1, start_ms=19800))
    heard(SpeechEnd(seq=2, emitted_at=22, audio_ms=22000, utterance_id=1, start_ms=19800, end_ms=21500))
    for _ in range(1200):
        clock.advance(0.05)
        heard.audio(hum)
    assert caplog.messages == []  # a quiet stretch after speech is no fault


@pytest.mark.parametrize("show_text", [True, False], ids=["show-text", "journal"])
def test_the_daemon_logs_each_final_only_when_asked_if_stderr_is_no_terminal(tmp_path: Path, jfk_wav: Path,
                                                                             show_text: bool) -> None:
    with Daemon(tmp_path, "--input", str(jfk_wav), *(["--show-text"] if show_text else [])) as daemon:
        wait_finished(daemon)
        assert daemon.stop() == 0
    heard = [line for line in daemon.log.splitlines() if "heard" in line]
    if not show_text:
        assert heard == [] and "country" not in daemon.log.lower()
        return
    assert heard and all(re.fullmatch(r'stenod: heard: ".+" \(latency \d+\.\d\d s\)', line) for line in heard), heard
    assert "country" in " ".join(heard).lower()
