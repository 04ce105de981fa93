"""Ending what a benchmark started: politely first, for certain after a grace period."""

from __future__ import annotations

import contextlib
import signal
import subprocess


def stop(proc: subprocess.Popen, grace: float = 30.0, sig: int = signal.SIGTERM) -> int:
    """Send ``sig`` (SIGTERM: a daemon finishes its utterance and closes its connections), wait up to ``grace``
    seconds, then SIGKILL; its exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    return proc.returncode
