"""The one loopback list: listeners, Host headers, Wyoming and the LLM endpoint all ask it."""

from __future__ import annotations

import pytest

from stenod.net.addresses import is_loopback


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "::1", "[::1]", "127.0.0.1", "127.8.9.10"])
def test_loopback_names_and_addresses_stay_on_this_machine(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "192.168.1.2", "127.0.0.1.evil.example", "127.0.0.256",
                                  "localhost.evil.example", "128.0.0.1", "127.0.0"])
def test_anything_else_is_reachable_from_other_hosts(host: str) -> None:
    assert not is_loopback(host)
