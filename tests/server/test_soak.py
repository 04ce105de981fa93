"""A short soak (``stenod bench soak``): audio through /v1/listen and the microphone, subscribers steady, slow and
reconnecting, faults injected; every subscriber that stays gets every final the daemon published exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.daemon import free_port
from support.processes import reap_group

SOAK = Path(__file__).resolve().parents[2] / "bench" / "stenod_bench" / "soak.py"
TIMEOUT_S = 900


def test_a_short_soak_loses_nothing(eval_dir) -> None:
    # Its own process group: on a timeout the whole group (soak, its daemon, its sound server, its players) is
    # stopped, SIGTERM first so that the soak's own clean-up runs.
    soak = subprocess.Popen([sys.executable, str(SOAK), "--listen-hours", "0.04", "--mic-minutes", "1.2",
                             "--subscribers", "30", "--fault-period", "12", "--port", str(free_port()),
                             "--eval-dir", str(eval_dir), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = soak.communicate(timeout=TIMEOUT_S)
    finally:
        reap_group(soak, grace=60)
    assert soak.returncode == 0, stdout[-2000:] + stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    # finals_lost compares each subscriber with the daemon's own count of the finals it published
    assert result["finals_lost"] == 0 and result["finals_repeated"] == 0
    assert result["mic_finals"] >= 5 and result["listen_finals"] >= 10
    assert result["reference_finals"] == result["mic_finals"]
    assert not result["subscribers_dropped"]
    assert result["reconnects"] >= 1 and result["faults"]["device_losses"] >= 1
    assert result["fds"][1] <= result["fds"][0] + 3 and result["tasks"][1] <= result["tasks"][0] + 3
