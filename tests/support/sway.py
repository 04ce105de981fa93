"""A real Wayland compositor for the tests: sway 1.7, headless (no GPU, no input devices, software rendering).

sway refuses to run as root, so as root it runs as ``nobody`` with a runtime folder of its own; root's clients
(GTK windows, wtype, grim) can still reach its socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from support.processes import reap_group
from support.waits import until

CONFIG = "output HEADLESS-1 resolution 1280x720 background #203040 solid_color\ndefault_border none\n"
NOBODY = 65534


@contextlib.contextmanager
def headless_sway(tmp: Path) -> Iterator[dict[str, str]]:
    """Start sway; yield the environment its clients need (WAYLAND_DISPLAY, XDG_RUNTIME_DIR, SWAYSOCK…)."""
    for tool in ("sway", "swaymsg", "wtype", "grim"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (make deps installs sway, wtype and grim)", pytrace=False)
    # Directly under /tmp: as nobody, sway could not reach a folder inside pytest's (mode 0700, root's).
    runtime = Path(tempfile.mkdtemp(prefix="stenod-sway-"))
    config = runtime / "sway.config"
    config.write_text(CONFIG)
    config.chmod(0o644)
    prefix: list[str] = []
    if os.geteuid() == 0:
        os.chown(runtime, NOBODY, NOBODY)
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "GTK_IM_MODULE", "SWAYSOCK")}
    env.update(XDG_RUNTIME_DIR=str(runtime), WLR_BACKENDS="headless", WLR_RENDERER="pixman",
               WLR_LIBINPUT_NO_DEVICES="1", HOME=str(runtime), XDG_CURRENT_DESKTOP="sway", GDK_BACKEND="wayland",
               NO_AT_BRIDGE="1")
    log = (tmp / "sway.log").open("w")
    proc = subprocess.Popen([*prefix, "sway", "-c", str(config)], env=env, stdout=log, stderr=log,
                            start_new_session=True)
    try:
        def sockets() -> list[Path]:
            if proc.poll() is not None:
                pytest.fail(f"sway exited: {(tmp / 'sway.log').read_text()[-1500:]}")
            return sorted(p for p in runtime.glob("wayland-*") if not p.name.endswith(".lock"))

        until(lambda: sockets() and list(runtime.glob("sway-ipc.*.sock")), "sway is up", timeout=30)
        env["WAYLAND_DISPLAY"] = sockets()[0].name
        env["SWAYSOCK"] = str(next(runtime.glob("sway-ipc.*.sock")))
        yield env
    finally:
        reap_group(proc)
        log.close()
        shutil.rmtree(runtime, ignore_errors=True)


def focused_name(env: dict[str, str]) -> str:
    """The title of the window sway gives the keyboard to ('' when none)."""
    tree = json.loads(subprocess.run(["swaymsg", "-t", "get_tree"], env=env, capture_output=True, text=True,
                                     timeout=10).stdout or "{}")
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.get("focused") and node.get("type") == "con":
            return str(node.get("name") or "")
        stack += node.get("nodes", []) + node.get("floating_nodes", [])
    return ""


def screenshot(env: dict[str, str], path: Path) -> np.ndarray:
    """The whole output through grim, saved as PNG at ``path``; returned as an RGB array (via a PPM copy)."""
    subprocess.run(["grim", str(path)], env=env, check=True, timeout=20)
    ppm = subprocess.run(["grim", "-t", "ppm", "-"], env=env, check=True, timeout=20, capture_output=True).stdout
    header, rest = ppm.split(b"\n", 1)
    assert header == b"P6", header
    size, rest = rest.split(b"\n", 1)
    width, height = (int(v) for v in size.split())
    _, pixels = rest.split(b"\n", 1)  # max value line
    return np.frombuffer(pixels, dtype=np.uint8)[: width * height * 3].reshape(height, width, 3)
