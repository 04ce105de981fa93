"""What the daemon would make of a stretch of audio: its VAD and its model, as configured, over the audio.

The audio goes through the live pipeline the daemon runs (:func:`stenod.live.files.run_fast`), finals only;
the utterances it finds and the finals' text become a :class:`Heard`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from stenod.audio.classifiers import make_classifier
from stenod.check.verdict import Heard
from stenod.config import Config, cleanup_config
from stenod.core import SAMPLE_RATE
from stenod.core.commands import CommandsConfig
from stenod.core.events import Event, Final, SpeechEnd
from stenod.core.level import Level
from stenod.core.pipeline import PipelineConfig
from stenod.live.files import run_fast


def understand(audio: np.ndarray, config: Config) -> Heard:
    """The VAD (``[stream] vad``) and the model (``[model]``; beam 1 unless one is configured) over ``audio``."""
    from stenod.tuning import load_recognizer

    model = replace(config.model, final_beam=config.model.final_beam or 1)
    recognizer = load_recognizer(replace(config, model=model))
    pipeline = PipelineConfig(language=config.model.language or None, partials=False,
                              commands=CommandsConfig(enabled=False), cleanup=cleanup_config(config.stream))
    stats = run_fast(audio, recognizer, make_classifier(config.stream.vad), pipeline)
    return summarise(stats.events, audio)


def summarise(events: Sequence[Event], audio: np.ndarray) -> Heard:
    """A :class:`Heard` from the pipeline's events over ``audio``."""
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    kept = [e for e in ends if not e.discarded]
    text = " ".join(e.text.strip() for e in events if isinstance(e, Final) and e.text.strip())
    return Heard(len(audio) / SAMPLE_RATE, Level.of(audio), len(ends),
                 sum(e.end_ms - e.start_ms for e in kept) / 1000, tuple(e.discarded for e in ends if e.discarded), text)
