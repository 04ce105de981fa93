"""The event protocol: every event survives a JSON round trip; malformed messages get a clear error."""

from __future__ import annotations

import json

import pytest

from stenod.core.events import (
    EVENT_TYPES,
    Error,
    Event,
    Final,
    Hello,
    Partial,
    Pong,
    ProtocolError,
    Retract,
    SpeechEnd,
    SpeechStart,
    Status,
    WordInfo,
)

EXAMPLES: list[Event] = [
    SpeechStart(seq=1, emitted_at=0.5, audio_ms=500, utterance_id=1, start_ms=200),
    Partial(seq=2, emitted_at=0.9, audio_ms=900, utterance_id=1, revision=1, stable="hello", unstable="wor",
            start_ms=200, end_ms=900),
    Final(seq=3, emitted_at=1.4, audio_ms=1400, utterance_id=1, text="Hello world.", raw=" hello world",
          words=(WordInfo(word="hello", start_ms=250, end_ms=600, probability=0.91),
                 WordInfo(word="world", start_ms=610, end_ms=950, probability=0.8)),
          language="en", start_ms=200, end_ms=1000),
    SpeechEnd(seq=4, emitted_at=1.4, audio_ms=1400, utterance_id=1, start_ms=200, end_ms=1000),
    SpeechEnd(seq=5, emitted_at=2.0, audio_ms=2000, utterance_id=2, start_ms=1500, end_ms=1700, discarded="too_short"),
    Retract(seq=5, emitted_at=2.0, audio_ms=2000, utterance_id=1, command="scratch that", command_utterance_id=2),
    Status(seq=6, emitted_at=2.1, audio_ms=2000, state="listening", message="microphone open"),
    Error(seq=7, emitted_at=2.2, audio_ms=2000, code="engine", message="decode failed"),
    Hello(seq=7, emitted_at=2.3, audio_ms=2000, protocol=1, server="stenod 0.1.0", model="tiny.en", language="en",
          sample_rate=16000, state="listening"),
    Pong(seq=7, emitted_at=2.4, audio_ms=2000),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: f"{e.type}-{e.seq}")
def test_round_trip_through_json(event: Event) -> None:
    data = json.loads(json.dumps(event.to_dict()))
    assert data["type"] == event.type
    assert Event.from_dict(data) == event


def test_every_type_has_an_example() -> None:
    assert {e.type for e in EXAMPLES} == set(EVENT_TYPES)


def test_partial_text_joins_stable_and_unstable() -> None:
    assert EXAMPLES[1].text == "hello wor"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("message", "error"), [
    ([], "must be an object"),
    ({"seq": 1}, "unknown event type None"),
    ({"type": "shout"}, "unknown event type 'shout'"),
    ({"type": "speech_start", "seq": 1, "emitted_at": 0.0, "audio_ms": 0}, "missing field 'utterance_id'"),
    ({"type": "speech_start", "seq": "1", "emitted_at": 0.0, "audio_ms": 0, "utterance_id": 1, "start_ms": 0},
     "field 'seq' must be int, got str"),
    ({"type": "speech_start", "seq": True, "emitted_at": 0.0, "audio_ms": 0, "utterance_id": 1, "start_ms": 0},
     "field 'seq' must be int, got bool"),
    ({**EXAMPLES[2].to_dict(), "words": "hello"}, "'words' must be a list"),
    ({**EXAMPLES[2].to_dict(), "words": [{"word": "x"}]}, "missing field 'start_ms'"),
])
def test_malformed_messages_are_rejected_with_a_reason(message: object, error: str) -> None:
    with pytest.raises(ProtocolError, match=error.replace("(", r"\(").replace("[", r"\[")):
        Event.from_dict(message)


def test_optional_field_defaults_when_absent() -> None:
    data = EXAMPLES[3].to_dict()
    del data["discarded"]
    assert Event.from_dict(data) == EXAMPLES[3]
