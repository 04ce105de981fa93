"""The input method's view of the event stream: preedit while speaking, commits for finals, erasing on retract."""

from __future__ import annotations

from stenod.core.events import Status
from stenod_clients.ime.dictation import Commit, Dictation, Show, State
from stenod_clients.ime.engine import Router
from support.events import final, hello, partial, retract, speech_end


def test_partials_are_preedit_and_finals_are_committed_with_a_space_between() -> None:
    d = Dictation()
    assert d.feed(hello()) == [State("listening")]
    assert d.feed(partial(1, "", "hello")) == [Show("hello")]
    assert d.feed(partial(1, "hello", "world", 2)) == [Show("hello world")]
    assert d.feed(partial(1, "hello", "world", 3)) == []  # unchanged: nothing redrawn
    assert d.feed(final(1, "Hello world.")) == [Show(""), Commit("Hello world.", 1)]
    assert d.feed(speech_end(1)) == []
    assert d.feed(partial(2, "", "next")) == [Show(" next")]  # the space the commit will have
    assert d.feed(final(2, "Next one.")) == [Show(""), Commit(" Next one.", 2)]
    assert d.feed(partial(3, "", ", and")) == [Show(", and")]  # none before punctuation


def test_a_discarded_utterance_leaves_nothing_and_commits_only_mode() -> None:
    d = Dictation()
    d.feed(hello())
    d.feed(partial(1, "", "thank you"))
    assert d.feed(speech_end(1, "no_speech")) == [Show("")]
    quiet = Dictation(preedit=False)
    assert quiet.feed(partial(1, "", "hello")) == []
    assert quiet.feed(final(1, "Hello.")) == [Commit("Hello.", 1)]
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

    def erase(self, count: int) -> None:
        self.text = self.text[:len(self.text) - count]


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


def test_a_retract_erases_in_the_field_the_text_went_to_and_nowhere_else() -> None:
    d, router = Dictation(), Router()
    first, second = _Field(), _Field()
    router.focus(first)
    for event in [final(1, "One."), speech_end(1), final(2, "Two."), speech_end(2)]:
        router.apply(d.feed(event))
    router.apply(d.feed(retract(2, by=3)))
    assert first.text == "One."
    router.apply(d.feed(final(4, "Four.")))
    router.blur(first)
    router.focus(second)
    router.apply(d.feed(retract(4, by=5)))  # the focus moved: the other field is left alone
    assert (first.text, second.text) == ("One. Four.", "")


def test_each_final_is_shaped_by_the_focused_application_s_profile() -> None:
    from dataclasses import replace

    from stenod.core.profiles import Profile
    from stenod_clients.ime.engine import profile_shaper
    from stenod_clients.typing.focus import Focused
    from stenod_clients.typing.shaping import Shaping

    mail = Profile("mail", apps=("thunderbird",), numbers=True)
    shaping = Shaping({"mail": mail})
    said = replace(final(1, "Twenty five apples."), raw="twenty five apples.")
    assert profile_shaper(shaping, lambda: Focused("thunderbird"))(said).text == "25 apples."  # type: ignore[attr-defined]
    assert profile_shaper(shaping, lambda: Focused("gedit"))(said) is said
    assert Dictation().feed(profile_shaper(shaping, lambda: Focused("thunderbird"))(said)) == [Commit("25 apples.", 1)]


def test_a_final_withdrawn_while_it_waited_for_a_field_is_never_committed() -> None:
    d, router, field_ = Dictation(), Router(), _Field()
    router.apply(d.feed(final(1, "Secret.")))  # no field has the focus
    router.apply(d.feed(retract(1, by=2)))
    router.focus(field_)
    assert field_.text == ""


def test_a_refused_erase_puts_earlier_text_out_of_reach() -> None:
    d, router = Dictation(), Router()
    router.on_refused = d.joiner.history.clear
    first, second = _Field(), _Field()
    router.focus(first)
    for event in [final(1, "One."), speech_end(1), final(2, "Two."), speech_end(2)]:
        router.apply(d.feed(event))
    router.blur(first)
    router.focus(second)
    router.apply(d.feed(retract(2, by=3)))  # refused: another field
    router.blur(second)
    router.focus(first)
    router.apply(d.feed(retract(1, by=4)))  # would erase "Two." by count: refused instead
    assert first.text == "One. Two."
