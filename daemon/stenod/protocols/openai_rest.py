"""OpenAI-compatible file transcription: ``POST /v1/audio/transcriptions`` (and ``translations``), ``GET /v1/models``.

The upload is decoded (WAV, FLAC, OGG, MP3) and transcribed as ``stenod transcribe`` does a recording:
its speech found by the VAD and packed into windows (silence, noise and music are never decoded), each
window decoded on the engine's thread in turn with live dictation. It is answered as ``json``, ``text``,
``verbose_json`` (a segment per sentence or pause, and/or words), ``srt`` or ``vtt`` (cues by subtitle
conventions). Text is Whisper's, without the clean-up, as OpenAI's own endpoint returns it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from stenod.audio.files import decode_audio
from stenod.audio.silero_sequence import SileroSequence
from stenod.core import SAMPLE_RATE
from stenod.core.chunking import Window
from stenod.engine.decoding import DecodingOptions
from stenod.engine.languages import language_name, supported
from stenod.engine.models import CATALOGUE
from stenod.engine.whisper import WhisperEngine
from stenod.errors import AudioError, ModelError
from stenod.live.decoder import DecodeService, EngineUnavailable
from stenod.net.http11 import HttpRequest, HttpResponse
from stenod.protocols.forms import FormError, Part, fields, parse_form
from stenod.recordings import formats
from stenod.recordings.chunks import ArraySource, Chunk, speech_chunks
from stenod.recordings.transcriber import RECORDING_CLEANUP, Passage, Transcript, passages
from stenod.recordings.windows import WindowDecoder

FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
GRANULARITIES = ("segment", "word")
PUNCTUATION = "\"'.,;:!?¿¡…“”‘’«»()[]-—"  # OpenAI's words carry none


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.param, self.code, self.kind = status, param, code, kind

    def response(self) -> HttpResponse:
        return error_response(self.status, str(self), self.param, self.code, self.kind)


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   kind: str = "invalid_request_error") -> HttpResponse:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return HttpResponse.json(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})


@dataclass(frozen=True)
class TranscriptionRequest:
    audio: bytes
    filename: str
    model: str
    language: str | None = None
    prompt: str | None = None
    response_format: str = "json"
    granularities: tuple[str, ...] = ("segment",)
    temperature: float = 0.0
    stream: bool = False  # server-sent transcript.text.delta events, one per segment, then transcript.text.done
    translate: bool = False  # into English (/v1/audio/translations)


def _one(form: dict[str, list[Part]], name: str) -> str | None:
    parts = form.get(name)
    if not parts:
        return None
    if len(parts) > 1:
        raise ApiError(400, f"{name!r} was given more than once", name)
    return parts[0].text.strip()


def read_request(content_type: str, body: bytes, loaded_model: str, translate: bool = False) -> TranscriptionRequest:
    """The transcription (or translation) request in a form body, or an :class:`ApiError` saying what is wrong."""
    try:
        form = fields(parse_form(content_type, body))
        if translate:  # OpenAI's translations take neither a language (it is detected) nor timestamps nor stream
            extra = next((name for name in ("language", "timestamp_granularities[]", "stream") if name in form), None)
            if extra:
                raise ApiError(400, f"translations take no {extra!r}", extra)
        files = form.get("file", [])
        if len(files) != 1:
            raise ApiError(400, "send the audio as one multipart field named 'file'", "file")
        model = _one(form, "model")
        if not model:
            raise ApiError(400, "'model' is required (any name; this daemon transcribes with "
                           f"{loaded_model})", "model")
        if model in CATALOGUE and model != loaded_model:
            raise ApiError(400, f"model {model!r} is not loaded: this daemon runs {loaded_model} "
                           "(set model.name in its config)", "model", "model_not_found")
        response_format = _one(form, "response_format") or "json"
        if response_format not in FORMATS:
            raise ApiError(400, f"response_format must be one of {', '.join(FORMATS)}", "response_format")
        granularities = tuple(dict.fromkeys(p.text.strip() for p in form.get("timestamp_granularities[]", [])))
        if any(g not in GRANULARITIES for g in granularities):
            raise ApiError(400, "timestamp_granularities[] may be 'segment' and/or 'word'",
                           "timestamp_granularities[]")
        if granularities and response_format != "verbose_json":
            raise ApiError(400, "timestamp_granularities[] needs response_format=verbose_json",
                           "timestamp_granularities[]")
        stream = (_one(form, "stream") or "false").lower() == "true"
        if stream and response_format not in ("json", "text"):
            raise ApiError(400, "stream=true goes with response_format json or text", "stream")
        temperature = _one(form, "temperature") or "0"
        try:
            temp = float(temperature)
        except ValueError:
            temp = math.nan
        if not 0.0 <= temp <= 1.0:
            raise ApiError(400, "temperature must be a number from 0 to 1", "temperature")
        language = _one(form, "language") or None
        return TranscriptionRequest(files[0].data, files[0].filename or "file", model,
                                    language, _one(form, "prompt") or None,
                                    response_format, granularities or ("segment",), temp, stream, translate)
    except FormError as exc:
        raise ApiError(400, str(exc)) from None


@dataclass(frozen=True)
class Plan:
    """How to decode a request: the language (None: detect), the prompt, the decoding options, the task."""

    language: str | None
    prompt: str | None
    decoding: DecodingOptions
    task: str


def plan_for(request: TranscriptionRequest, engine_languages: set[str] | None) -> Plan:
    if request.translate and engine_languages is None:
        raise ApiError(400, "this daemon's model knows English only and cannot translate: run a multilingual "
                       "model (model.name = \"base\" or \"small\")", "model", "translation_unsupported")
    language = supported(request.language, engine_languages) if request.language else None
    if request.language and language is None:
        raise ApiError(400, f"language {request.language[:40]!r} is not one this model knows", "language",
                       "unsupported_language")
    decoding = DecodingOptions() if request.temperature == 0.0 else DecodingOptions(temperature=(request.temperature,))
    return Plan(language if engine_languages is not None else "en", request.prompt, decoding,
                "translate" if request.translate else "transcribe")


def render(request: TranscriptionRequest, transcript: Transcript) -> HttpResponse:
    text = transcript.raw
    usage = {"type": "duration", "seconds": math.ceil(transcript.duration)}
    fmt = request.response_format
    if fmt == "json":
        return HttpResponse.json(200, {"text": text, "usage": usage})
    if fmt == "text":
        return HttpResponse(200, text.encode() + b"\n")
    if fmt in ("srt", "vtt"):
        return HttpResponse(200, formats.render(transcript, fmt).encode(),
                            "text/vtt; charset=utf-8" if fmt == "vtt" else "text/plain; charset=utf-8")
    body: dict[str, Any] = {"task": "translate" if request.translate else "transcribe",
                            "language": "english" if request.translate else language_name(transcript.language),
                            "duration": round(transcript.duration, 3), "text": text}
    if "segment" in request.granularities:
        body["segments"] = [{"id": i, "seek": round(p.start * 100), "start": p.start, "end": p.end,
                             "text": " " + p.raw, "tokens": list(p.tokens), "temperature": p.temperature,
                             "avg_logprob": round(p.avg_logprob, 6),
                             "compression_ratio": round(p.compression_ratio, 6),
                             "no_speech_prob": round(p.no_speech_prob, 6)} for i, p in enumerate(transcript.passages)]
    if "word" in request.granularities:
        words = ((w.word.strip(PUNCTUATION), w) for p in transcript.passages for w in p.words)
        body["words"] = [{"word": word, "start": w.start, "end": w.end} for word, w in words if word]
    body["usage"] = usage
    return HttpResponse.json(200, body)


def speech_windows(audio: np.ndarray) -> list[Window]:
    """The upload's speech packed into windows (VAD over the whole of it; off the engine's thread). Only
    where each window lies is kept: its audio is cut from the upload when it is decoded."""
    return [chunk.window for chunk in speech_chunks(ArraySource(audio), SileroSequence())]


class Transcriptions:
    """The file-transcription endpoint over the daemon's engine and decode service."""

    def __init__(self, engine: WhisperEngine, decoder: DecodeService, max_seconds: float = 3600.0) -> None:
        self.engine = engine
        self.decoder = decoder
        self.max_seconds = max_seconds
        self.created = int(time.time())
        self.requests = 0

    def models(self) -> HttpResponse:
        return HttpResponse.json(200, {"object": "list", "data": [
            {"id": self.engine.name, "object": "model", "created": self.created, "owned_by": "stenod"}]})

    async def transcribe(self, request: HttpRequest) -> HttpResponse:
        self.requests += 1
        try:
            wanted = read_request(request.header("content-type") or "", request.body, self.engine.name,
                                  translate=urlsplit(request.target).path == "/v1/audio/translations")
            languages = set(self.engine.tokenizer.languages) if self.engine.multilingual else None
            plan = plan_for(wanted, languages)
            try:
                audio = await asyncio.to_thread(decode_audio, wanted.audio, wanted.filename, self.max_seconds)
            except AudioError as exc:
                hint = "" if "limit" in str(exc) else "; send WAV, FLAC, OGG (Vorbis or Opus) or MP3"
                raise ApiError(400, f"{exc}{hint}", "file", "invalid_audio") from None
            windows = await asyncio.to_thread(speech_windows, audio)
            transcript = Transcript(wanted.filename, plan.language or "", len(audio) / SAMPLE_RATE)
            decoder = WindowDecoder(self.engine, plan.language, plan.prompt, plan.decoding, plan.task)
            found = self._passages(decoder, audio, windows)
            if wanted.stream:
                return HttpResponse(200, content_type="text/event-stream", stream=self._events(found))
            transcript.passages = [passage async for passage in found]
            transcript.language = decoder.language or "en"
        except ApiError as exc:
            return exc.response()
        except EngineUnavailable as exc:
            return error_response(503, str(exc), kind="server_error", code="engine_unavailable")
        except ModelError as exc:  # the VAD's weights missing or broken: said, not a bare 500
            return error_response(500, str(exc), kind="server_error", code="model_error")
        return render(wanted, transcript)

    async def _passages(self, decoder: WindowDecoder, audio: np.ndarray, windows: list[Window]
                        ) -> AsyncIterator[Passage]:
        """The passages of each window as the engine decodes it, a window per turn on its thread."""
        def decode(window: Window) -> list[Passage]:
            first = decoder.first_pass(decoder.encode(Chunk(window, window.audio(audio))))
            if first is None:
                return []
            return passages(window, first.window.result, decoder.words(first), RECORDING_CLEANUP)

        for window in windows:
            for passage in await self.decoder.run(partial(decode, window), window.samples / SAMPLE_RATE):
                yield passage

    @staticmethod
    async def _events(found: AsyncIterator[Passage]) -> AsyncIterator[bytes]:
        """Server-sent events as OpenAI streams a transcription: a delta per passage, then the whole text."""
        texts: list[str] = []
        try:
            async for passage in found:
                text = passage.raw.strip()
                if text:
                    delta = (" " if texts else "") + text
                    texts.append(text)
                    yield _sse({"type": "transcript.text.delta", "delta": delta})
        except EngineUnavailable as exc:
            yield _sse({"error": {"message": str(exc), "type": "server_error", "code": "engine_unavailable"}})
            return
        yield _sse({"type": "transcript.text.done", "text": " ".join(texts)})


def _sse(value: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(value, ensure_ascii=False).encode() + b"\n\n"
