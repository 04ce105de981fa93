"""The input method's view of the event stream: preedit while speaking, commits for finals, nothing taken back."""

from __future__ import annotations

from stenod.core.events import Final, Hello, Partial, SpeechEnd, Status
from stenod_clients.ime.dictation import Commit, Dictation, Show, State
from stenod_clients.ime.engine import Router


def _partial(uid: int, stable: str, unstable: str, rev: int = 1) -> Partial:
    return Partial(seq=rev, emitted_at=0.0, audio_ms=0, utterance_id=uid, revision=rev, stable=stable,
                   unstable=unstable, stable_text="", start_ms=0, end_ms=0)


def _final(uid: int, text: str) -> Final:
    return Final(seq=50, emitted_at=0.0, audio_ms=0, utterance_id=uid, text=text, raw=text, words=(),
                 language="en", start_ms=0, end_ms=0)


def _end(uid: int, discarded: str = "") -> SpeechEnd:
    return SpeechEnd(seq=51, emitted_at=0.0, audio_ms=0, utterance_id=uid, start_ms=0, end_ms=0,
                     discarded=discarded)


def _hello(state: str = "listening", stream: str = "s1") -> Hello:
    return Hello(seq=0, emitted_at=0.0, audio_ms=0, protocol=1, server="stenod", model="tiny.en", language="en",
                 sample_rate=16000, state=state, stream=stream)


def test_partials_are_preedit_and_finals_are_committed_with_a_space_between() -> None:
    d = Dictation()
    assert d.feed(_hello()) == [State("listening")]
    assert d.feed(_partial(1, "", "hello")) == [Show("hello")]
    assert d.feed(_partial(1, "hello", "world", 2)) == [Show("hello world")]
    assert d.feed(_partial(1, "hello", "world", 3)) == []  # unchanged: nothing redrawn
    assert d.feed(_final(1, "Hello world.")) == [Show(""), Commit("Hello world.")]
    assert d.feed(_end(1)) == []
    assert d.feed(_partial(2, "", "next")) == [Show(" next")]  # the space the commit will have
    assert d.feed(_final(2, "Next one.")) == [Show(""), Commit(" Next one.")]
    assert d.feed(_partial(3, "", ", and")) == [Show(", and")]  # none before punctuation


def test_a_discarded_utterance_leaves_nothing_and_commits_only_mode() -> None:
    d = Dictation()
    d.feed(_hello())
    d.feed(_partial(1, "", "thank you"))
    assert d.feed(_end(1, "no_speech")) == [Show("")]
    quiet = Dictation(preedit=False)
    assert quiet.feed(_partial(1, "", "hello")) == []
    assert quiet.feed(_final(1, "Hello.")) == [Commit("Hello.")]
    assert quiet.feed(Status(seq=9, emitted_at=0.0, audio_ms=0, state="paused", message="")) == [State("paused")]


class _Field:
    def __init__(self) -> None:
        self.text = ""
        self.preedit = ""

    def show(self, text: str) -> None:
        self.preedit = text

    def commit(self, text: str) -> None:
        self.text += text
        self.preedit = ""


def test_router_applies_to_the_focused_field_and_keeps_finals_until_one_has_focus() -> None:
    router = Router()
    first, second = _Field(), _Field()
    router.focus(first)
    router.apply([Show("hello"), Commit("Hello.")])
    assert (first.text, first.preedit) == ("Hello.", "")
    router.blur(first)
    router.apply([Show(" more"), Commit(" More.")])  # said while the focus moved
    assert first.text == "Hello." and second.text == ""
    router.focus(second)
    assert second.text == " More."
    states: list[str] = []
    router.on_state = states.append
    router.apply([State("paused")])
    assert states == ["paused"] and router.state == "paused"
