"""``stenod install --user``: put the systemd user unit in place and enable it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from stenod.errors import StenodError

UNIT = "stenod.service"


def unit_text(executable: str) -> str:
    """The unit file with ``ExecStart`` pointing at this installation's ``stenod``."""
    text = resources.files("stenod").joinpath("data", UNIT).read_text()
    return text.replace("@STENOD@", executable)


def install_user(enable: bool = True) -> Path:
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    target = config_home / "systemd" / "user" / UNIT
    target.parent.mkdir(parents=True, exist_ok=True)
    executable = shutil.which("stenod") or str(Path(sys.executable).with_name("stenod"))
    target.write_text(unit_text(executable))
    if enable:
        for args in (["daemon-reload"], ["enable", "--now", UNIT]):
            result = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True)
            if result.returncode != 0:
                raise StenodError(f"systemctl --user {' '.join(args)} failed: "
                                  f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return target
