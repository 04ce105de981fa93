"""Accuracy on the whole English dev set: token identity with faster-whisper (fp32) and WER (int8)."""

from __future__ import annotations

import faster_whisper  # the reference (the bench extra, in dev)
import numpy as np
import pytest

from stenod.audio.files import load_audio
from stenod.engine.decoding import DecodingOptions
from stenod.engine.transcribe import TranscribeOptions, transcribe
from stenod.engine.whisper import WhisperEngine
from stenod_bench.evaluation import EvalItem, load_manifest, word_error_rate

pytestmark = pytest.mark.slow

WER_MARGIN = 0.003  # 0.3 points


@pytest.fixture(scope="module")
def english(eval_dir) -> list[tuple[EvalItem, np.ndarray]]:
    items = load_manifest(eval_dir, "en", "utterance")
    assert len(items) >= 50, f"expected the full English dev set in {eval_dir}"
    return [(item, load_audio(item.audio)) for item in items]


def _faster_whisper(tiny_model_dir, compute_type: str) -> faster_whisper.WhisperModel:
    return faster_whisper.WhisperModel(str(tiny_model_dir), device="cpu", compute_type=compute_type, cpu_threads=2)


def test_fp32_tokens_equal_faster_whisper_on_every_english_utterance(english, tiny_model_dir) -> None:
    engine = WhisperEngine.load("tiny.en", "fp32")
    reference = _faster_whisper(tiny_model_dir, "float32")
    options = TranscribeOptions(language="en", condition_on_previous_text=False,
                                decoding=DecodingOptions(temperature=(0.0,), without_timestamps=True))
    differing = []
    for item, audio in english:
        ours = [t for seg in transcribe(engine, audio, options)[0] for t in seg.tokens]
        segments, _ = reference.transcribe(audio, language="en", beam_size=1, temperature=0.0,
                                           without_timestamps=True, condition_on_previous_text=False)
        theirs = [t for seg in segments for t in seg.tokens]
        if ours != theirs:
            differing.append(item.id)
    assert not differing, f"token sequences differ from faster-whisper on {differing}"


def _wer(transcribe_one, english) -> float:
    return word_error_rate([item.text for item, _ in english], [transcribe_one(audio) for _, audio in english])


def test_int8_default_wer_within_margin_of_faster_whisper_int8(english, tiny_model_dir) -> None:
    engine = WhisperEngine.load("tiny.en", "int8")
    ours = _wer(lambda a: "".join(s.text for s in transcribe(engine, a, TranscribeOptions(language="en"))[0]),
                english)
    reference = _faster_whisper(tiny_model_dir, "int8")
    theirs = _wer(lambda a: "".join(s.text for s in reference.transcribe(a, language="en", beam_size=1)[0]),
                  english)
    print(f"WER tiny.en: stenod int8 {ours:.4f}, faster-whisper int8 {theirs:.4f}")
    assert ours <= theirs + WER_MARGIN
