"""What clients send: the decoders of every client message and query.

Each decoder takes whatever arrived (text, bytes, query values) and either returns the message or raises
``ClientError`` with the protocol's error ``code`` and a reason to show. Nothing else escapes, whatever
the input (hypothesis and atheris check this); a JSON nesting bomb is refused before it is parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from stenod.core.events import ProtocolError

CONTROL_MESSAGES = ("pause", "resume", "toggle", "hold", "release", "end_utterance", "ping")
MAX_JSON_DEPTH = 32
MIN_RATE, MAX_RATE = 8000, 192000


class ClientError(ProtocolError):
    """A client message the daemon will not act on; ``code`` is the ``error`` event's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def json_object(raw: str | bytes, what: str = "message") -> dict:
    """``raw`` parsed as a JSON object; ``ClientError`` (``bad_message``) for anything else.

    ``json.loads`` recurses once per nesting level, so a deep enough nesting would raise RecursionError:
    nesting is counted (conservatively, brackets in strings included) before parsing.
    """
    depth = 0
    opening, closing = ("[{", "]}") if isinstance(raw, str) else (b"[{", b"]}")
    for char in raw:
        if char in opening:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ClientError("bad_message", f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        elif char in closing:
            depth -= 1
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        raise ClientError("bad_message", f"{what}: not JSON") from None
    if not isinstance(message, dict):
        raise ClientError("bad_message", f"{what}: expected a JSON object, got {type(message).__name__}")
    return message


def decode_control(raw: str | bytes) -> str:
    """A message on ``/v1/events``: one of ``CONTROL_MESSAGES``."""
    if not isinstance(raw, str):
        raise ClientError("bad_message", "binary messages are not accepted here")
    kind = json_object(raw).get("type")
    if kind not in CONTROL_MESSAGES:
        shown = kind if isinstance(kind, str | int | float | bool) or kind is None else type(kind).__name__
        raise ClientError("bad_message", f"unknown message type {str(shown)[:40]!r} "
                          f"(expected one of {', '.join(CONTROL_MESSAGES)})")
    return kind


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32 in [-1, 1)


@dataclass(frozen=True)
class End:
    pass


def decode_listen(raw: str | bytes) -> Audio | End:
    """A message on ``/v1/listen``: a binary frame of 16-bit little-endian PCM, or ``{"type": "end"}``."""
    if isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
        if len(data) % 2:
            raise ClientError("bad_audio", "binary frames must be whole 16-bit samples")
        return Audio(np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0)
    if json_object(raw).get("type") != "end":
        raise ClientError("bad_message", 'expected binary PCM frames or {"type": "end"}')
    return End()


def decode_history_query(query: dict[str, list[str]]) -> bool:
    """``history`` of a ``/v1/listen`` URL: ``1`` asks for the stream's finals to be kept, ``0`` (default) not."""
    value = _one(query, "history")
    if value not in (None, "0", "1"):
        raise ClientError("bad_query", "history must be 0 or 1")
    return value == "1"


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ClientError("bad_query", f"{name} given more than once")
    return values[0]


def decode_events_query(query: dict[str, list[str]]) -> tuple[int | None, str | None]:
    """``since`` (a whole number ≥ 0) and ``stream`` of a ``/v1/events`` URL."""
    since, stream = _one(query, "since"), _one(query, "stream")
    if since is not None:
        if not since.isascii() or not since.isdigit() or len(since) > 18:
            raise ClientError("bad_query", "since must be a whole number")
        return int(since), stream
    return None, stream


def decode_listen_query(query: dict[str, list[str]]) -> int:
    """The sample ``rate`` of a ``/v1/listen`` URL (default 16000)."""
    rate = _one(query, "rate") or "16000"
    if not (rate.isascii() and rate.isdigit() and len(rate) <= 6 and MIN_RATE <= int(rate) <= MAX_RATE):
        raise ClientError("bad_query", f"rate must be a sample rate between {MIN_RATE} and {MAX_RATE}")
    return int(rate)
