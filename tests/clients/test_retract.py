"""Spoken "scratch that" in the clients: the joiner's count, the typing client's window check, tail, captions."""

from __future__ import annotations

import asyncio

import pytest

from stenod.core.committed import Joiner
from stenod.core.events import Event
from stenod_clients.captions.model import FINAL, CaptionModel
from stenod_clients.tail import render
from stenod_clients.typing.backends import Backend, TypingError
from stenod_clients.typing.focus import Focused
from stenod_clients.typing.typer import Typist
from support.events import final, hello, partial, retract, speech_end


def _apply(typed: str, joiner: Joiner, events: list[Event]) -> str:
    """What a window holds after the joiner's typing and erasing."""
    for event in events:
        if event.type == "retract":
            count = joiner.retract(event)  # type: ignore[arg-type]
            assert count is not None
            typed = typed[:len(typed) - count]
        else:
            typed += joiner.feed(event)
    return typed


def test_a_retract_erases_exactly_the_utterance_and_its_separator() -> None:
    events = [final(1, "Buy milk."), speech_end(1), final(2, "And eggs."), speech_end(2), retract(2),
              final(4, "And bread."), speech_end(4)]
    assert _apply("", Joiner(), events) == "Buy milk. And bread."


def test_retracts_reach_back_one_utterance_at_a_time_and_restore_the_joining() -> None:
    events = [final(1, "Dear Sam,\n"), speech_end(1), final(2, "Thanks."), speech_end(2), retract(2, by=3),
              retract(1, by=4), final(5, "Hi."), speech_end(5)]
    assert _apply("", Joiner(), events) == "Hi."  # no space before it: nothing was typed before, again


def test_live_typing_takes_back_the_stable_text_of_an_utterance_that_withdrew_itself() -> None:
    joiner = Joiner(live=True)
    typed = _apply("", joiner, [final(1, "Keep."), speech_end(1), partial(2, stable_text="Meet at six."),
                                retract(2, by=2), speech_end(2, "command"), final(3, "Done."), speech_end(3)])
    assert typed == "Keep. Done."


def test_an_older_utterance_cannot_be_erased_past_newer_text() -> None:
    joiner = Joiner()
    for event in [final(1, "One."), speech_end(1), final(2, "Two."), speech_end(2)]:
        joiner.feed(event)
    assert joiner.retract(retract(1, by=5)) is None
    assert joiner.retract(retract(3, by=3)) == 0  # nothing was typed for it
    assert joiner.retract(retract(2, by=6)) == 5  # " Two."


class _Recorder(Backend):
    name = "recorder"

    def __init__(self) -> None:
        self.text = ""

    def problem(self) -> str:
        return ""

    def type(self, text: str) -> None:
        self.text += text

    def erase(self, count: int) -> None:
        self.text = self.text[:len(self.text) - count]


def _run_typist(focus: list[Focused], events: list[Event]) -> str:
    backend = _Recorder()
    windows = iter(focus)
    typist = Typist(backend, focus=lambda: next(windows))

    async def go() -> None:
        for event in events:
            await typist.feed(event)
    asyncio.run(go())
    return backend.text


EDITOR, MAIL = Focused("gedit", "x11", window="17"), Focused("thunderbird", "x11", window="42")


def test_the_typing_client_erases_only_in_the_window_it_typed_into(capsys: pytest.CaptureFixture[str]) -> None:
    events: list[Event] = [hello(), final(1, "Hello."), speech_end(1), retract(1, by=2)]
    assert _run_typist([EDITOR, EDITOR], events) == ""
    assert _run_typist([EDITOR, MAIL], events) == "Hello."
    said = capsys.readouterr().err
    assert "not erasing 6 characters" in said and "gedit" in said and "thunderbird" in said
    assert "Hello" not in said  # what was dictated never goes to the log
    unknown = Focused("", "", "GNOME does not say")  # nothing to compare: the focused window is trusted
    assert _run_typist([unknown, unknown], events) == ""


def test_tail_prints_nothing_for_a_retract_in_finals_mode_and_the_event_in_json() -> None:
    event = retract(2, by=3)
    assert render(event, "finals") is None
    assert '"type": "retract"' in (render(event, "json") or "")
    assert "retract  #2" in (render(event, "text") or "")


def test_the_overlay_drops_the_retracted_line() -> None:
    model = CaptionModel(lines=3)
    for event in [final(1, "One."), speech_end(1), final(2, "Two."), speech_end(2), retract(1, by=3)]:
        model.feed(event, 0.0)
    assert [(line.kind, line.text) for line in model.visible(0.0)] == [(FINAL, "Two.")]
    model.feed(partial(4, "Meet at", "six"), 0.1)
    model.feed(retract(4, by=4), 0.2)
    assert [line.text for line in model.visible(0.2)] == ["Two."]


class _Flaky(_Recorder):
    """Types until told to fail."""

    failing = False

    def type(self, text: str) -> None:
        if self.failing:
            raise TypingError("the tool went away")
        super().type(text)


def test_after_a_failed_typing_nothing_is_erased_by_count(capsys: pytest.CaptureFixture[str]) -> None:
    backend = _Flaky()
    typist = Typist(backend, focus=lambda: EDITOR)

    async def go() -> None:
        for event in [hello(), final(1, "One."), speech_end(1)]:
            await typist.feed(event)
        backend.failing = True
        await typist.feed(final(2, "Two."))
        await typist.feed(retract(2, by=3))
        await typist.feed(retract(1, by=4))
    asyncio.run(go())
    assert backend.text == "One."  # neither "Two." (never typed) nor "One." (out of reach) was erased by count
    assert "could not type 5 characters" in capsys.readouterr().err


def test_a_restarted_daemon_s_utterances_do_not_inherit_old_windows() -> None:
    seen = iter([EDITOR, MAIL, MAIL])
    typist = Typist(_Recorder(), focus=lambda: next(seen))

    async def go() -> None:
        for event in [hello(stream="a"), final(1, "Old."), speech_end(1), hello(stream="b"), final(1, "New."),
                      speech_end(1), retract(1, by=2)]:
            await typist.feed(event)
    asyncio.run(go())
    assert typist.backend.text == "Old."  # type: ignore[attr-defined]  # "New." went to mail, and is erased there
