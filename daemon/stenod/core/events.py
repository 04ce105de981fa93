"""The event protocol: what the pipeline emits and what every subscriber receives.

Each event is a frozen dataclass with ``to_dict``/``from_dict`` (JSON-ready dicts with a ``type`` key).
Fields common to all events:

- ``seq``: strictly increasing per stream, starting at 1.
- ``emitted_at``: seconds since the stream began, on the pipeline's clock.
- ``audio_ms``: how much audio the pipeline had received when it emitted the event (ms since the stream began).

Audio times (``start_ms``, ``end_ms``, word times) are milliseconds since the stream began, counted in samples.

A connection starts with ``hello`` (protocol version, server, model; its ``seq`` is the newest event so
far) and a ``ping`` from the client is answered with ``pong``; neither is a new event of the stream.

An utterance goes ``speech_start`` → ``partial``\\* → ``final``? → ``speech_end``. ``speech_end`` closes it:
it follows the utterance's ``final``, or carries ``discarded`` (the reason) when the utterance yields no text.
In a ``partial``, ``stable`` holds the committed words (they never change and the ``final`` extends them)
and ``unstable`` the rest of the latest hypothesis. ``stable_text`` is the cleaned text of the committed words
that no later word can change: it only grows, and the ``final``'s ``text`` starts with it, so a client may
type it at once and never take anything back. When an LLM rewrote the final (``cleaned_by`` is ``"llm"``),
its ``rules_text`` is the text that starts with ``stable_text``.

A spoken edit ("scratch that" said as its own utterance) yields no ``final`` of its own: its utterance
ends with ``speech_end`` (``discarded`` is ``"command"``) after a ``retract`` that names the earlier utterance
whose final is withdrawn. A client takes back what it showed or typed for that utterance. When the command
ends an utterance after a sentence ("… at six. Scratch that."), the utterance withdraws itself: its
``retract`` names its own ``utterance_id`` (for clients that typed its stable text) and it has no ``final``.

``hello`` names the ``stream``: it changes when the daemon restarts, so a client reconnecting with
``since`` can tell whether the ``seq`` it remembers still counts.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

PROTOCOL_VERSION = 1


class ProtocolError(ValueError):
    """A message that does not follow this protocol."""


@dataclass(frozen=True, kw_only=True)
class WordInfo:
    word: str
    start_ms: int
    end_ms: int
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "start_ms": self.start_ms, "end_ms": self.end_ms,
                "probability": round(self.probability, 4)}

    @classmethod
    def from_dict(cls, data: Any) -> WordInfo:
        if not isinstance(data, dict):
            raise ProtocolError(f"a word must be an object, got {type(data).__name__}")
        return cls(word=_get(data, "word", str), start_ms=_get(data, "start_ms", int),
                   end_ms=_get(data, "end_ms", int), probability=float(_get(data, "probability", (int, float))))


@dataclass(frozen=True, kw_only=True)
class Event:
    type: ClassVar[str] = ""
    seq: int
    emitted_at: float
    audio_ms: int

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "emitted_at":
                value = round(value, 4)
            elif isinstance(value, tuple):
                value = [v.to_dict() for v in value]
            out[f.name] = value
        return out

    @staticmethod
    def from_dict(data: Any) -> Event:
        """Parse a dict made by ``to_dict`` (for example one JSON message); ``ProtocolError`` if malformed."""
        if not isinstance(data, dict):
            raise ProtocolError(f"an event must be an object, got {type(data).__name__}")
        kind = data.get("type")
        cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise ProtocolError(f"unknown event type {kind!r}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "words":
                raw = data.get("words", [])
                if not isinstance(raw, list):
                    raise ProtocolError("'words' must be a list")
                values["words"] = tuple(WordInfo.from_dict(w) for w in raw)
            elif f.name in data or f.default is MISSING:
                # annotations are strings here (``from __future__ import annotations``); a class names itself
                annotation = f.type if isinstance(f.type, str) else f.type.__name__
                values[f.name] = _get(data, f.name, _FIELD_TYPES[annotation])
        return cls(**values)



@dataclass(frozen=True, kw_only=True)
class SpeechStart(Event):
    type: ClassVar[str] = "speech_start"
    utterance_id: int
    start_ms: int


@dataclass(frozen=True, kw_only=True)
class Partial(Event):
    type: ClassVar[str] = "partial"
    utterance_id: int
    revision: int
    stable: str
    unstable: str
    start_ms: int
    end_ms: int
    stable_text: str = ""

    @property
    def text(self) -> str:
        return " ".join(p for p in (self.stable, self.unstable) if p)


@dataclass(frozen=True, kw_only=True)
class Final(Event):
    type: ClassVar[str] = "final"
    utterance_id: int
    text: str
    raw: str
    words: tuple[WordInfo, ...]
    language: str
    start_ms: int
    end_ms: int
    cleaned_by: str = "rules"  # "rules", or "llm" when the daemon's LLM clean-up hook rewrote ``text``
    rules_text: str = ""  # with "llm": the rule-based text it replaced (which extends the partials' stable_text)


@dataclass(frozen=True, kw_only=True)
class SpeechEnd(Event):
    type: ClassVar[str] = "speech_end"
    utterance_id: int
    start_ms: int
    end_ms: int
    discarded: str = ""


@dataclass(frozen=True, kw_only=True)
class Retract(Event):
    """A spoken command withdrew the final (and any stable text) of ``utterance_id``."""

    type: ClassVar[str] = "retract"
    utterance_id: int  # the utterance whose text is withdrawn
    command: str  # the command as configured, e.g. "scratch that"
    command_utterance_id: int  # the utterance in which it was said


@dataclass(frozen=True, kw_only=True)
class Status(Event):
    type: ClassVar[str] = "status"
    state: str
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class Error(Event):
    type: ClassVar[str] = "error"
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Hello(Event):
    """The first message on a subscriber connection; ``seq`` is the stream's newest event so far."""

    type: ClassVar[str] = "hello"
    protocol: int
    server: str
    model: str
    language: str
    sample_rate: int
    state: str
    stream: str = ""


@dataclass(frozen=True, kw_only=True)
class Pong(Event):
    """The answer to a subscriber's ``ping``; ``seq`` is the stream's newest event so far."""

    type: ClassVar[str] = "pong"


EVENT_TYPES: dict[str, type[Event]] = {cls.type: cls for cls in (SpeechStart, Partial, Final, SpeechEnd, Retract,
                                                                  Status, Error, Hello, Pong)}
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {"int": int, "float": (int, float), "str": str}


def _get(data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in data:
        raise ProtocolError(f"missing field {name!r}")
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else "number"
        raise ProtocolError(f"field {name!r} must be {expected}, got {type(value).__name__}")
    if kind == (int, float) and isinstance(value, int | float):
        return float(value)
    return value
