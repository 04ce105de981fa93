"""``stenod install --user``: put the systemd user units in place and enable them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from stenod.errors import StenodError

UNIT = "stenod.service"
CLIENT_UNITS = {"type": "stenod-type.service", "captions": "stenod-captions.service"}


def unit_text(executable: str, unit: str = UNIT) -> str:
    """The unit file with ``ExecStart`` pointing at this installation's ``stenod``."""
    text = resources.files("stenod").joinpath("data", unit).read_text()
    return text.replace("@STENOD@", executable)


def install_user(enable: bool = True, clients: tuple[str, ...] = ()) -> list[Path]:
    """Write the daemon's unit (and the named clients' units); enable and start them unless told not to."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    executable = shutil.which("stenod") or str(Path(sys.executable).with_name("stenod"))
    units = [UNIT, *(CLIENT_UNITS[c] for c in clients)]
    targets = []
    for unit in units:
        target = config_home / "systemd" / "user" / unit
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(unit_text(executable, unit))
        targets.append(target)
    if enable:
        for args in (["daemon-reload"], ["enable", "--now", *units]):
            result = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True)
            if result.returncode != 0:
                raise StenodError(f"systemctl --user {' '.join(args)} failed: "
                                  f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return targets
