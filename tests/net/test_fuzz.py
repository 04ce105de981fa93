"""A bounded atheris session over the client message decoders (``tests/net/fuzz/fuzz_messages.py``)."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent / "fuzz" / "fuzz_messages.py"
SEEDS = [b"\x00" + b'{"type": "ping"}', b"\x01" + b'{"type": "end"}', b"\x02" + b"\x00\x01\x02\x03",
         b"\x03since=5&stream=abc", b"\x04rate=44100", b"\x00" + b"[" * 40]


def test_the_decoders_survive_a_fuzzing_session(tmp_path) -> None:
    if platform.machine() != "x86_64":
        pytest.skip("atheris ships wheels for x86_64 only")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(SEEDS):
        (corpus / f"seed{i}").write_bytes(seed)
    # libFuzzer reads its RSS as getrusage's peak, which Linux carries across execve from this process:
    # the limit is 1 GiB above what the harness starts with.
    limit_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 + 1024
    run = subprocess.run([sys.executable, str(HARNESS), str(corpus), "-runs=60000", "-max_len=8192",
                          f"-rss_limit_mb={limit_mb}", "-timeout=5", "-seed=1"], capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done 60000 runs" in run.stderr
