"""Events as the daemon would send them, for the clients' unit tests (only the fields a test cares about)."""

from __future__ import annotations

from stenod.core.events import Final, Hello, Partial, Retract, SpeechEnd


def partial(utterance: int, stable: str = "", unstable: str = "", revision: int = 1, stable_text: str = ""
            ) -> Partial:
    return Partial(seq=revision, emitted_at=0.0, audio_ms=0, utterance_id=utterance, revision=revision,
                   stable=stable, unstable=unstable, stable_text=stable_text, start_ms=0, end_ms=0)


def final(utterance: int, text: str) -> Final:
    return Final(seq=1, emitted_at=0.0, audio_ms=0, utterance_id=utterance, text=text, raw=text, words=(),
                 language="en", start_ms=0, end_ms=0)


def speech_end(utterance: int, discarded: str = "") -> SpeechEnd:
    return SpeechEnd(seq=1, emitted_at=0.0, audio_ms=0, utterance_id=utterance, start_ms=0, end_ms=0,
                     discarded=discarded)


def hello(state: str = "listening", stream: str = "s1") -> Hello:
    return Hello(seq=0, emitted_at=0.0, audio_ms=0, protocol=1, server="stenod", model="tiny.en", language="en",
                 sample_rate=16000, state=state, stream=stream)


def retract(utterance: int, by: int | None = None, command: str = "scratch that") -> Retract:
    return Retract(seq=utterance * 10 + 5, emitted_at=0.0, audio_ms=0, utterance_id=utterance, command=command,
                   command_utterance_id=utterance + 1 if by is None else by)
