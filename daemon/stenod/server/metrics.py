"""``/metrics``: the daemon's counters and gauges in Prometheus' text format."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from stenod.server.state import DaemonState


def metrics_text(state: DaemonState) -> str:
    """Every metric with its help and type lines."""
    published, decoder, counters = state.bus.published, state.decoder, state.counters
    audio = state.mic.audio_seconds if state.mic else 0.0
    cleaner, transcriptions = state.llm_cleaner, state.transcriptions
    rows = [
        ("stenod_events_published_total", "counter", "Events published to subscribers.", sum(published.values())),
        ("stenod_utterances_total", "counter", "Utterances closed (speech_end).", published["speech_end"]),
        ("stenod_finals_total", "counter", "Finals published.", published["final"]),
        ("stenod_decodes_total", "counter", "Decodes run by the engine.", decoder.decodes),
        ("stenod_decode_timeouts_total", "counter", "Decodes that ran past their deadline.", decoder.timeouts),
        ("stenod_decode_seconds_total", "counter", "Seconds spent decoding.", round(decoder.decode_seconds, 3)),
        ("stenod_audio_seconds_total", "counter", "Seconds of microphone audio processed.", round(audio, 3)),
        ("stenod_real_time_factor", "gauge", "Decode seconds over audio seconds.",
         round(decoder.decode_seconds / audio, 4) if audio else 0),
        ("stenod_lag_seconds", "gauge", "Audio behind the newest sample.", round(state.lag, 3)),
        ("stenod_overflows_total", "counter", "Audio blocks lost to a full input queue.", counters.overflows()),
        ("stenod_subscribers", "gauge", "Connected subscribers.", len(state.bus.subscribers)),
        ("stenod_listen_streams", "gauge", "Open /v1/listen streams.", counters.listen_streams),
        ("stenod_realtime_sessions", "gauge", "Open /v1/realtime sessions.", counters.realtime_sessions),
        ("stenod_file_transcriptions_total", "counter", "POST /v1/audio/transcriptions requests.",
         transcriptions.requests if transcriptions else 0),
        ("stenod_llm_refined_total", "counter", "Finals whose text the LLM clean-up rewrote.",
         cleaner.rewritten if cleaner else 0),
        ("stenod_llm_fallbacks_total", "counter", "Finals that kept the rule-based text after an LLM failure.",
         cleaner.fallbacks_total if cleaner else 0),
        ("stenod_tasks", "gauge", "Asyncio tasks alive.", len(asyncio.all_tasks())),
        ("stenod_open_fds", "gauge", "File descriptors open.", open_fds()),
        ("stenod_resident_bytes", "gauge", "Resident memory.", resident_bytes()),
    ]
    out = []
    for name, kind, doc, value in rows:
        out += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return "\n".join(out) + "\n"


def open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def resident_bytes() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
