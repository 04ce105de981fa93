"""``stenod hotkeys``: every snippet names this stenod by an absolute path and a command its parser takes; sway's
lines are accepted by a real (headless) sway."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from stenod.cli import parse
from stenod_clients.hotkeys import DESKTOPS, snippets, stenod_command
from support.sway import headless_sway


def _commands(text: str, stenod: str) -> list[list[str]]:
    """The stenod arguments of every command the snippet would run."""
    found = []
    for line in text.splitlines():
        line = line.lstrip("# ").strip()
        while stenod in line:
            rest = line.split(stenod, 1)[1]
            found.append(shlex.split(rest.split("'")[0].split(")")[0])[:1])
            line = rest
    return found


@pytest.mark.parametrize("desktop", DESKTOPS)
def test_each_desktop_gets_absolute_commands_that_parse(desktop: str) -> None:
    stenod = stenod_command()
    assert Path(shlex.split(stenod)[0]).is_absolute()
    text = snippets(desktop)
    commands = _commands(text, stenod)
    assert {"toggle", "paste-last"} <= {c[0] for c in commands}
    for argv in commands:
        parse(argv)  # exits 2 on a command the parser does not know


def test_the_command_prints_this_session_s_desktop() -> None:
    out = subprocess.run([sys.executable, "-m", "stenod", "hotkeys", "--desktop", "hyprland"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "bindr = , F9, exec," in out and " release" in out and "gsettings" not in out


def test_sway_takes_every_binding(tmp_path: Path) -> None:
    lines = [line for line in snippets("sway", "/bin/true").splitlines() if line and not line.startswith("#")]
    with headless_sway(tmp_path) as env:
        for line in lines:
            done = subprocess.run(["swaymsg", "--", line], env=env, capture_output=True, text=True, timeout=10)
            assert done.returncode == 0, f"{line}: {done.stdout}{done.stderr}"
        bad = subprocess.run(["swaymsg", "--", "bindsym --bogus F9 exec true"], env=env, capture_output=True,
                             text=True, timeout=10)
        assert bad.returncode != 0  # the check can fail


@pytest.mark.parametrize(("had", "kept"), [("['/org/custom/mine/']", ["/org/custom/mine/"]), ("@as []", [])])
def test_the_gnome_lines_add_to_the_user_s_own_shortcuts(tmp_path: Path, had: str, kept: list[str]) -> None:
    import ast
    import os

    fake = tmp_path / "gsettings"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = get ]; then echo "{had}"; '
                    f'else printf "%s\\n" "$4" >> "{tmp_path}/set"; fi\n')
    fake.chmod(0o755)
    subprocess.run(["bash", "-e", "-c", snippets("gnome", "/opt/stenod")], check=True, timeout=30,
                   env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    first = (tmp_path / "set").read_text().splitlines()[0]
    paths = ast.literal_eval(first)
    assert paths[:len(kept)] == kept and len(paths) == len(kept) + 2
    assert all(p.endswith(("/stenod-toggle/", "/stenod-paste-last/")) for p in paths[len(kept):])
