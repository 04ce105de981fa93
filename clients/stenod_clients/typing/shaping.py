"""The profiles a typing client applies, with what it needs to apply them: the daemon's clean-up and commands.

Read from the same configuration file as the daemon (``[stream]``, ``[commands]``, ``[profiles.*]``), so a
profile's clean-up starts from the daemon's own.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from stenod.config import Config, ConfigError, cleanup_config, load
from stenod.core.cleanup import CleanupConfig
from stenod.core.commands import Commands
from stenod.core.events import Final
from stenod.core.profiles import Profile, paste_table, pick, with_builtin


@dataclass(frozen=True)
class Shaping:
    profiles: dict[str, Profile] = field(default_factory=lambda: with_builtin({}))
    base: CleanupConfig = field(default_factory=CleanupConfig)
    commands: Commands = field(default_factory=Commands)

    @classmethod
    def from_config(cls, config: Config) -> Shaping:
        return cls(with_builtin(config.profiles), cleanup_config(config.stream), Commands(config.commands))

    def profile(self, app: str) -> Profile | None:
        return pick(self.profiles, app) if app else None

    def reshapes(self, profile: Profile | None) -> bool:
        """Whether ``profile`` cleans the words differently from the daemon (then only finals are typed)."""
        return profile is not None and profile.reshapes(self.base)

    def final(self, final: Final, profile: Profile | None) -> Final:
        return final if profile is None else profile.shape(final, self.base, self.commands)

    def paste_keys(self, configured: dict[str, str]) -> dict[str, str]:
        """Chords by application: the profiles', then ``[typing] app_paste_keys`` over them."""
        return {**paste_table(self.profiles), **configured}


def typing_config(who: str) -> Config:
    """The daemon's configuration file, as a client that types reads it (the defaults when it is unusable)."""
    try:
        return load()
    except ConfigError as exc:
        print(f"{who}: {exc}; using the defaults", file=sys.stderr)
        return Config()
