"""``stenod install --user --client ime``: the IBus component that lets IBus list and start the engine.

IBus reads components from ``/usr/share/ibus/component`` and the folders in ``$IBUS_COMPONENT_PATH``. The
component goes to ``$XDG_DATA_HOME/ibus/component/stenod.xml``; an ``environment.d`` file puts that folder
in ``IBUS_COMPONENT_PATH`` for the sessions systemd starts (GNOME, KDE), from the next login. The user's
registry cache is rewritten and a running IBus restarted, so the engine is listed at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from stenod import __version__

BUS_NAME = "org.freedesktop.IBus.Stenod"
ENGINE = "stenod"
SYSTEM_COMPONENTS = "/usr/share/ibus/component"


def component_xml(command: str) -> str:
    """The component file: the engine's name, how IBus starts it, and how input-source lists show it."""
    root = ET.Element("component")
    for tag, text in (("name", BUS_NAME), ("description", "stenod dictation"), ("exec", command),
                      ("version", __version__), ("author", "stenod"), ("license", "MIT"), ("textdomain", "stenod")):
        ET.SubElement(root, tag).text = text
    engine = ET.SubElement(ET.SubElement(root, "engines"), "engine")
    for tag, text in (("name", ENGINE), ("longname", "Dictation (stenod)"),
                      ("description", "What you say, as you say it"), ("language", "other"), ("license", "MIT"),
                      ("author", "stenod"), ("icon", "audio-input-microphone"), ("layout", "default"), ("rank", "0")):
        ET.SubElement(engine, tag).text = text
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def component_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "ibus" / "component"


def installed_files() -> tuple[Path, Path]:
    """Where :func:`install` writes the component and the ``environment.d`` file (``stenod uninstall`` removes them)."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return component_dir() / "stenod.xml", config_home / "environment.d" / "60-stenod-ibus.conf"


def forget() -> str:
    """After the component is removed: IBus's registry rewritten, so input-source lists drop the engine."""
    if not shutil.which("ibus"):
        return "IBus is not installed: no registry to rewrite"
    try:
        cache = subprocess.run(["ibus", "write-cache"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"IBus registry not rewritten ({exc}): run `ibus write-cache`, then `ibus restart`"
    if cache.returncode != 0:
        return "IBus registry not rewritten: run `ibus write-cache`, then `ibus restart`"
    return "IBus registry rewritten (`ibus restart` drops the engine from a running IBus)"


def install(executable: str, refresh: bool = True) -> list[str]:
    """Write the component and the environment file; refresh IBus. Lines to print (what was done, what next)."""
    target, environment = installed_files()
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(component_xml(f"{executable} ime --ibus"))
    environment.parent.mkdir(parents=True, exist_ok=True)
    path = f"{folder}:{SYSTEM_COMPONENTS}"
    environment.write_text(f"IBUS_COMPONENT_PATH={path}\n")
    lines = [f"installed {target}", f"installed {environment} (IBUS_COMPONENT_PATH, from your next login)"]
    if refresh and shutil.which("ibus"):
        env = {**os.environ, "IBUS_COMPONENT_PATH": path}
        cache = subprocess.run(["ibus", "write-cache"], env=env, capture_output=True, text=True, timeout=60)
        restart = subprocess.run(["ibus", "restart"], env=env, capture_output=True, text=True, timeout=60)
        lines.append("IBus registry rewritten" + ("" if cache.returncode == 0 else " (failed: run `ibus write-cache`)")
                     + ("; IBus restarted" if restart.returncode == 0 else "; restart IBus: `ibus restart`"))
    elif refresh:
        lines.append("IBus is not installed: sudo apt install ibus ibus-gtk3 ibus-gtk4 gir1.2-ibus-1.0 python3-gi")
    lines += ["next: GNOME: Settings → Keyboard → Input Sources → + → Other → Dictation (stenod); "
              "elsewhere: ibus engine stenod (or ibus-setup → Input Method)",
              "sessions not started by systemd: export IBUS_COMPONENT_PATH=" + path + " in ~/.profile"]
    return lines
