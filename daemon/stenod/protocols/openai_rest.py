"""OpenAI-compatible file transcription: ``POST /v1/audio/transcriptions`` (and ``translations``), ``GET /v1/models``.

The upload is decoded (WAV, FLAC, OGG, MP3), transcribed with the daemon's model window by window on the
engine's thread (so live dictation keeps its turn between windows) and answered as ``json``, ``text``,
``verbose_json`` (segments and/or words), ``srt`` or ``vtt``. Text is Whisper's, without the dictation
clean-up, as OpenAI's own endpoint returns it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from stenod.audio.files import decode_audio
from stenod.core import SAMPLE_RATE
from stenod.engine.decoding import DecodingOptions
from stenod.engine.languages import language_name, supported
from stenod.engine.models import CATALOGUE
from stenod.engine.transcribe import Segment, TranscribeOptions, TranscriptionInfo, transcribe
from stenod.engine.whisper import WhisperEngine
from stenod.errors import AudioError
from stenod.live.decoder import DecodeService, EngineUnavailable
from stenod.net.http11 import HttpRequest, HttpResponse
from stenod.protocols.forms import FormError, Part, fields, parse_form

FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
GRANULARITIES = ("segment", "word")
PUNCTUATION = "\"'.,;:!?¿¡…“”‘’«»()[]-—"  # OpenAI's words carry none
WINDOW_S = 30.0


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


def options_for(request: TranscriptionRequest, engine_languages: set[str] | None) -> TranscribeOptions:
    if request.translate and engine_languages is None:
        raise ApiError(400, "this daemon's model knows English only and cannot translate: run a multilingual "
                       "model (model.name = \"base\" or \"small\")", "model", "translation_unsupported")
    language = supported(request.language, engine_languages) if request.language else None
    if request.language and language is None:
        raise ApiError(400, f"language {request.language[:40]!r} is not one this model knows", "language",
                       "unsupported_language")
    decoding = DecodingOptions() if request.temperature == 0.0 else DecodingOptions(temperature=(request.temperature,))
    return TranscribeOptions(language=language if engine_languages is not None else "en",
                             initial_prompt=request.prompt,
                             word_timestamps="word" in request.granularities, decoding=decoding,
                             task="translate" if request.translate else "transcribe")


def _stamp(seconds: float, comma: bool) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{',' if comma else '.'}{ms:03d}"


def subtitles(segments: list[Segment], vtt: bool) -> str:
    cues = []
    for number, seg in enumerate(segments, 1):
        times = f"{_stamp(seg.start, not vtt)} --> {_stamp(seg.end, not vtt)}"
        cues.append(f"{times}\n{seg.text.strip()}\n" if vtt else f"{number}\n{times}\n{seg.text.strip()}\n")
    return ("WEBVTT\n\n" if vtt else "") + "\n".join(cues)


def render(request: TranscriptionRequest, segments: list[Segment], info: TranscriptionInfo) -> HttpResponse:
    text = " ".join(seg.text.strip() for seg in segments if seg.text.strip())
    usage = {"type": "duration", "seconds": math.ceil(info.duration)}
    fmt = request.response_format
    if fmt == "json":
        return HttpResponse.json(200, {"text": text, "usage": usage})
    if fmt == "text":
        return HttpResponse(200, text.encode() + b"\n")
    if fmt in ("srt", "vtt"):
        return HttpResponse(200, subtitles(segments, fmt == "vtt").encode(),
                            "text/vtt; charset=utf-8" if fmt == "vtt" else "text/plain; charset=utf-8")
    body: dict[str, Any] = {"task": "translate" if request.translate else "transcribe",
                            "language": "english" if request.translate else language_name(info.language),
                            "duration": round(info.duration, 3), "text": text}
    if "segment" in request.granularities:
        body["segments"] = [{"id": seg.id - 1, "seek": round(seg.start * 100), "start": seg.start, "end": seg.end,
                             "text": seg.text, "tokens": seg.tokens, "temperature": seg.temperature,
                             "avg_logprob": round(seg.avg_logprob, 6),
                             "compression_ratio": round(seg.compression_ratio, 6),
                             "no_speech_prob": round(seg.no_speech_prob, 6)} for seg in segments]
    if "word" in request.granularities:
        words = ((w.word.strip().strip(PUNCTUATION), w) for seg in segments for w in seg.words or [])
        body["words"] = [{"word": word, "start": w.start, "end": w.end} for word, w in words if word]
    body["usage"] = usage
    return HttpResponse.json(200, body)


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
            options = options_for(wanted, languages)
            try:
                audio = await asyncio.to_thread(decode_audio, wanted.audio, wanted.filename, self.max_seconds)
            except AudioError as exc:
                hint = "" if "limit" in str(exc) else "; send WAV, FLAC, OGG (Vorbis or Opus) or MP3"
                raise ApiError(400, f"{exc}{hint}", "file", "invalid_audio") from None
            segments, info = await self._start(audio, options)
            if wanted.stream:
                return HttpResponse(200, content_type="text/event-stream", stream=self._events(segments))
            done = [segment async for segment in segments]
        except ApiError as exc:
            return exc.response()
        except EngineUnavailable as exc:
            return error_response(503, str(exc), kind="server_error", code="engine_unavailable")
        return render(wanted, done, info)

    async def _start(self, audio: Any, options: TranscribeOptions
                     ) -> tuple[AsyncIterator[Segment], TranscriptionInfo]:
        """The segments as the engine decodes them, one window per turn on its thread, and the file's info."""
        features = await asyncio.to_thread(self.engine.features, audio)  # off the engine's thread: it is NumPy
        first = min(WINDOW_S, len(audio) / SAMPLE_RATE)
        iterator, info = await self.decoder.run(lambda: transcribe(self.engine, audio, options, features), first)

        async def segments() -> AsyncIterator[Segment]:
            while (segment := await self.decoder.run(lambda: next(iterator, None), WINDOW_S)) is not None:
                yield replace(segment, words=segment.words if options.word_timestamps else None)

        return segments(), info

    @staticmethod
    async def _events(segments: AsyncIterator[Segment]) -> AsyncIterator[bytes]:
        """Server-sent events as OpenAI streams a transcription: a delta per segment, then the whole text."""
        texts: list[str] = []
        try:
            async for segment in segments:
                text = segment.text.strip()
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
