"""Profiles per application: how a final is shaped for the window it is typed into.

A profile names parts of application names (``apps``, matched in the focused application's names as
``stenod type --check`` prints them, the longest match winning) and overrides any of the clean-up steps, the
LLM polish and the paste chord. A key left out keeps the daemon's setting. The clients apply them: when the
profile's steps differ from the daemon's, the final's ``raw`` words are cleaned again with them (which also
sets aside an LLM rewrite); when the profile only turns the LLM off, the final's rule-based text is used. A
built-in ``terminal`` profile (no LLM rewriting, Ctrl+Shift+V) covers the common terminals;
``[profiles.terminal]`` in the configuration replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from stenod.core.cleanup import CleanupConfig, clean
from stenod.core.commands import Commands
from stenod.core.events import Final

TERMINALS = ("gnome-terminal", "org.gnome.terminal", "org.gnome.console", "kgx", "konsole", "kitty", "alacritty",
             "foot", "wezterm", "tilix", "terminator", "xfce4-terminal", "ptyxis", "ghostty", "urxvt", "xterm",
             "lxterminal", "mate-terminal", "terminology", "qterminal", "st-256color", "blackbox")
CLEANUP_KEYS = ("fillers", "stutters", "spoken_punctuation", "numbers", "capitalise")


@dataclass(frozen=True)
class Profile:
    name: str
    apps: tuple[str, ...] = ()  # parts of the focused application's names, lower case
    fillers: bool | None = None  # None: as the daemon cleans
    stutters: bool | None = None
    spoken_punctuation: bool | None = None
    numbers: bool | None = None
    capitalise: bool | None = None
    llm: bool | None = None  # False: the rule-based text, even when the daemon's LLM rewrote the final
    paste_keys: str = ""  # the paste chord for `stenod type --backend paste` ("": the default)

    def reshapes(self, base: CleanupConfig) -> bool:
        """Whether the profile cleans the words differently from the daemon's ``base`` clean-up."""
        return self.cleanup(base) != base

    def cleanup(self, base: CleanupConfig) -> CleanupConfig:
        return replace(base, **{k: v for k in CLEANUP_KEYS if (v := getattr(self, k)) is not None})

    def describe(self) -> str:
        """The profile's settings in one line, for ``stenod type --check``."""
        said = [f"{f.name}={'on' if v is True else 'off' if v is False else v}" for f in fields(self)
                if f.name not in ("name", "apps") and (v := getattr(self, f.name)) not in (None, "")]
        return f"{self.name} ({', '.join(said) or 'as the daemon'})"

    def shape(self, final: Final, base: CleanupConfig, commands: Commands) -> Final:
        """The final as this profile types it; a spoken command's text (a line break) is kept as it is."""
        if self.reshapes(base) and commands.recognise(final.raw.split()) is None:
            return replace(final, text=clean(final.raw, self.cleanup(base)), cleaned_by="rules", rules_text="")
        if self.llm is False and final.cleaned_by == "llm" and final.rules_text:
            return replace(final, text=final.rules_text, cleaned_by="rules", rules_text="")
        return final


BUILTIN: dict[str, Profile] = {"terminal": Profile("terminal", apps=TERMINALS, llm=False, paste_keys="ctrl+shift+v")}


def with_builtin(configured: Mapping[str, Profile]) -> dict[str, Profile]:
    """The built-in profiles, replaced by configured ones of the same name, then the others."""
    return {**BUILTIN, **configured}


def pick(profiles: Mapping[str, Profile], app: str) -> Profile | None:
    """The profile whose ``apps`` entry is the longest found in ``app`` (the focused application's names)."""
    app = app.lower()
    matches = [(len(part), profile) for profile in profiles.values() for part in profile.apps if part and part in app]
    return max(matches, key=lambda m: m[0])[1] if matches else None


def paste_table(profiles: Mapping[str, Profile]) -> dict[str, str]:
    """Paste chords by application part, from the profiles that set one."""
    return {part.lower(): p.paste_keys for p in profiles.values() if p.paste_keys for part in p.apps}
