"""Client message decoders under arbitrary input: a message, or a documented ClientError; never anything else."""

from __future__ import annotations

import json
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stenod.net.flood import FloodLimit
from stenod.net.messages import (
    CONTROL_MESSAGES,
    Audio,
    ClientError,
    End,
    decode_control,
    decode_events_query,
    decode_history_query,
    decode_listen,
    decode_listen_query,
)

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                    max_leaves=20)
TYPED = st.dictionaries(st.just("type"), JSON | st.sampled_from([*CONTROL_MESSAGES, "end"]))
MESSAGES = st.one_of(st.text(), st.binary(), JSON.map(json.dumps), TYPED.map(json.dumps))
QUERIES = st.dictionaries(st.sampled_from(["since", "stream", "rate", "history", "other"]),
                          st.lists(st.text() | st.sampled_from(["0", "1"]), max_size=3))


@settings(max_examples=400, deadline=None)
@given(MESSAGES)
def test_control_messages_decode_or_fail_with_a_client_error(raw: str | bytes) -> None:
    try:
        assert decode_control(raw) in CONTROL_MESSAGES
    except ClientError as exc:
        assert exc.code == "bad_message" and str(exc)


@settings(max_examples=400, deadline=None)
@given(MESSAGES)
def test_listen_messages_decode_or_fail_with_a_client_error(raw: str | bytes) -> None:
    try:
        message = decode_listen(raw)
    except ClientError as exc:
        assert exc.code in ("bad_message", "bad_audio")
        return
    if isinstance(message, Audio):
        assert isinstance(raw, bytes) and len(message.samples) * 2 == len(raw)
        assert message.samples.dtype == np.float32 and np.all(np.abs(message.samples) <= 1.0)
    else:
        assert isinstance(message, End) and json.loads(raw)["type"] == "end"


@settings(max_examples=300, deadline=None)
@given(QUERIES)
def test_queries_decode_or_fail_with_a_client_error(query: dict[str, list[str]]) -> None:
    try:
        since, _ = decode_events_query(query)
        assert since is None or since >= 0
    except ClientError as exc:
        assert exc.code == "bad_query"
    try:
        assert 8000 <= decode_listen_query(query) <= 192000
    except ClientError as exc:
        assert exc.code == "bad_query"
    try:
        assert decode_history_query(query) == (query.get("history") == ["1"])
    except ClientError as exc:
        assert exc.code == "bad_query"


def test_a_nesting_bomb_is_refused_before_it_is_parsed() -> None:
    for bomb in ("[" * 500_000, '{"a":' * 200_000, "[" * 33 + "]" * 33):
        started = time.perf_counter()
        try:
            decode_control(bomb)
        except ClientError as exc:
            assert "nested" in str(exc)
        else:
            raise AssertionError("accepted")
        assert time.perf_counter() - started < 1.0
    assert decode_control('{"type": "ping", "x": [[[1]]]}') == "ping"


def test_odd_audio_and_huge_numbers_are_client_errors() -> None:
    for raw, code in ((b"\x00\x01\x02", "bad_audio"), ('{"type": ' + "9" * 5000 + "}", "bad_message")):
        try:
            decode_listen(raw)
        except ClientError as exc:
            assert exc.code == code
        else:
            raise AssertionError("accepted")


def test_the_flood_limit_allows_bursts_then_a_steady_rate() -> None:
    limit = FloodLimit(rate=20.0, burst=40)
    assert sum(limit.allow(0.0) for _ in range(100)) == 40 and limit.strikes == 60
    assert sum(limit.allow(1.0) for _ in range(100)) == 20  # a second later: 20 more
    assert sum(limit.allow(100.0) for _ in range(100)) == 40  # never more than the burst


def test_a_connection_that_keeps_flooding_is_exhausted_past_its_strikes() -> None:
    limit = FloodLimit(rate=1.0, burst=1, max_strikes=3)
    verdicts = [limit.allow(0.0) for _ in range(5)]
    assert verdicts == [True, False, False, False, False] and limit.strikes == 4 and limit.exhausted
