"""OpenAI's Realtime transcription session on ``/v1/realtime``: the event shapes its clients already speak.

The client configures the session (``session.update`` with ``type: transcription``, or the older
``transcription_session.update``), sends base64 PCM16 (24 kHz unless the session says another rate) with
``input_audio_buffer.append``, and may ``commit`` (end the current turn now) or ``clear``. stenod's own
VAD finds the turns: each utterance is an item, announced by ``input_audio_buffer.speech_started``, with
``conversation.item.input_audio_transcription.delta`` events carrying committed text as it is spoken
(append-only: the partials' guaranteed ``stable_text``), then ``speech_stopped``, ``committed``, a last
delta and ``.completed`` with the transcript the deltas add up to.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection

from stenod.audio.pcm import PcmStream
from stenod.core.events import Event, Final, Partial, SpeechEnd, SpeechStart
from stenod.engine.languages import supported
from stenod.live.factory import NewPipeline
from stenod.live.pipeline import LivePipeline
from stenod.net.flood import FloodLimit
from stenod.net.messages import ClientError, json_object
from stenod.net.outbox import Outbox, shut_out

RATES = (8000, 48000)


@dataclass
class _Item:
    item_id: str
    sent: str = ""  # the transcript so far, as deltas


class RealtimeSession:
    """One ``/v1/realtime`` connection in OpenAI's Realtime transcription terms, over a stenod pipeline.

    Create it with the open connection, then await :meth:`run` until the client leaves. It answers
    ``session.update`` (format, language, prompt, turn detection), feeds ``input_audio_buffer.append`` audio
    through a :class:`PcmStream` into its :class:`LivePipeline`, and maps the pipeline's events onto
    ``speech_started``, transcription ``delta`` and ``completed`` events, sent through an :class:`Outbox`.
    A ``clear`` or a new language starts a new pipeline; events of the old one are dropped.
    """

    def __init__(self, connection: ServerConnection, new_pipeline: NewPipeline, model: str,
                 query: dict[str, list[str]], languages: set[str] | None = None) -> None:
        self.connection = connection
        self.new_pipeline = new_pipeline
        self.languages = languages
        self.session_id = "sess_" + secrets.token_hex(8)
        self.model = (query.get("model") or [model])[0]
        self.rate = 24000
        self.language: str | None = None
        self.prompt = ""
        self.turn_detection: dict[str, Any] | None = {"type": "server_vad", "threshold": 0.5,
                                                      "prefix_padding_ms": 300, "silence_duration_ms": 450}
        self.vad: dict[str, Any] = {}  # the client's server_vad settings, as stenod's VAD settings
        self.noise_reduction: Any = None
        self.legacy = False
        self.outbox = Outbox(connection)
        self.items: dict[int, _Item] = {}
        self.previous_item: str | None = None
        self.generation = 0
        self.live = self._pipeline()
        self.pcm = PcmStream(self.rate)
        self.heard = False  # audio arrived since the last commit

    def _pipeline(self) -> LivePipeline:
        self.generation += 1
        generation = self.generation
        return self.new_pipeline(lambda event: self._on_event(generation, event), language=self.language,
                                 vad=self.vad)

    # what goes out

    def _send(self, kind: str, **fields: Any) -> None:
        self.outbox.put(json.dumps({"type": kind, "event_id": "event_" + secrets.token_hex(8), **fields},
                                   ensure_ascii=False))

    def _error(self, message: str, code: str, event_id: str | None = None, param: str | None = None) -> None:
        self._send("error", error={"type": "invalid_request_error", "code": code, "message": message,
                                   "param": param, "event_id": event_id})

    def _session(self) -> dict[str, Any]:
        transcription = {"model": self.model, "language": self.language or "", "prompt": self.prompt}
        if self.legacy:
            return {"id": self.session_id, "object": "realtime.transcription_session",
                    "input_audio_format": "pcm16", "input_audio_transcription": transcription,
                    "turn_detection": self.turn_detection, "input_audio_noise_reduction": self.noise_reduction}
        return {"type": "transcription", "id": self.session_id, "object": "realtime.transcription_session",
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": self.rate},
                                    "transcription": transcription, "turn_detection": self.turn_detection,
                                    "noise_reduction": self.noise_reduction}},
                "include": []}

    def _on_event(self, generation: int, event: Event) -> None:
        if generation != self.generation:
            return  # audio the client cleared
        item: _Item | None
        if isinstance(event, SpeechStart):
            item = _Item("item_" + secrets.token_hex(8))
            self.items[event.utterance_id] = item
            self._send("input_audio_buffer.speech_started", audio_start_ms=event.start_ms, item_id=item.item_id)
        elif isinstance(event, Partial):
            item = self.items.get(event.utterance_id)
            if item is not None and event.stable_text.startswith(item.sent) and event.stable_text != item.sent:
                self._delta(item, event.stable_text)
        elif isinstance(event, Final):
            item = self.items.pop(event.utterance_id, None)
            if item is not None:
                self._commit(item, event.end_ms)
                text = event.text if event.text.startswith(item.sent) else item.sent
                if text != item.sent:
                    self._delta(item, text)
                self._send("conversation.item.input_audio_transcription.completed", item_id=item.item_id,
                           content_index=0, transcript=item.sent,
                           usage={"type": "duration", "seconds": round((event.end_ms - event.start_ms) / 1000, 3)})
        elif isinstance(event, SpeechEnd):
            item = self.items.pop(event.utterance_id, None)
            if item is None:
                return
            self._commit(item, event.end_ms)
            if event.discarded == "error":
                self._send("conversation.item.input_audio_transcription.failed", item_id=item.item_id,
                           content_index=0, error={"type": "server_error", "code": "transcription_failed",
                                                   "message": "the engine could not transcribe this item"})
            else:  # no words in it (noise, a hallucination refused, too short)
                self._send("conversation.item.input_audio_transcription.completed", item_id=item.item_id,
                           content_index=0, transcript=item.sent, usage={"type": "duration", "seconds": round(
                               (event.end_ms - event.start_ms) / 1000, 3)})

    def _empty_item(self) -> None:
        item = _Item("item_" + secrets.token_hex(8))
        self._send("input_audio_buffer.committed", item_id=item.item_id, previous_item_id=self.previous_item)
        self.previous_item = item.item_id
        self._send("conversation.item.input_audio_transcription.completed", item_id=item.item_id, content_index=0,
                   transcript="", usage={"type": "duration", "seconds": 0})

    def _delta(self, item: _Item, text: str) -> None:
        self._send("conversation.item.input_audio_transcription.delta", item_id=item.item_id, content_index=0,
                   delta=text[len(item.sent):])
        item.sent = text

    def _commit(self, item: _Item, end_ms: int) -> None:
        self._send("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item.item_id)
        self._send("input_audio_buffer.committed", item_id=item.item_id, previous_item_id=self.previous_item)
        self.previous_item = item.item_id

    # what comes in

    async def run(self) -> None:
        self._send("transcription_session.created" if self.legacy else "session.created", session=self._session())
        complaints = FloodLimit()
        try:
            async for raw in self.connection:
                try:
                    self._handle(raw)
                except ClientError as exc:
                    if complaints.allow(time.monotonic()):
                        self._error(str(exc), exc.code)
                    elif complaints.exhausted:
                        await shut_out(self.connection, "too many bad messages")
                        break
        finally:
            self.live.close()
            self.outbox.close()

    def _handle(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            raise ClientError("invalid_type",
                              "send JSON text messages; audio goes base64 in input_audio_buffer.append")
        message = json_object(raw)
        kind = message.get("type")
        event_id = message.get("event_id") if isinstance(message.get("event_id"), str) else None
        if kind == "input_audio_buffer.append":
            self._append(message.get("audio"), event_id)
        elif kind == "input_audio_buffer.commit":
            if self.items:
                self.live.end_utterance()
            elif self.turn_detection is None and self.heard:
                self._empty_item()  # manual turns: a commit of audio with no speech is an empty item, not an error
            else:
                self._error("nothing to commit: no speech since the last item", "input_audio_buffer_commit_empty",
                            event_id)
            self.heard = False
        elif kind == "input_audio_buffer.clear":
            self.live.close()
            self.live = self._pipeline()
            self.items.clear()
            self._restart_audio(self.rate, flush=False)
            self.heard = False
            self._send("input_audio_buffer.cleared")
        elif kind in ("session.update", "transcription_session.update"):
            self._update(message.get("session"), kind == "transcription_session.update", event_id)
        else:
            raise ClientError("invalid_event", f"unknown or unsupported event type {str(kind)[:60]!r}")

    def _append(self, audio: Any, event_id: str | None) -> None:
        if not isinstance(audio, str):
            raise ClientError("invalid_value", "input_audio_buffer.append needs 'audio': base64 PCM16")
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise ClientError("invalid_value", "'audio' is not valid base64") from None
        frames = self.pcm.frames
        samples = self.pcm.feed_pcm16(pcm)
        self.heard = self.heard or self.pcm.frames > frames
        self.live.feed(samples)

    def _restart_audio(self, rate: int, flush: bool) -> None:
        """Take audio at ``rate`` from now on; ``flush`` feeds what the old resampler still holds first."""
        if flush:
            tail = self.pcm.finish()
            if tail.size:
                self.live.feed(tail)
        self.rate = rate
        self.pcm = PcmStream(rate)

    def _update(self, session: Any, legacy: bool, event_id: str | None) -> None:
        """Check the whole update first, then apply it: a refused update changes nothing."""
        session = _object(session, "session")
        if legacy:
            fmt = session.get("input_audio_format", "pcm16")
            if fmt != "pcm16":
                raise ClientError("invalid_value", f"input_audio_format {str(fmt)[:40]!r} is not supported: use pcm16")
            rate = 24000
            transcription = _object(session.get("input_audio_transcription"), "input_audio_transcription")
            turns = session.get("turn_detection", self.turn_detection)
            noise = session.get("input_audio_noise_reduction", self.noise_reduction)
        else:
            if session.get("type", "transcription") != "transcription":
                raise ClientError("invalid_value",
                                  "stenod serves transcription sessions only: set session.type to 'transcription'")
            audio_in = _object(_object(session.get("audio"), "audio").get("input"), "audio.input")
            fmt = _object(audio_in.get("format"), "audio.input.format")
            if fmt.get("type", "audio/pcm") != "audio/pcm":
                raise ClientError("invalid_value",
                                  "audio.input.format must be audio/pcm (PCM16 little-endian mono)")
            rate = fmt.get("rate", self.rate)
            if isinstance(rate, bool) or not isinstance(rate, int) or not RATES[0] <= rate <= RATES[1]:
                raise ClientError("invalid_value", f"audio.input.format.rate must be {RATES[0]}-{RATES[1]} Hz")
            transcription = _object(audio_in.get("transcription"), "audio.input.transcription")
            turns = audio_in.get("turn_detection", self.turn_detection)
            noise = audio_in.get("noise_reduction", self.noise_reduction)
        if turns is not None and not (isinstance(turns, dict) and turns.get("type") in ("server_vad", "semantic_vad")):
            raise ClientError("invalid_value", "turn_detection must be server_vad, semantic_vad or null")
        language = self.language
        wanted = transcription.get("language")
        if not wanted and isinstance(transcription.get("languages"), list) and transcription["languages"]:
            wanted = transcription["languages"][0]  # the newer models' list of expected languages
        if isinstance(wanted, str) and wanted:
            language = supported(wanted, self.languages)
            if language is None:
                raise ClientError("unsupported_language", f"language {wanted[:40]!r} is not one this model knows")
        vad = _vad_settings(turns) if turns != self.turn_detection else self.vad
        if (language != self.language or vad != self.vad) and self.items:
            raise ClientError("conversation_already_has_active_response", "change the language or turn "
                              "detection between turns, not while speech is being transcribed")
        # all checked: apply
        self.legacy = legacy
        if isinstance(transcription.get("model"), str):
            self.model = transcription["model"][:200]
        if isinstance(transcription.get("prompt"), str):
            self.prompt = transcription["prompt"][:4000]
        self.turn_detection, self.noise_reduction = turns, noise
        if rate != self.rate:
            self._restart_audio(rate, flush=True)
        if language != self.language or vad != self.vad:
            self.language, self.vad = language, vad
            self.live.close()
            self.live = self._pipeline()  # the next turn is found and transcribed with the new settings
        self._send("transcription_session.updated" if legacy else "session.updated", session=self._session())


VAD_SETTINGS = {  # server_vad field: stenod's VAD setting and the values it may take
    "threshold": ("threshold", 0.0, 1.0),
    "prefix_padding_ms": ("pre_roll_ms", 0, 1500),
    "silence_duration_ms": ("hangover_ms", 100, 5000),
}


def _vad_settings(turns: Any) -> dict[str, Any]:
    """stenod's VAD settings for a ``server_vad`` turn detection (its threshold, padding and silence)."""
    if not isinstance(turns, dict) or turns.get("type") != "server_vad":
        return {}
    settings: dict[str, Any] = {}
    for field, (name, low, high) in VAD_SETTINGS.items():
        value = turns.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ClientError("invalid_value", f"turn_detection.{field} must be a number from {low} to {high}")
        settings[name] = float(value) if name == "threshold" else int(value)
    return settings


def _object(value: Any, name: str) -> dict[str, Any]:
    """``value`` when it is a JSON object, {} when absent; a ClientError otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ClientError("invalid_value", f"{name} must be an object")
    return value
