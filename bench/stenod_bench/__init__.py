"""stenod's benchmarks, one module a suite: ``stenod bench NAME`` or ``python -m stenod_bench NAME``.

Each suite runs stenod beside a peer in the same run and prints ratios, since these machines are shared and
noisy; ``evaluation`` (the dev set and word error rate) and ``pulse`` (a private PulseAudio server as a
microphone) are what they share with the tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

SUITES = {  # NAME: the module whose main(argv) runs it, and what it measures
    "engine": ("stenod_bench.engine", "this engine against faster-whisper, side by side"),
    "stream": ("stenod_bench.stream", "latency and WER of the live pipeline on the dictation sessions"),
    "punctuation": ("stenod_bench.punctuation", "spoken punctuation through the model: prompt and aliases"),
    "mic": ("stenod_bench.miclatency", "a virtual microphone's latency, hop by hop, by the wall clock"),
    "daemon": ("stenod_bench.daemon", "the daemon through PulseAudio: idle cost, latency, fan-out"),
    "recordings": ("stenod_bench.recordings", "a long messy recording: stenod beside faster-whisper's two modes"),
    "speakers": ("stenod_bench.speakers", "--speakers on conversations of dev-set speakers: DER and its cost"),
    "ptt": ("stenod_bench.ptt", "push-to-talk's release → final beside the VAD's, by the wall clock"),
    "clients": ("stenod_bench.clients", "from a final to the text in a window, on the page, in tail"),
    "protocols": ("stenod_bench.protocols", "OpenAI endpoints and the LLM hook, each beside its peer"),
    "soak": ("stenod_bench.soak", "hours of audio, 100 subscribers and injected faults: nothing lost"),
}


def run(suite: str, argv: Sequence[str]) -> int:
    """Run one suite with its own options; its exit status."""
    return int(importlib.import_module(SUITES[suite][0]).main(list(argv)) or 0)
