"""Configuration: defaults with no file, the file, flags over the file, and one-line errors naming the key."""

from __future__ import annotations

import re

import pytest

from stenod.config import Config, ConfigError, load, merge, to_toml


def test_defaults_without_a_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("STENOD_CONFIG", raising=False)
    config = load()
    assert config == Config()
    assert config.host_port == ("127.0.0.1", 7767)


def test_file_then_flags(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[audio]\ndevice = "USB"\n[server]\nlisten = "127.0.0.1:9000"\n'
                    'allowed_origins = ["https://obs.example"]\n[stream]\nreplacements = { "steno d" = "stenod" }\n')
    config = load(path, {"server": {"listen": "127.0.0.1:9100"}, "audio": {"device": None}})
    assert config.audio.device == "USB"
    assert config.host_port == ("127.0.0.1", 9100)
    assert config.server.allowed_origins == ("https://obs.example",)
    assert config.stream.replacements == {"steno d": "stenod"}


def test_show_round_trips(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[model]\nprecision = "fp32"\n[stream]\nreplacements = { "a \\"b\\"" = "c" }\n'
                    '[llm]\nurl = "http://127.0.0.1:8080/v1"\nprompt = """Fix "this":\n\tonly\\\\that."""\n')
    config = load(path)
    assert config.llm.prompt == 'Fix "this":\n\tonly\\that.'
    again = tmp_path / "again.toml"
    again.write_text(to_toml(config))
    assert load(again) == config


def test_the_history_is_on_by_default_and_off_with_one_setting(tmp_path) -> None:
    assert Config().history.enabled and Config().history.retention_days == 30
    path = tmp_path / "config.toml"
    path.write_text("[history]\nenabled = false\nretention_days = 0\n")
    config = load(path)
    assert not config.history.enabled and config.history.retention_days == 0
    assert "[history]\nenabled = false\nretention_days = 0\n" in to_toml(config)
    again = tmp_path / "again.toml"
    again.write_text(to_toml(config))
    assert load(again) == config


def test_numbers_are_off_by_default_and_reach_the_daemons_clean_up(tmp_path) -> None:
    from stenod.daemon import pipeline_config

    assert not Config().stream.numbers and not pipeline_config(Config()).cleanup.numbers
    path = tmp_path / "config.toml"
    path.write_text("[stream]\nnumbers = true\n")
    config = load(path)
    assert config.stream.numbers and pipeline_config(config).cleanup.numbers
    assert "numbers = true\n" in to_toml(config)
    again = tmp_path / "again.toml"
    again.write_text(to_toml(config))
    assert load(again) == config


@pytest.mark.parametrize(("text", "message"), [
    ("[audio]\ndevise = 1\n", "unknown key audio.devise"),
    ("[sound]\n", "unknown section [sound]"),
    ("[model]\nthreads = -1\n", "model.threads: expected a whole number"),
    ("[model]\nthreads = true\n", "model.threads: expected a whole number"),
    ("[audio]\nblock_ms = 0\n", "audio.block_ms: expected 5 to 500, got 0"),
    ("[server]\nmax_queued_finals = 0\n", "server.max_queued_finals: expected 1 to"),
    ("[model]\nprecision = \"fp16\"\n", "model.precision: expected one of int8, fp32"),
    ("[stream]\npartials = \"yes\"\n", "stream.partials: expected true or false"),
    ("[server]\nlisten = \"localhost\"\n", "server.listen: expected HOST:PORT"),
    ("[server]\nallowed_origins = \"x\"\n", "server.allowed_origins: expected a list of strings"),
    ("[llm]\nurl = \"127.0.0.1:8080\"\n", "llm.url: expected an http:// or https:// base URL"),
    ("[llm]\nurl = \"http://127.0.0.1:port/v1\"\n", "llm.url: expected an http:// or https:// base URL"),
    ("[llm]\ntimeout_ms = 10\n", "llm.timeout_ms: expected 50 to 60000, got 10"),
    ("[llm]\napi_key_env = \"sk-abc123\"\n", "llm.api_key_env: expected the name of an environment variable"),
    ("[history]\nretention_days = 36501\n", "history.retention_days: expected 0 to 36500, got 36501"),
    ("[history]\nenabled = 1\n", "history.enabled: expected true or false"),
    ("[audio\n", "not valid TOML"),
])
def test_bad_files_name_the_problem(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_an_explicit_file_must_exist(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.toml")


def test_bad_flag(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STENOD_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match=r"command line: server\.listen"):
        load(None, {"server": {"listen": "nope"}})


@pytest.mark.parametrize("given", ["ws://127.0.0.1:7800", "tcp://127.0.0.1:7800/", "127.0.0.1:7800"])
def test_the_listen_address_may_be_written_as_the_clients_write_it(given: str) -> None:
    config = merge(Config(), {"server": {"listen": given}})
    assert config.server.listen == "127.0.0.1:7800" and config.host_port == ("127.0.0.1", 7800)


@pytest.mark.parametrize(("given", "kept"), [("127.0.0.1:10300", "tcp://127.0.0.1:10300"),
                                             ("tcp://127.0.0.1:10300", "tcp://127.0.0.1:10300"),
                                             ("unix:///tmp/w.sock", "unix:///tmp/w.sock"), ("", "")])
def test_the_wyoming_address_takes_the_same_syntax(given: str, kept: str) -> None:
    assert merge(Config(), {"server": {"wyoming": given}}).server.wyoming == kept


def test_listen_refuses_a_unix_socket_and_names_the_setting_for_it() -> None:
    with pytest.raises(ConfigError, match=r"server\.unix_socket"):
        merge(Config(), {"server": {"listen": "unix:///tmp/x.sock"}})


def test_an_empty_listen_address_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match=r"server\.listen: expected HOST:PORT"):
        merge(Config(), {"server": {"listen": ""}})
