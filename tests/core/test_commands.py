from __future__ import annotations

import numpy as np
import pytest

from stenod.core import SAMPLE_RATE
from stenod.core.cleanup import CleanupConfig
from stenod.core.commands import Commands, CommandsConfig
from stenod.core.events import Event, Final, Partial, Retract, SpeechEnd
from stenod.core.fake import FakeRecognizer, LoudIsSpeech, ScriptWord, token_ids
from stenod.core.pipeline import PipelineConfig
from stenod.live.files import run_fast

ON = CommandsConfig()
PLAIN = CleanupConfig()


@pytest.mark.parametrize(("said", "kind", "start"), [
    ("Scratch that.", "retract", 0),
    ("scratch that", "retract", 0),
    ("Delete that!", "retract", 0),
    ("Undo.", "retract", 0),
    ("Undo that.", "retract", 0),
    ("Let's meet at six. Scratch that.", "retract", 4),
    ("New line.", "new_line", 0),
    ("New paragraph", "new_paragraph", 0),
    ("Dear Sam. New paragraph.", "new_paragraph", 2),
    ("Literal scratch that.", "literal", 0),
    ("I wrote. Literal undo.", "literal", 2),
])
def test_a_command_is_a_whole_utterance_or_its_end(said: str, kind: str, start: int) -> None:
    command = Commands(ON).recognise(said.split())
    assert command is not None and (command.kind, command.start) == (kind, start)


@pytest.mark.parametrize("said", [
    "I said scratch that to him.",  # inside a sentence
    "Scratch that itch.",
    "Scratch that, please.",
    "Meet me at six scratch that.",  # no sentence before it
    "Undo the change.",
    "Delete that file.",
    "A new line of products.",
    "",
])
def test_prose_is_never_a_command(said: str) -> None:
    assert Commands(ON).recognise(said.split()) is None


def test_commands_are_configurable_and_can_be_switched_off() -> None:
    assert Commands(CommandsConfig(enabled=False)).recognise(["Scratch", "that."]) is None
    custom = Commands(CommandsConfig(retract=("oops",), literal=""))
    assert custom.recognise(["Oops."]) is not None
    assert custom.recognise(["Scratch", "that."]) is None
    assert custom.recognise(["Literal", "oops."]) is None


@pytest.mark.parametrize(("words", "held"), [
    (["Scratch"], 1),
    (["Hello.", "Scratch"], 1),
    (["Hello.", "Literal"], 1),
    (["Literal", "scratch"], 2),
    (["New"], 1),
    (["New", "York"], 0),
    (["I", "scratch"], 0),  # not at a sentence start: cannot become a command
    (["Hello", "world"], 0),
])
def test_words_that_may_become_a_command_are_held_back(words: list[str], held: int) -> None:
    assert Commands(ON).pending(words) == held


def _session(utterances: list[str], commands: CommandsConfig = ON,
             cleanup: CleanupConfig = PLAIN) -> list[Event]:
    """Each utterance spoken in 1.5 s of tone, with 1 s of silence between them."""
    script: list[ScriptWord] = []
    audio = [np.zeros(SAMPLE_RATE, np.float32)]
    t = 1.0
    tone = (0.5 * np.sin(2 * np.pi * 200 * np.arange(int(1.5 * SAMPLE_RATE)) / SAMPLE_RATE)).astype(np.float32)
    for text in utterances:
        words = text.split()
        step = 1.4 / len(words)
        script += [ScriptWord(w, t + 0.05 + i * step, t + 0.05 + (i + 1) * step) for i, w in enumerate(words)]
        audio += [tone, np.zeros(SAMPLE_RATE, np.float32)]
        t += 2.5
    events: list[Event] = []
    run_fast(np.concatenate(audio), FakeRecognizer(script), LoudIsSpeech(),
             PipelineConfig(commands=commands, cleanup=cleanup), events.append)
    return events


def _finals(events: list[Event]) -> dict[int, str]:
    return {e.utterance_id: e.text for e in events if isinstance(e, Final)}


def test_scratch_that_withdraws_the_previous_final_and_sends_no_final_of_its_own() -> None:
    events = _session(["Buy some milk.", "And the eggs.", "Scratch that."])
    retracts = [e for e in events if isinstance(e, Retract)]
    assert _finals(events) == {1: "Buy some milk.", 2: "And the eggs."}
    assert [(r.utterance_id, r.command, r.command_utterance_id) for r in retracts] == [(2, "scratch that", 3)]
    end = next(e for e in events if isinstance(e, SpeechEnd) and e.utterance_id == 3)
    assert end.discarded == "command" and events.index(retracts[0]) < events.index(end)
    # the command never shows as committed text, so a client typing stable text has nothing to take back
    assert not any(isinstance(e, Partial) and e.utterance_id == 3 and e.stable_text for e in events)


def test_each_scratch_that_reaches_one_final_further_back() -> None:
    events = _session(["One.", "Two.", "Undo.", "Delete that.", "Undo.", "Three."])
    assert [e.utterance_id for e in events if isinstance(e, Retract)] == [2, 1]  # nothing left for the third
    assert _finals(events) == {1: "One.", 2: "Two.", 6: "Three."}


def test_a_command_ending_an_utterance_withdraws_that_utterance() -> None:
    events = _session(["Keep this.", "Meet at six. Scratch that."])
    assert [(e.utterance_id, e.command_utterance_id) for e in events if isinstance(e, Retract)] == [(2, 2)]
    assert _finals(events) == {1: "Keep this."}


def test_literal_types_the_words_and_line_breaks_are_commands_too() -> None:
    events = _session(["Literal scratch that.", "Dear Sam. New paragraph.", "New line.", "I said scratch that."])
    assert list(_finals(events).values()) == ["Scratch that.", "Dear Sam.\n\n", "\n", "I said scratch that."]
    assert not [e for e in events if isinstance(e, Retract)]


def test_literal_new_line_with_spoken_punctuation_keeps_the_words() -> None:
    events = _session(["Literal new line."], cleanup=CleanupConfig(spoken_punctuation=True))
    assert list(_finals(events).values()) == ["New line."]


def test_with_commands_off_the_words_are_dictated() -> None:
    events = _session(["Hello.", "Scratch that."], commands=CommandsConfig(enabled=False))
    assert list(_finals(events).values()) == ["Hello.", "Scratch that."]
    assert not [e for e in events if isinstance(e, Retract)]


def test_a_retract_round_trips_through_the_protocol() -> None:
    retract = next(e for e in _session(["A.", "Undo."]) if isinstance(e, Retract))
    data = retract.to_dict()
    assert data["type"] == "retract" and data["utterance_id"] == 1 and data["command"] == "undo"
    assert Event.from_dict(data) == retract


def test_announced_text_never_has_to_change_when_numbers_or_commands_follow() -> None:
    utterances = ["I bought twenty five red apples today.", "Scratch that.", "Literal new line please."]
    events = _session(utterances, cleanup=CleanupConfig(numbers=True))
    finals = _finals(events)
    assert finals[1] == "I bought 25 red apples today."
    stable = [e for e in events if isinstance(e, Partial) and e.stable_text]
    assert stable, "nothing was announced early"
    for partial in stable:
        assert finals.get(partial.utterance_id, "").startswith(partial.stable_text) or (
            partial.utterance_id not in finals and any(isinstance(e, Retract) and e.utterance_id == partial.utterance_id
                                                       for e in events))


def test_fillers_around_a_command_do_not_hide_it() -> None:
    command = Commands(ON).recognise(["Um,", "scratch", "that."])
    assert command is not None and command.kind == "retract" and command.whole
    end = Commands(ON).recognise(["Meet", "at", "six.", "Uh,", "scratch", "that."])
    assert end is not None and not end.whole
    assert Commands(ON).pending(["Um,", "scratch"]) == 1


def test_a_final_that_shows_nothing_is_not_what_scratch_that_withdraws() -> None:
    events = _session(["Keep this one.", "Um.", "Scratch that."])
    assert [e.utterance_id for e in events if isinstance(e, Retract)] == [1]


def test_a_withdrawn_final_no_longer_prompts_the_next_utterance() -> None:
    script_words = ["Alpha.", "Bravo.", "Undo.", "Charlie."]
    events: list[Event] = []
    audio = [np.zeros(SAMPLE_RATE, np.float32)]
    tone = (0.5 * np.sin(2 * np.pi * 200 * np.arange(int(1.5 * SAMPLE_RATE)) / SAMPLE_RATE)).astype(np.float32)
    script = []
    for i, word in enumerate(script_words):
        script.append(ScriptWord(word, 1.05 + 2.5 * i, 2.4 + 2.5 * i))
        audio += [tone, np.zeros(SAMPLE_RATE, np.float32)]
    recognizer = FakeRecognizer(script)
    run_fast(np.concatenate(audio), recognizer, LoudIsSpeech(), PipelineConfig(commands=ON, partials=False),
             events.append)
    last = [r for r in recognizer.calls if r.final][-1]  # the final decode of "Charlie."
    assert last.prompt == token_ids("Alpha.")  # "Bravo." was withdrawn, "Undo." is never a prompt
