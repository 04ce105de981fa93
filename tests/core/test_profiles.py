from __future__ import annotations

from dataclasses import replace

import pytest

from stenod.config import Config as DaemonConfig
from stenod.config import ConfigError, load, merge, to_toml
from stenod.core.cleanup import CleanupConfig
from stenod.core.commands import Commands
from stenod.core.profiles import Profile, paste_table, pick, with_builtin
from support.events import final

TERMINAL = Profile("terminal", apps=("kitty", "gnome-terminal"), capitalise=False, fillers=False, llm=False,
                   paste_keys="ctrl+shift+v")
MAIL = Profile("mail", apps=("thunderbird", "evolution"), numbers=True)
CODE = Profile("code", apps=("code", "code-oss"), llm=False)


def test_the_longest_matching_application_name_wins() -> None:
    profiles = {p.name: p for p in (TERMINAL, MAIL, CODE)}
    assert pick(profiles, "kitty") is TERMINAL
    assert pick(profiles, "Thunderbird mail") is MAIL
    assert pick(profiles, "code-oss code") is CODE
    assert pick(profiles, "firefox") is None
    assert pick(with_builtin({}), "org.gnome.console kgx").name == "terminal"  # type: ignore[union-attr]
    assert with_builtin({"terminal": TERMINAL})["terminal"] is TERMINAL


def test_a_profile_cleans_the_raw_words_again_with_its_own_steps() -> None:
    said = replace(final(1, "Um, twenty five apples."), raw="um twenty five apples.")
    base, commands = CleanupConfig(), Commands()
    assert TERMINAL.shape(said, base, commands).text == "um twenty five apples."
    assert MAIL.shape(said, base, commands).text == "25 apples."
    assert Profile("plain").shape(said, base, commands) is said  # nothing overridden: the daemon's text


def test_llm_off_types_the_rule_text_and_commands_keep_their_text() -> None:
    polished = replace(final(1, "So, I think."), raw="so I think", cleaned_by="llm", rules_text="So I think.")
    assert CODE.shape(polished, CleanupConfig(), Commands()).text == "So I think."
    assert MAIL.shape(polished, CleanupConfig(), Commands()).text == "So I think"  # cleaned again, no LLM
    line = replace(final(2, "\n"), raw="New line.")
    assert TERMINAL.shape(line, CleanupConfig(), Commands()).text == "\n"


def test_profiles_give_the_paste_chords_and_describe_themselves() -> None:
    assert paste_table({"t": TERMINAL}) == {"kitty": "ctrl+shift+v", "gnome-terminal": "ctrl+shift+v"}
    assert TERMINAL.describe() == ("terminal (fillers=off, capitalise=off, llm=off, paste_keys=ctrl+shift+v)")


def test_profiles_are_read_checked_and_written_back(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[profiles.mail]\napps = ["Thunderbird"]\nnumbers = true\n\n'
                    '[profiles.terminal]\napps = ["kitty"]\ncapitalise = false\npaste_keys = "ctrl+shift+v"\n')
    config = load(path)
    assert config.profiles["mail"] == Profile("mail", apps=("thunderbird",), numbers=True)
    assert config.profiles["terminal"].capitalise is False
    again = tmp_path / "again.toml"
    again.write_text(to_toml(config))
    assert load(again) == config


@pytest.mark.parametrize(("table", "error"), [
    ({"mail": {"apps": "thunderbird"}}, "profiles.mail.apps: expected a list of application names"),
    ({"mail": {"numbers": "yes"}}, "profiles.mail.numbers: expected true or false"),
    ({"mail": {"colour": True}}, "profiles.mail.colour: unknown key"),
    ({"mail": {"paste_keys": 3}}, "profiles.mail.paste_keys: expected a chord"),
    ({"mail": 3}, "[profiles.mail] must be a table"),
])
def test_a_bad_profile_is_a_one_line_error(table: dict, error: str) -> None:
    with pytest.raises(ConfigError, match=error.replace("[", r"\[").replace("]", r"\]")):
        merge(DaemonConfig(), {"profiles": table})
