"""The recogniser: finals on a second model (another vocabulary), beam finals, the fixed prompt."""

from __future__ import annotations

import numpy as np
import pytest

from stenod.core.requests import DecodeRequest
from stenod.engine.recognizer import WhisperRecognizer
from stenod.engine.whisper import WhisperEngine

PHRASE = "ask not what your country can do for you"


@pytest.fixture(scope="module")
def tiny() -> WhisperEngine:
    return WhisperEngine.load("tiny.en", "int8")


@pytest.fixture(scope="module")
def base() -> WhisperEngine:
    return WhisperEngine.load("base", "int8")


def _request(audio: np.ndarray, final: bool, prefix: tuple[int, ...] = (), prompt: tuple[int, ...] = ()
             ) -> DecodeRequest:
    return DecodeRequest(id=1, utterance_id=1, final=final, audio=audio, offset=0, prefix=prefix, prompt=prompt,
                         language="en")


def _text(words) -> str:
    return "".join(w.text for w in words).lower().replace(",", "")


def test_finals_on_a_second_model_answer_in_the_first_models_tokens(tiny, base, jfk_audio) -> None:
    recognizer = WhisperRecognizer(tiny, base)
    assert recognizer.name == "tiny.en (finals: base)"
    prefix = tuple(tiny.tokenizer.encode(" And so my fellow"))
    prompt = tuple(tiny.tokenizer.encode(" The speech was given in January."))
    response = recognizer(_request(jfk_audio, True, prefix, prompt))
    assert not response.error
    assert PHRASE in _text(response.words)
    tokens = [t for w in response.words for t in w.tokens]
    assert tuple(tokens[:len(prefix)]) == prefix  # the committed words keep the core's tokens
    assert tiny.tokenizer.decode(tokens).strip() == "".join(w.text for w in response.words).strip()
    assert all(w.start is not None and w.end is not None for w in response.words)  # base's word times
    country = [w for w in response.words if "country" in w.text]
    assert country and 4.0 < (country[0].start or 0) < 6.5


def test_partials_stay_on_the_first_model(tiny, base, jfk_audio) -> None:
    recognizer = WhisperRecognizer(tiny, base)
    calls = []
    original = base.decode_window
    base.decode_window = lambda *a, **k: calls.append(1) or original(*a, **k)  # type: ignore[method-assign]
    try:
        response = recognizer(_request(jfk_audio[: 16000 * 4], False))
    finally:
        del base.decode_window
    assert not response.error and response.words and not calls


def test_beam_finals_transcribe(tiny, jfk_audio) -> None:
    recognizer = WhisperRecognizer(tiny, final_beam=5)
    assert recognizer.final_options.beam_size == 5
    response = recognizer(_request(jfk_audio, True))
    assert PHRASE in _text(response.words)


def test_the_fixed_prompt_goes_first(tiny) -> None:
    recognizer = WhisperRecognizer(tiny, prompt_text="  Lucas,   PipeWire ")
    assert recognizer.prompt_text == "Lucas, PipeWire"
    fixed = tiny.tokenizer.encode(" Lucas, PipeWire")
    assert recognizer._previous(tiny, [1, 2]) == [*fixed, 1, 2]
    recognizer.set_prompt("")
    assert recognizer._previous(tiny, [1, 2]) == [1, 2]
