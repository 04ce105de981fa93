"""The recogniser a configuration asks for: its models, the final decode, and the prompt."""

from __future__ import annotations

import logging

from stenod.config import Config, StreamConfig
from stenod.core.cleanup import SPOKEN_PUNCTUATION_PROMPT
from stenod.core.vocabulary import Vocabulary
from stenod.engine.recognizer import WhisperRecognizer
from stenod.engine.whisper import WhisperEngine

log = logging.getLogger(__name__)


def recognizer_prompt(stream: StreamConfig) -> str:
    """The vocabulary, then (with spoken punctuation) the command words, which keeps the model writing them."""
    parts = [Vocabulary(stream.vocabulary).prompt()]
    if stream.spoken_punctuation:
        parts.append(SPOKEN_PUNCTUATION_PROMPT)
    return " ".join(p for p in parts if p)


def load_recognizer(config: Config) -> WhisperRecognizer:
    """Load the model (and the finals' model, when another one is configured) and wrap them."""
    model = config.model
    threads = model.threads or None
    engine = WhisperEngine.load(model.name, model.precision, threads)
    final = None
    if model.final_model and model.final_model != model.name:
        final = WhisperEngine.load(model.final_model, model.precision, threads)
    return WhisperRecognizer(engine, final, model.final_beam, recognizer_prompt(config.stream))
