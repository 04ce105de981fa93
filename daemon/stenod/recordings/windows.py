"""A recording's speech windows decoded in order: the first pass carries the talk's context from one window
to the next; word times and the re-decoded holes come after and depend on nothing later.

Each window is decoded once without timestamp tokens, with temperature fallback when the text loops or is
unsure, and nothing when the model finds it silent. A window that follows the last within ``CONTEXT_GAP_S``
(the talk goes on) is prompted with its words, unless that one needed the fallback or looped; after a longer
silence nothing is carried over, so a repetition loop cannot spread beyond its window. Without timestamp
tokens Whisper now and then skips a sentence of a dense window, or stops after its first words: a stretch of
``HOLE_S`` that no word covers is decoded again, a span of speech at a time, and what that leaves, again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.core.chunking import Window
from stenod.engine.alignment import Word
from stenod.engine.decoding import DecodingOptions, is_silence
from stenod.engine.runtime import DecoderState
from stenod.engine.whisper import WhisperEngine, WindowResult, has_repetition
from stenod.recordings.chunks import Chunk

HOLE_S = 2.0  # a stretch of a window this long with no word in it is decoded again on its own
HOLE_PAD_S = 0.3  # audio either side of such a stretch given with it
MIN_PIECE_S = 0.5  # a hole is not cut closer than this to its ends
HOLE_ROUNDS = 3  # what a hole's own decode leaves uncovered is tried again, this many rounds at most
LONGEST_WORD_S = 1.5  # a word "longer" than this was stretched by the alignment over speech the decode skipped
CONTEXT_GAP_S = 3.0  # a window this close after the last one is prompted with its words (the talk goes on)
CONTEXT_TOKENS = 120


@dataclass
class Encoded:
    """A window and its encoder output (``n_frames`` mel frames of audio)."""

    chunk: Chunk
    encoded: DecoderState
    n_frames: int


@dataclass
class FirstPass:
    item: Encoded
    window: WindowResult
    prompt: list[int]  # what it was prompted with (the holes are given the same)


def holes(words: list[Word], duration: float, least: float = HOLE_S) -> list[tuple[float, float]]:
    """Stretches of a window (seconds) of at least ``least`` that no word covers: speech the decode skipped
    (it is all speech, by construction), or something the VAD took for it. When the decode skips speech the
    alignment stretches a neighbouring word over it, so a word covers at most its last ``LONGEST_WORD_S``."""
    out = []
    at = 0.0
    for word in [*words, None]:
        start = max(word.start, word.end - LONGEST_WORD_S) if word is not None else duration
        if start - at >= least:
            out.append((at, start))
        if word is not None:
            at = max(at, word.end)
    return out


def _at_span_starts(hole: tuple[float, float], window: Window) -> list[tuple[float, float]]:
    """A hole cut where the window's spans of speech begin: each piece is decoded on its own (a decode that
    starts with one voice and meets another after a pause is the one most likely to stop early)."""
    edges = [offset / SAMPLE_RATE for offset in window.offsets[1:]]
    start, end = hole
    cuts = [start, *(edge for edge in edges if start + MIN_PIECE_S < edge < end - MIN_PIECE_S), end]
    return list(itertools.pairwise(cuts))


class WindowDecoder:
    """Decodes one recording's windows, which must come in order to :meth:`first_pass`; :meth:`words` may
    run later, on another thread. ``language`` None: detected on the first window with speech, then kept."""

    def __init__(self, engine: WhisperEngine, language: str | None = None, prompt: str | None = None,
                 options: DecodingOptions | None = None, task: str = "transcribe") -> None:
        self.engine = engine
        self.language = language if engine.multilingual else "en"
        self.options = options or DecodingOptions()
        self.task = task
        self.prompt_ids = engine.tokenizer.encode(" " + prompt.strip()) if prompt else []
        self._previous: list[int] = []  # the last window's tokens, while the speech goes on
        self._last_end = -1e9

    def encode(self, chunk: Chunk) -> Encoded:
        return Encoded(chunk, *self.engine.encode_window(chunk.audio))

    def first_pass(self, item: Encoded) -> FirstPass | None:
        """The window's text; None when the model finds it silent."""
        window_at = item.chunk.window
        context = self._previous if window_at.start / SAMPLE_RATE - self._last_end <= CONTEXT_GAP_S else []
        room = max(0, CONTEXT_TOKENS - len(self.prompt_ids))  # the user's prompt always, the context as it fits
        prompt = [*self.prompt_ids, *(context[-room:] if room else [])]
        window = self.engine.decode_encoded(item.encoded, item.n_frames, language=self.language, previous=prompt,
                                            options=self.options, task=self.task)
        self._last_end = window_at.end / SAMPLE_RATE
        self._previous = []
        eot = self.engine.tokenizer.eot
        if is_silence(window.result, self.options) or not any(t < eot for t in window.result.tokens):
            return None
        result = window.result
        if result.temperature == 0.0 and not has_repetition(result.tokens):  # clean: the next may follow on
            self._previous = [t for t in result.tokens if t < eot]
        self.language = self.language or window.language
        return FirstPass(item, window, prompt)

    def words(self, first: FirstPass) -> list[Word]:
        """The window's words (window time), with the stretches the first pass skipped decoded again."""
        window, item = first.window, first.item
        sot = self.engine.tokenizer.sot_sequence(window.language, self.task)
        aligned = self.engine.align(item.encoded, sot, window.result.tokens, window.result.token_logprobs,
                                    item.n_frames, window.language)
        words = [w for w in aligned if w.word.strip()]
        if not words:
            return []
        if self.task == "translate":  # English words against other speech: their times cannot find holes
            return words
        audio = item.chunk.audio
        tried: set[tuple[float, float]] = set()
        for _ in range(HOLE_ROUNDS):  # a decode of a hole may itself stop early: what it left is tried again
            words.sort(key=lambda w: w.start)
            todo = [hole for hole in holes(words, len(audio) / SAMPLE_RATE) if hole not in tried]
            if not todo:
                break
            tried.update(todo)
            for start, end in (piece for hole in todo for piece in _at_span_starts(hole, item.chunk.window)):
                words = self._fill(words, audio, start, end, window.language, first.prompt)
        return sorted(words, key=lambda w: w.start)

    def _fill(self, words: list[Word], audio: np.ndarray, start: float, end: float, language: str,
              prompt: list[int]) -> list[Word]:
        """``words`` with those of the stretch ``start``–``end`` (window seconds) decoded on its own. A word
        the alignment stretched over the stretch was misplaced: when the stretch's decode finds words, they
        stand in for it."""
        a = max(0, int((start - HOLE_PAD_S) * SAMPLE_RATE))
        again = self._decode(audio[a:int((end + HOLE_PAD_S) * SAMPLE_RATE)], language, prompt)
        found = [replace(w, start=w.start + a / SAMPLE_RATE, end=w.end + a / SAMPLE_RATE)
                 for w in again if w.word.strip()]
        inside = [w for w in found if start < (w.start + w.end) / 2 < end]  # not the neighbours again
        if not inside:
            return words
        return [w for w in words if w.end - w.start <= LONGEST_WORD_S or not (start < w.end and w.start < end)
                ] + inside

    def _decode(self, audio: np.ndarray, language: str, prompt: list[int]) -> list[Word]:
        """A stretch of audio decoded on its own, with word times; nothing when the model finds it silent."""
        window = self.engine.decode_window(audio, full=False, language=language, previous=prompt,
                                           word_timestamps=True, options=self.options, task=self.task)
        return [] if is_silence(window.result, self.options) else window.words or []
