"""The recogniser a configuration asks for: its models, the final decode, and the prompt.

``model.final_beam = 0`` (the default) means: the widest beam whose final decode fits the latency budget
on this machine. The machine is measured once per model, precision and thread count (a 30 s window through
the encoder and decoder steps at a realistic prompt length) and the result is cached in
``~/.cache/stenod/tuning.json``; ``stenod config show`` says what was chosen and why.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stenod import __version__
from stenod.config import Config, StreamConfig
from stenod.core.cleanup import SPOKEN_PUNCTUATION_PROMPT
from stenod.core.vocabulary import Vocabulary
from stenod.engine.mel import N_FRAMES
from stenod.engine.recognizer import WhisperRecognizer
from stenod.engine.runtime import DecoderState
from stenod.engine.whisper import WhisperEngine
from stenod.paths import cache_root

log = logging.getLogger(__name__)

BEAMS = (5, 3, 1)  # the widths tried, widest (most accurate, as measured) first
FINAL_BUDGET_S = 0.30  # the final decode starts at the first 90 ms of silence; the hangover ends at 450 ms
TYPICAL_TOKENS = 30  # tokens of a long dictated sentence
PROMPT_TOKENS = 120  # the earlier finals given as the prompt


@dataclass(frozen=True)
class Timing:
    """What one final decode costs on this machine, measured once."""

    encoder_s: float
    prompt_s: float
    step_s: float

    def final_s(self, beam: int, tokens: int = TYPICAL_TOKENS) -> float:
        """A final of ``tokens`` tokens at ``beam``: encoder, prompt, steps, and the alignment pass."""
        return self.encoder_s + 2 * self.prompt_s + tokens * beam * self.step_s


@dataclass(frozen=True)
class BeamChoice:
    beam: int
    reason: str


def recognizer_prompt(stream: StreamConfig) -> str:
    """The vocabulary, then (with spoken punctuation) the command words, which keeps the model writing them."""
    parts = [Vocabulary(stream.vocabulary).prompt()]
    if stream.spoken_punctuation:
        parts.append(SPOKEN_PUNCTUATION_PROMPT)
    return " ".join(p for p in parts if p)


def measure(engine: WhisperEngine) -> Timing:
    """Time a 30 s window through the encoder, a prompt step and single-token steps (best of three)."""
    mel = np.zeros((engine.dims.n_mels, N_FRAMES), np.float32)
    tok = engine.tokenizer
    prompt = [tok.sot_prev, *[tok.encode(" the")[0]] * PROMPT_TOKENS, *tok.sot_sequence("en")]
    best = Timing(float("inf"), float("inf"), float("inf"))
    for _ in range(3):
        t0 = time.perf_counter()
        encoded = engine.encode(mel)
        t1 = time.perf_counter()
        state = DecoderState(cross=encoded.cross, frames=encoded.frames)
        engine.runtime.step(state, prompt)
        t2 = time.perf_counter()
        for _ in range(10):
            engine.runtime.step(state, [tok.encode(" the")[0]])
        t3 = time.perf_counter()
        best = Timing(min(best.encoder_s, t1 - t0), min(best.prompt_s, t2 - t1), min(best.step_s, (t3 - t2) / 10))
    return best


def _machine_key(engine: WhisperEngine) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
    return f"{cpu}|{os.cpu_count()} cpus|{engine.name}|{engine.precision}|{engine.threads} threads|stenod {__version__}"


def cached_timing(engine: WhisperEngine) -> Timing:
    """This machine's timing for ``engine``, measured on first use and kept in the cache."""
    path = cache_root() / "tuning.json"
    key = _machine_key(engine)
    try:
        known = json.loads(path.read_text())
        return Timing(**known[key])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    log.info("measuring this machine for %s (once)", engine.name)
    timing = measure(engine)
    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    known[key] = asdict(timing)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot cache the machine's timing in %s: %s", path, exc)
    return timing


def choose_beam(configured: int, timing: Timing | None) -> BeamChoice:
    """``configured`` when set, else the widest beam whose final fits :data:`FINAL_BUDGET_S` here."""
    if configured:
        return BeamChoice(configured, "set in the configuration")
    assert timing is not None
    for beam in BEAMS:
        took = timing.final_s(beam)
        if took <= FINAL_BUDGET_S or beam == 1:
            verdict = "fits" if took <= FINAL_BUDGET_S else "is over"
            return BeamChoice(beam, f"auto: a {TYPICAL_TOKENS}-token final at beam {beam} takes about "
                                    f"{took:.2f} s here, which {verdict} the {FINAL_BUDGET_S:.2f} s budget "
                                    f"(encoder {timing.encoder_s * 1000:.0f} ms, step {timing.step_s * 1000:.1f} ms)")
    raise AssertionError("BEAMS ends with 1")


def load_recognizer(config: Config) -> WhisperRecognizer:
    """Load the model (and the finals' model, when another one is configured) and wrap them."""
    model = config.model
    threads = model.threads or None
    engine = WhisperEngine.load(model.name, model.precision, threads)
    final = None
    if model.final_model and model.final_model != model.name:
        final = WhisperEngine.load(model.final_model, model.precision, threads)
    finals_engine = final or engine
    choice = choose_beam(model.final_beam, None if model.final_beam else cached_timing(finals_engine))
    log.info("final decode: beam %d (%s)", choice.beam, choice.reason)
    recognizer = WhisperRecognizer(engine, final, choice.beam, recognizer_prompt(config.stream))
    recognizer.beam_reason = choice.reason
    return recognizer


def explain(config: Config) -> list[str]:
    """What ``auto`` settings resolve to on this machine, and why (measuring once if not cached)."""
    model = config.model
    if model.final_beam:
        return []
    engine = WhisperEngine.load(model.final_model or model.name, model.precision, model.threads or None)
    choice = choose_beam(0, cached_timing(engine))
    return [f"model.final_beam = 0 → {choice.beam} on this machine ({choice.reason})"]
