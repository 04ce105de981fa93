"""The profiles a typing client applies, with what it needs to apply them: the daemon's clean-up and commands.

Read from the same configuration file as the daemon (``[stream]``, ``[commands]``, ``[profiles.*]``), so a
profile's clean-up starts from the daemon's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stenod.config import Config, cleanup_config
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

    def final(self, final: Final, profile: Profile | None) -> Final:
        return final if profile is None else profile.shape(final, self.base, self.commands)

    def paste_keys(self, configured: dict[str, str]) -> dict[str, str]:
        """Chords by application: the profiles', then ``[typing] app_paste_keys`` over them."""
        return {**paste_table(self.profiles), **configured}
