"""Every ``stenod`` command line shown in the README and docs/ parses with the real command-line parser.

Command lines are taken from the shell blocks (```sh) and from inline code that starts with ``stenod``; a
line is cut at a comment, a pipe, a redirection or ``&&``. A block's line must parse as it is; inline code
often names a command or a flag without its arguments (`stenod stream --vocabulary`), so there only the
subcommand, the flags and their choices must exist. A documented flag that the parser does not know fails
here, so the docs cannot drift from the code.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from stenod.cli import parse

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(?:sh|bash|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`((?:\.venv/bin/|~/\.local/bin/|%h/\.local/bin/)?stenod [^`]+)`")
_STOP = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "&"}


def _argv(line: str) -> list[str] | None:
    """The ``stenod`` arguments of a shell line, or None when it runs no stenod command."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    start = next((i for i, w in enumerate(words) if w == "stenod" or w.endswith("/stenod")), None)
    if start is None or (start > 0 and words[start - 1] in ("install", "apt-get", "pip")):
        return None
    argv: list[str] = []
    for word in words[start + 1:]:
        if word in _STOP or word.startswith((">", "2>", "|")):
            break
        argv.append(word)
    return argv


def documented() -> list[tuple[str, list[str], bool]]:
    """(where, the arguments, whether it is a whole command line) for every stenod command shown."""
    found: list[tuple[str, list[str], bool]] = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        lines = [(line, True) for block in _BLOCK.findall(text) for line in block.splitlines()]
        lines += [(m.group(1), False) for m in _INLINE.finditer(text)]
        for line, whole in lines:
            argv = _argv(line.replace("…", ""))
            if argv:
                found.append((f"{page.relative_to(ROOT)}: {line.strip()}", argv, whole))
    return found


COMMANDS = documented()


def test_the_docs_show_many_command_lines() -> None:
    assert sum(whole for _, _, whole in COMMANDS) >= 40


INCOMPLETE = ("the following arguments are required", "expected one argument", "invalid choice: 'SUITE'")


@pytest.mark.parametrize(("where", "argv", "whole"), COMMANDS, ids=[w for w, _, _ in COMMANDS])
def test_a_documented_command_line_parses(where: str, argv: list[str], whole: bool) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parse(argv)
        except SystemExit as exc:
            said = err.getvalue().strip()
            assert exc.code == 0 or (not whole and any(s in said for s in INCOMPLETE)), f"{where}\n{said}"


def _parsers(parser: argparse.ArgumentParser, name: str = "stenod") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                if name == "stenod" and sub_name == "bench":
                    continue  # each benchmark parses and documents its own options
                found += _parsers(sub, f"{name} {sub_name}")
    return found


def test_every_option_says_what_it_does() -> None:
    from stenod.cli import build_parser

    silent = [f"{name} {'/'.join(action.option_strings) or action.dest}"
              for name, parser in _parsers(build_parser()) for action in parser._actions
              if action.help is None and not isinstance(action, argparse._SubParsersAction)]
    assert silent == []
