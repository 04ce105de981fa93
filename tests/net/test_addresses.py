"""The one loopback list: listeners, Host headers, Wyoming and the LLM endpoint all ask it."""

from __future__ import annotations

import pytest

from stenod.net.addresses import is_loopback, split_address


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "::1", "[::1]", "127.0.0.1", "127.8.9.10"])
def test_loopback_names_and_addresses_stay_on_this_machine(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "192.168.1.2", "127.0.0.1.evil.example", "127.0.0.256",
                                  "localhost.evil.example", "128.0.0.1", "127.0.0"])
def test_anything_else_is_reachable_from_other_hosts(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(("text", "where"), [
    ("127.0.0.1:7767", ("127.0.0.1", 7767)),
    ("tcp://127.0.0.1:10300", ("127.0.0.1", 10300)),
    ("ws://localhost:7767/", ("localhost", 7767)),
    ("[::1]:7767", ("::1", 7767)),
    ("unix:///run/user/1000/stenod/wyoming.sock", "/run/user/1000/stenod/wyoming.sock"),
])
def test_every_flag_reads_an_address_the_same_way(text: str, where: tuple[str, int] | str) -> None:
    assert split_address(text) == where


@pytest.mark.parametrize("text", ["localhost", "http://127.0.0.1:7767", "127.0.0.1:0", "127.0.0.1:99999",
                                  "unix://relative.sock", "ws://[bad", "tcp://h:1/path", ""])
def test_anything_else_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        split_address(text)
