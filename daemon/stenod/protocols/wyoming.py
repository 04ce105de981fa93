"""The Wyoming protocol (Home Assistant's local voice protocol), speech-to-text side.

Framing: one JSON header line (``type``, ``data``?, ``data_length``?, ``payload_length``?), then
``data_length`` bytes of JSON merged into ``data``, then ``payload_length`` bytes of payload. The reference
reader trusts both lengths; here the header line, the data and the payload are capped, and a frame over
a cap ends the connection with an ``error`` event.

A session: ``describe`` → ``info``; ``transcribe`` → ``audio-start`` → ``audio-chunk``\\* → ``audio-stop`` →
``transcript``. While audio arrives, committed text streams as ``transcript-start``, ``transcript-chunk``
(append-only: a chunk never revises an earlier one) and ``transcript-stop``; their concatenation is the
final ``transcript``. Each session runs its own pipeline on the daemon's one engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stenod import __version__
from stenod.audio.pcm import PcmStream
from stenod.core import SAMPLE_RATE
from stenod.core.committed import Joiner
from stenod.core.events import Event as StenodEvent
from stenod.engine.languages import supported
from stenod.errors import StenodError
from stenod.live.factory import NewPipeline
from stenod.live.pipeline import LivePipeline
from stenod.net.addresses import is_loopback
from stenod.net.messages import ClientError, json_object

log = logging.getLogger("stenod.protocols.wyoming")
MAX_HEADER = 64 * 1024
MAX_DATA = 64 * 1024
MAX_PAYLOAD = 1 << 20  # an audio chunk: 1 MiB is 32 s of 16 kHz 16-bit mono
WYOMING_VERSION = "1.8.0"


class FrameError(ValueError):
    """A frame that breaks the framing rules or a cap."""


@dataclass
class Frame:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""


def _json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        return json_object(raw, what)
    except ClientError as exc:
        raise FrameError(str(exc)) from None


def _length(header: dict[str, Any], key: str, cap: int) -> int:
    value = header.get(key) or 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FrameError(f"{key} must be a whole number")
    if value > cap:
        raise FrameError(f"{key} {value} is over the limit of {cap} bytes")
    return value


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame, or None at the end of the stream; FrameError for a malformed or oversized one."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise FrameError("the stream ended inside a header") from None
        return None
    except asyncio.LimitOverrunError:
        raise FrameError(f"header line over {MAX_HEADER} bytes") from None
    header = _json(line, "header")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind:
        raise FrameError("header has no type")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise FrameError("data is not a JSON object")
    data_length = _length(header, "data_length", MAX_DATA)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD)
    try:
        if data_length:
            data = {**data, **_json(await reader.readexactly(data_length), "data")}
        payload = await reader.readexactly(payload_length) if payload_length else b""
    except asyncio.IncompleteReadError:
        raise FrameError("the stream ended inside a frame") from None
    return Frame(kind, data, payload)


def encode_frame(kind: str, data: dict[str, Any] | None = None, payload: bytes = b"") -> bytes:
    header: dict[str, Any] = {"type": kind, "version": WYOMING_VERSION}
    body = json.dumps(data, ensure_ascii=False).encode() if data else b""
    if body:
        header["data_length"] = len(body)
    if payload:
        header["payload_length"] = len(payload)
    return json.dumps(header).encode() + b"\n" + body + payload


def info(models: list[tuple[str, list[str]]]) -> dict[str, Any]:
    """The ``info`` answer to ``describe``: one ASR program with the installed models and their languages."""
    attribution = {"name": "stenod", "url": "https://github.com/stenod/stenod"}
    whisper = {"name": "OpenAI Whisper", "url": "https://github.com/openai/whisper"}
    return {"asr": [{
        "name": "stenod", "description": "Local real-time dictation: Whisper on ONNX Runtime",
        "attribution": attribution, "installed": True, "version": __version__,
        "models": [{"name": name, "description": f"Whisper {name}", "attribution": whisper, "installed": True,
                    "version": None, "languages": languages} for name, languages in models],
        "supports_transcript_streaming": True, "requires_external_vad": False,
    }]}


class Session:
    """One connection: a ``transcribe`` at a time, each with its own pipeline."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 new_pipeline: NewPipeline,
                 models: list[tuple[str, list[str]]]) -> None:
        self.reader, self.writer = reader, writer
        self.new_pipeline = new_pipeline
        self.models = models
        self.live: LivePipeline | None = None
        self.pcm = PcmStream(SAMPLE_RATE)
        self.joiner = Joiner(live=True)
        self.text = ""
        self.language: str | None = None
        self.started = False

    async def send(self, kind: str, data: dict[str, Any] | None = None) -> None:
        self.writer.write(encode_frame(kind, data))
        await self.writer.drain()

    def _on_event(self, event: StenodEvent) -> None:
        chunk = self.joiner.feed(event)
        if chunk:
            self.text += chunk
            if self.started:
                self.writer.write(encode_frame("transcript-chunk", {"text": chunk}))

    async def run(self) -> None:
        try:
            await self._serve()
        finally:
            if self.live is not None:
                self.live.close()  # the client left mid-session: no decodes for it any more

    async def _serve(self) -> None:
        while True:
            try:
                frame = await read_frame(self.reader)
            except FrameError as exc:
                await self.send("error", {"text": str(exc), "code": "bad_frame"})
                return
            if frame is None:
                return
            await self.handle(frame)

    async def handle(self, frame: Frame) -> None:
        if frame.type == "describe":
            await self.send("info", info(self.models))
        elif frame.type == "ping":
            await self.send("pong", {"text": frame.data.get("text")} if frame.data.get("text") else None)
        elif frame.type == "transcribe":
            self.language = self._known(frame.data.get("language"))
        elif frame.type == "audio-start":
            await self._start(frame)
        elif frame.type == "audio-chunk":
            self._feed(frame)
        elif frame.type == "audio-stop":
            await self._stop()
        # other events (voice-started, detect, …) are not ours to answer

    def _known(self, language: Any) -> str | None:
        """The model's code for a requested language (``en``, ``en-US``, ``English``), or None to detect it."""
        if not isinstance(language, str) or not language.strip():
            return None
        code = supported(language, {lang for _, languages in self.models for lang in languages})
        if code is None:
            log.warning("Wyoming asked for language %r, which %s does not know: detecting it instead",
                        language[:40], ", ".join(name for name, _ in self.models))
            return None
        return code

    async def _start(self, frame: Frame) -> None:
        rate, width, channels = (frame.data.get(k) for k in ("rate", "width", "channels"))
        if not (isinstance(rate, int) and 8000 <= rate <= 192000 and width == 2
                and isinstance(channels, int) and 1 <= channels <= 8):
            await self.send("error", {"text": "audio must be 16-bit PCM, 8000-192000 Hz, 1-8 channels",
                                      "code": "bad_audio"})
            return
        self.pcm = PcmStream(rate, channels)
        self.joiner, self.text = Joiner(live=True), ""
        self.live = self.new_pipeline(self._on_event, language=self.language)
        self.started = True
        await self.send("transcript-start", {"language": self.language} if self.language else None)

    def _feed(self, frame: Frame) -> None:
        if self.live is not None:
            self.live.feed(self.pcm.feed_pcm16(frame.payload))

    async def _stop(self) -> None:
        if self.live is None:
            await self.send("transcript", {"text": ""})
            return
        tail = self.pcm.finish()
        if tail.size:
            self.live.feed(tail)
        await self.live.finish()
        await self.send("transcript-stop")
        self.started = False
        data = {"text": self.text.strip()}
        if self.language:
            data["language"] = self.language
        await self.send("transcript", data)
        self.live = None


async def start_wyoming(uri: str, new_pipeline: NewPipeline,
                        models: list[tuple[str, list[str]]], allow_remote: bool = False) -> asyncio.Server:
    """Serve Wyoming on ``tcp://HOST:PORT`` or ``unix:///PATH``."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(reader, writer, new_pipeline, models)
        try:
            await session.run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    parts = urlsplit(uri)
    try:
        if parts.scheme == "tcp":
            host, port = parts.hostname or "127.0.0.1", parts.port or 10300
            if not is_loopback(host) and not allow_remote:
                raise StenodError(f"--wyoming {uri} can be reached from other hosts: set server.allow_remote = "
                                  "true to open it (Wyoming has no authentication; see docs/security.md)")
            return await asyncio.start_server(serve, host, port, limit=MAX_HEADER)
        if parts.scheme == "unix":
            path = Path(parts.path)
            if path.exists() and not path.is_socket():
                raise StenodError(f"cannot serve Wyoming on {uri}: {path} exists and is not a socket")
            path.unlink(missing_ok=True)  # a socket left by an earlier run
            server = await asyncio.start_unix_server(serve, str(path), limit=MAX_HEADER)
            path.chmod(0o600)
            return server
    except OSError as exc:
        raise StenodError(f"cannot serve Wyoming on {uri}: {exc.strerror or exc}") from None
    raise StenodError(f"--wyoming must be HOST:PORT (or tcp://HOST:PORT) or unix:///PATH, got {uri!r}")
