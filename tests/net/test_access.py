"""The one access check: Host and Origin against DNS rebinding and foreign pages, then the token's scope."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from stenod.net.access import NEED_TOKEN, PUBLIC, Gate, Head
from stenod.net.auth import CONTROL, READ, Authority, read_token

TOKEN = "c" * 43


class Transport(asyncio.BaseTransport):
    """A transport with the socket details a listener would see."""

    def __init__(self, **extra: Any) -> None:
        super().__init__()
        self.extra = extra

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)


def _head(transport: asyncio.BaseTransport | None = None, query_token: str | None = None,
          **headers: str | list[str]) -> Head:
    values = {k.replace("_", "-"): v if isinstance(v, list) else [v] for k, v in headers.items()}
    return Head(lambda name: values.get(name, []), query_token, transport or Transport())


def _gate(**kwargs: Any) -> Gate:
    return Gate(Authority(TOKEN), 7767, lambda: ["https://allowed.example"], **kwargs)


@pytest.mark.parametrize("headers, refusal", [
    ({"host": "127.0.0.1:7767"}, ""),
    ({"host": "localhost:7767", "origin": "http://localhost:7767"}, ""),
    ({"host": "[::1]:7767", "origin": "https://allowed.example"}, ""),
    ({}, "Host header missing or repeated"),
    ({"host": ["127.0.0.1", "127.0.0.1"]}, "Host header missing or repeated"),
    ({"host": "attacker.example:7767"}, "Host 'attacker.example:7767' is not a loopback name"),
    ({"host": "127.0.0.1:7767", "origin": "null"}, "Origin 'null' is not allowed"),
    ({"host": "127.0.0.1:7767", "origin": "http://127.0.0.1:9999"}, "Origin 'http://127.0.0.1:9999' is not allowed"),
    ({"host": "127.0.0.1:7767", "origin": ["http://localhost:7767"] * 2}, "Origin header repeated"),
])
def test_host_and_origin_are_checked_on_tcp(headers: dict[str, Any], refusal: str) -> None:
    assert _gate().decide(_head(**headers)).refusal == refusal


def test_a_listener_opened_to_the_network_and_the_unix_socket_trust_any_host() -> None:
    assert _gate(check_host=False).decide(_head(host="dictation.lan:7767")).refusal == ""
    assert _gate(unix=True).decide(_head(host="whatever")).refusal == ""
    assert _gate(unix=True).decide(_head(host="x", origin="https://evil.example")).refusal


@pytest.mark.parametrize("headers, query_token, scope", [
    ({"authorization": f"Bearer {TOKEN}"}, None, CONTROL),
    ({"authorization": f"bearer {read_token(TOKEN)}"}, None, READ),
    ({"sec_websocket_protocol": f"stenod.v1, stenod.token.{TOKEN}"}, None, CONTROL),
    ({}, read_token(TOKEN), READ),
    ({"authorization": "Bearer wrong"}, None, ""),
    ({"authorization": [f"Bearer {TOKEN}", "Bearer other"]}, None, ""),
    ({}, None, ""),
])
def test_the_scope_is_what_the_token_grants(headers: dict[str, Any], query_token: str | None, scope: str) -> None:
    assert _gate().decide(_head(query_token=query_token, host="127.0.0.1", **headers)).scope == scope


def test_a_route_tells_which_scope_it_needs() -> None:
    read = _gate().decide(_head(host="127.0.0.1", authorization=f"Bearer {read_token(TOKEN)}"))
    none = _gate().decide(_head(host="127.0.0.1"))
    assert read.needs(PUBLIC, "/health") is None and none.needs(PUBLIC, "/health") is None
    assert read.needs(READ, "/v1/events") is None
    assert read.needs(CONTROL, "/v1/listen") == (403, "/v1/listen needs the control token, not the read token")
    assert none.needs(READ, "/v1/events") == (401, NEED_TOKEN)


def test_on_the_unix_socket_this_user_has_control_without_a_token() -> None:
    mine, theirs = socket.socketpair()
    with mine, theirs:
        access = _gate(unix=True).decide(_head(Transport(socket=mine), host="x"))
        assert access.scope == CONTROL and access.same_user
    assert _gate(unix=True).decide(_head(Transport(), host="x")).scope == ""


def test_a_tcp_peer_that_is_not_on_loopback_is_not_this_user() -> None:
    transport = Transport(sockname=("10.0.0.1", 7767), peername=("10.0.0.2", 40000))
    assert not _gate().decide(_head(transport, host="127.0.0.1")).same_user
