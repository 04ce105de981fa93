"""Processes the tests start, and the check that none of them outlives the test run.

A test that fails half-way must still stop what it started, or the next tests share the machine with a
stray daemon, sound server or browser (and a CI job waits on its open pipes). Fixtures and helpers stop
their processes with :func:`reap`; at the end of the session ``tests/conftest.py`` calls
:func:`leftovers` and fails the run if anything is still alive.

Two kinds of process escape the parent chain that :func:`descendants` follows: one that daemonizes (forks
and lets its parent exit) and one whose parent died first. Both are reparented to the nearest "child
subreaper": :func:`become_subreaper` makes the test process that subreaper, so they stay visible. A
process the tests only know by a pid file (PulseAudio's) is recorded with :func:`watch_pid_file`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from stenod_bench.processes import stop

PR_SET_CHILD_SUBREAPER = 36
_watched: list[tuple[Path, str]] = []  # (pid file, what the process's command line must contain)


@dataclass(frozen=True)
class Leftover:
    pid: int
    command: str


def reap(proc: subprocess.Popen, grace: float = 10.0) -> int:
    """Stop ``proc``: SIGTERM, up to ``grace`` seconds to exit, then SIGKILL; its exit status."""
    return stop(proc, grace)


def reap_group(proc: subprocess.Popen, grace: float = 10.0) -> int:
    """Stop ``proc`` and every process in its group (it was started with ``start_new_session=True``):
    SIGTERM to the group, up to ``grace`` seconds for all of it to exit, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace
        while (proc.poll() is None or _group_alive(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is not None and not _group_alive(proc.pid):
            break
    return proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return any(info[1] == pgid and info[2] != "Z" for info in _table().values())


def watch_pid_file(path: Path, command: str) -> None:
    """Check at the end of the session that the process named by ``path`` (if it is ``command``) is gone."""
    _watched.append((path, command))


def become_subreaper() -> None:
    """Have orphaned descendants reparented to this process instead of init (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, state) for every process in /proc."""
    out: dict[int, tuple[int, int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        out[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return out


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def descendants(root: int) -> list[int]:
    """Live (not zombie) processes whose parent chain leads to ``root``."""
    table = _table()
    found = []
    for pid, (_, _, state) in table.items():
        if state == "Z" or pid == root:
            continue
        parent = table[pid][0]
        seen = set()
        while parent not in (0, 1, root) and parent in table and parent not in seen:
            seen.add(parent)
            parent = table[parent][0]
        if parent == root:
            found.append(pid)
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def leftovers(root: int | None = None) -> list[Leftover]:
    """Processes started by this test run that are still alive: descendants, and the watched pid files'."""
    root = os.getpid() if root is None else root
    pids = set(descendants(root))
    for path, command in _watched:
        with contextlib.suppress(OSError, ValueError, IndexError):  # no file, or an empty one
            pid = int(path.read_text().split()[0])
            if _alive(pid) and command in command_line(pid):
                pids.add(pid)
    return [Leftover(pid, command_line(pid)) for pid in sorted(pids)]


def kill_all(found: list[Leftover], grace: float = 5.0) -> None:
    """SIGKILL each leftover and wait (up to ``grace`` seconds) until they are gone."""
    for item in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(item.pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while True:
        for item in found:  # a killed child of this process stays a zombie until it is waited for
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(item.pid, os.WNOHANG)
        if not any(_alive(item.pid) for item in found) or time.monotonic() > deadline:
            return
        time.sleep(0.05)
