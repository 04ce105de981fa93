"""systemd, both ways: the readiness protocol (datagrams to ``$NOTIFY_SOCKET``: READY=1, STATUS=…, WATCHDOG=1,
STOPPING=1), and ``stenod install --user`` (the user units put in place and enabled)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path

from stenod.errors import StenodError


def notify(message: str) -> bool:
    """Send one notification; False when not run by systemd (no ``$NOTIFY_SOCKET``) or it cannot be sent."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Half the watchdog period systemd asked for (``$WATCHDOG_USEC``), if it is meant for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6

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
