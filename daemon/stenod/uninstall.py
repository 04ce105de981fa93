"""``stenod uninstall --user``: what ``stenod install`` put in place and what stenod keeps, taken away.

The systemd user units are stopped and disabled (``systemctl --user disable --now``; a missing or failing
``systemctl`` is reported, and the files go anyway), their files removed; the IBus component and its
``environment.d`` file; the model cache; the portal's typing permission. The configuration only with
``--config``, the dictation history only with ``--history``. Each thing removed is named, and so is each that
was not there; ``--dry-run`` names what would go and touches nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from stenod.paths import cache_root, config_path, state_dir
from stenod.systemd import CLIENT_UNITS, UNIT

CACHE_ENTRIES = ("models", "hub", "fingerprints.json", "tuning.json")  # what stenod writes under cache_root()
CACHE_FILES = ("fingerprints.json", "tuning.json")
HISTORY_SUFFIXES = ("", "-wal", "-shm", "-journal")  # the SQLite file and its companions


@dataclass
class Removal:
    """Removes paths (or, with ``dry_run``, says it would), printing a line for each; counts what failed."""

    dry_run: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    failed: int = 0

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def remove(self, path: Path, what: str = "") -> bool:
        """Remove ``path`` (a file, a link or a whole folder); False when it was not there."""
        if not path.exists() and not path.is_symlink():
            return False
        folder = path.is_dir() and not path.is_symlink()
        shown = f"{path}{'/' if folder else ''}" + (f" ({what})" if what else "")
        size = _size(path) if folder else 0
        if size >= 1e6:
            shown += f", {size / 1e6:.0f} MB"
        if self.dry_run:
            self.say(f"would remove {shown}")
            return True
        try:
            if folder:
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as exc:
            self.failed += 1
            print(f"stenod uninstall: cannot remove {path}: {exc.strerror or exc}", file=sys.stderr, flush=True)
            return True
        self.say(f"removed {shown}")
        return True

    def systemctl(self, *args: str) -> bool:
        """Run ``systemctl --user ARGS``; False (and a line saying why) when it is absent or fails."""
        command = ["systemctl", "--user", *args]
        shown = " ".join(command)
        if self.dry_run:
            self.say(f"would run {shown}")
            return True
        if shutil.which("systemctl") is None:
            self.say(f"systemctl not found: {shown} not run")
            return False
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.say(f"{shown} failed: {exc}")
            return False
        if result.returncode != 0:
            why = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit {result.returncode}"]
            self.say(f"{shown} failed: {why[0]}")
            return False
        self.say(f"ran {shown}")
        return True


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # a file gone meanwhile
                total += (Path(root) / name).lstat().st_size
    return total


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def remove_units(removal: Removal) -> None:
    """The daemon's and the clients' units: stopped, disabled, their files and any link left to them removed."""
    folder = _config_home() / "systemd" / "user"
    units = [UNIT, *CLIENT_UNITS.values()]
    present = [unit for unit in units if (folder / unit).exists()]
    if not present:
        removal.say(f"no stenod units in {folder}: nothing to stop")
        return
    stopped = removal.systemctl("disable", "--now", *present)
    if not stopped and shutil.which("systemctl") is not None:
        removal.say("a unit still running goes on until it is stopped: systemctl --user stop stenod")
    for unit in units:
        removal.remove(folder / unit, "systemd user unit")
        for wants in sorted(folder.glob("*.wants")):  # a link left behind when systemctl could not disable it
            removal.remove(wants / unit, "link enabling it")
    if stopped:
        removal.systemctl("daemon-reload")


def remove_ime(removal: Removal) -> None:
    """The IBus component and the environment file of ``stenod install --client ime``."""
    from stenod_clients.ime.install import forget, installed_files

    component, environment = installed_files()
    removed = removal.remove(component, "IBus component")
    if not removal.remove(environment, "IBUS_COMPONENT_PATH for the session") and not removed:
        removal.say(f"no IBus component at {component}")
    if removed and not removal.dry_run:
        removal.say(forget())


def stenod_models(root: Path) -> list[Path]:
    """What stenod made under the cache ``root``: its conversions (a folder with a manifest in ``models/``)
    and its pulls (``hub/NAME``, named as ``stenod models pull`` names them), nothing else that may be there."""
    from stenod.engine.models import pulled_models

    converted = sorted(p for p in (root / "models").glob("*") if (p / "manifest.json").is_file())
    return converted + [path for _, path in pulled_models() if path.parent == root / "hub"]


def remove_cache(removal: Removal) -> None:
    """The converted and pulled models, then the cache folder itself when nothing else is in it. In a folder
    of the user's choosing (``$STENOD_CACHE_DIR``, perhaps shared) only what stenod made there goes."""
    root = cache_root()
    if not root.is_dir():
        removal.say(f"no model cache at {root}")
        return
    own = not os.environ.get("STENOD_CACHE_DIR")  # $XDG_CACHE_HOME/stenod is stenod's alone
    for path in [root / "models", root / "hub"] if own else stenod_models(root):
        removal.remove(path, "model cache")
    for name in CACHE_FILES:
        removal.remove(root / name, "model cache")
    for name in ("models", "hub"):
        folder = root / name
        if folder.is_dir() and removal.dry_run:
            continue
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty
    left = sorted(p.name for p in root.iterdir() if not (removal.dry_run and p.name in CACHE_ENTRIES))
    if left:
        removal.say(f"kept {root}: it holds other files ({', '.join(left[:5])})")
    elif removal.dry_run:
        removal.say(f"would remove {root}/")
    else:
        try:
            root.rmdir()
            removal.say(f"removed {root}/")
        except OSError as exc:
            removal.say(f"kept {root}: {exc.strerror or exc}")


def remove_config(removal: Removal, wanted: bool) -> None:
    """The configuration folder (with ``$STENOD_CONFIG``, only that file), with ``--config``."""
    target = config_path() if os.environ.get("STENOD_CONFIG") else config_path().parent
    if os.environ.get("STENOD_CONFIG") and target.is_dir():
        removal.say(f"kept {target}: $STENOD_CONFIG names a folder, not stenod's configuration file")
        return
    if not wanted:
        if target.exists():
            removal.say(f"kept the configuration {target} (--config removes it)")
        return
    if not removal.remove(target, "configuration"):
        removal.say(f"no configuration at {target}")


def remove_history(removal: Removal, wanted: bool) -> None:
    """The dictation history's SQLite file (and its journal files), with ``--history``."""
    from stenod.history.store import history_path

    path = history_path()
    if not wanted:
        if path.exists():
            removal.say(f"kept the dictation history {path} (--history removes it)")
        return
    found = [removal.remove(path.with_name(path.name + suffix), "dictation history") for suffix in HISTORY_SUFFIXES]
    if not any(found):
        removal.say(f"no dictation history at {path}")


def uninstall(dry_run: bool = False, config: bool = False, history: bool = False, out: TextIO | None = None) -> int:
    """Everything in order, a line per thing; the exit status (1 when something could not be removed)."""
    removal = Removal(dry_run, out or sys.stdout)
    remove_units(removal)
    remove_ime(removal)
    remove_cache(removal)
    remove_config(removal, config)
    remove_history(removal, history)
    removal.remove(state_dir() / "portal-restore-token", "the desktop's typing permission")
    if removal.dry_run:
        removal.say("nothing was removed (--dry-run)")
    return 1 if removal.failed else 0
