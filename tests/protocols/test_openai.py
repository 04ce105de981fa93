"""The OpenAI-compatible endpoints, driven by the PyPI ``openai`` package pointed at a running daemon."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import io
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openai
import pytest
import soundfile as sf
import soxr

from stenod.core.events import Final, Partial, SpeechEnd, SpeechStart
from stenod.protocols.openai_realtime import RealtimeSession
from stenod_bench.evaluation import word_error_rate
from support.daemon import JFK, Daemon

SESSION_END_S = 42.3  # the first five utterances of session 01, cut in the pause after the fifth


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openai")
    (tmp / "config" / "stenod").mkdir(parents=True)
    (tmp / "config" / "stenod" / "config.toml").write_text("[server]\nmax_upload_bytes = 2000000\n"
                                                           "max_upload_seconds = 60\n")
    d = Daemon(tmp, "--no-mic")
    yield d
    d.stop()


def _client(daemon: Daemon, token: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(api_key=daemon.token if token is None else token,
                         base_url=f"http://127.0.0.1:{daemon.port}/v1", max_retries=0)


@pytest.mark.parametrize("response_format", ["json", "text", "verbose_json", "srt", "vtt"])
def test_a_file_is_transcribed_in_each_response_format(daemon, jfk_wav, response_format) -> None:
    with open(jfk_wav, "rb") as audio:
        result = _client(daemon).audio.transcriptions.create(model="whisper-1", file=audio,
                                                              response_format=response_format)
    if response_format in ("json", "verbose_json"):
        text = result.text
    elif response_format == "text":
        text = result
    else:
        cues = re.findall(r"(\d\d:\d\d:\d\d)([,.])\d{3} --> \d\d:\d\d:\d\d[,.]\d{3}\n((?:.+\n)+)", result)
        assert cues and {sep for _, sep, _ in cues} == ({","} if response_format == "srt" else {"."})
        assert result.startswith("WEBVTT\n\n" if response_format == "vtt" else "1\n00:00:00,")
        assert all(len(cue.splitlines()) <= 2 and max(map(len, cue.splitlines())) <= 45 for _, _, cue in cues)
        text = " ".join(" ".join(cue.split()) for _, _, cue in cues)
    assert word_error_rate([JFK], [text]) <= 0.15
    if response_format == "verbose_json":
        assert result.language == "english" and abs(result.duration - 11.0) < 0.1
        assert result.segments and 0.0 <= result.segments[0].start < 1.0 and result.segments[-1].end <= 11.0
        assert result.words is None


def test_a_streamed_transcription_sends_deltas_then_the_text(daemon, eval_dir) -> None:
    audio, reference, rate = _session_audio(eval_dir)  # 42 s: two windows, several segments
    data = io.BytesIO()
    sf.write(data, audio, rate, format="WAV")
    stream = _client(daemon).audio.transcriptions.create(model="gpt-4o-transcribe", stream=True,
                                                          file=("session.wav", data.getvalue()))
    events = list(stream)
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    assert len(deltas) >= 3 and events[-1].type == "transcript.text.done"
    assert "".join(deltas) == events[-1].text and word_error_rate([reference], [events[-1].text]) <= 0.2
    with pytest.raises(openai.BadRequestError, match="stream=true goes with"):
        _client(daemon).audio.transcriptions.create(model="whisper-1", stream=True, response_format="srt",
                                                     file=("session.wav", data.getvalue()))


def test_word_and_segment_timestamps(daemon, jfk_wav) -> None:
    with open(jfk_wav, "rb") as audio:
        result = _client(daemon).audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="verbose_json", language="en",
            prompt="President Kennedy's inaugural address.", timestamp_granularities=["word", "segment"])
    words = result.words
    assert [w.word for w in words][:4] == ["And", "so", "my", "fellow"]
    assert all(a.start <= b.start and w.start <= w.end for a, b in itertools.pairwise(words) for w in (a, b))
    assert 9.0 < words[-1].end <= 11.0
    assert len(result.segments) >= 1 and " ".join(s.text.strip() for s in result.segments) == result.text


def test_flac_and_mp3_uploads_at_other_rates(daemon, jfk_audio) -> None:
    for fmt, rate in (("FLAC", 44100), ("MP3", 22050)):
        data = io.BytesIO()
        sf.write(data, soxr.resample(jfk_audio, 16000, rate), rate, format=fmt)
        result = _client(daemon).audio.transcriptions.create(model="whisper-1",
                                                              file=(f"jfk.{fmt.lower()}", data.getvalue()))
        assert word_error_rate([JFK], [result.text]) <= 0.15, fmt


def test_translation_needs_a_multilingual_model(daemon, jfk_wav) -> None:
    with pytest.raises(openai.BadRequestError, match="knows English only and cannot translate"):
        _client(daemon).audio.translations.create(model="whisper-1", file=jfk_wav.open("rb"))


def test_a_multilingual_model_translates_and_transcribes_other_languages(tmp_path, eval_dir) -> None:
    manifest = [json.loads(line) for line in (eval_dir / "manifest.jsonl").read_text().splitlines()]
    french = next(m for m in manifest if m["id"] == "pv_test_fr")
    audio = (eval_dir / french["audio"]).read_bytes()
    base = Daemon(tmp_path, "--no-mic", "--model", "base")
    try:
        client = _client(base)
        heard = client.audio.transcriptions.create(model="whisper-1", file=("fr.wav", audio), language="fr")
        assert word_error_rate([french["text"]], [heard.text]) <= 0.35
        english = client.audio.translations.create(model="whisper-1", file=("fr.wav", audio),
                                                   response_format="verbose_json")
        assert english.language == "english" and abs(english.duration - french["duration_s"]) < 0.1
        def words(text: str) -> set[str]:
            return set(re.findall(r"[\w']+", text.lower()))

        assert len(words(english.text) & words(heard.text)) <= 0.3 * len(words(english.text))  # not the French
        assert words(english.text) & {"the", "of", "and", "a", "it", "is", "he", "to"}
        with pytest.raises(openai.BadRequestError, match="translations take no 'language'"):
            client.audio.translations.create(model="whisper-1", file=("fr.wav", audio), extra_body={"language": "fr"})
    finally:
        base.stop()


def test_models_lists_the_loaded_model(daemon) -> None:
    assert [m.id for m in _client(daemon).models.list()] == ["tiny.en"]


def test_bad_requests_get_openai_errors_and_the_daemon_goes_on(daemon, jfk_wav) -> None:
    client = _client(daemon)
    with pytest.raises(openai.BadRequestError, match="not a readable audio file"):
        client.audio.transcriptions.create(model="whisper-1", file=("notes.wav", b"RIFF but not really"))
    with pytest.raises(openai.BadRequestError, match="model 'base' is not loaded") as info:
        client.audio.transcriptions.create(model="base", file=jfk_wav.open("rb"))
    assert info.value.body["param"] == "model" and info.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.audio.transcriptions.create(model="whisper-1", file=jfk_wav.open("rb"), response_format="xml")
    with pytest.raises(openai.BadRequestError, match="not one this model knows"):
        client.audio.transcriptions.create(model="whisper-1", file=jfk_wav.open("rb"), language="fr")
    for size in (2_500_000, 12_000_000):  # the second is more than the socket buffers hold: it is read and dropped
        with pytest.raises(openai.APIStatusError) as too_big:
            client.audio.transcriptions.create(model="whisper-1", file=("big.wav", b"\0" * size))
        assert too_big.value.status_code == 413
    long = io.BytesIO()
    sf.write(long, np.zeros(8000 * 90, np.float32), 8000, format="FLAC")  # 90 s of silence in a few kB
    with pytest.raises(openai.BadRequestError, match="90 s of audio; the limit is 60 s"):
        client.audio.transcriptions.create(model="whisper-1", file=("long.flac", long.getvalue()))
    with pytest.raises(openai.AuthenticationError):
        _client(daemon, token="wrong").audio.transcriptions.create(model="whisper-1", file=jfk_wav.open("rb"))
    read_token = json.loads(_client(daemon).models.with_raw_response.list().http_response.text)  # still serving
    assert read_token["data"][0]["id"] == "tiny.en"


def _raw(port: int, request: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)  # all is sent: the server need not wait for more
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


HEAD = b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.mark.parametrize("request_bytes", [
    HEAD + b"Content-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    HEAD + b"Content-Length: -1\r\n\r\n",
    HEAD + b"Bad header line\r\n\r\n",
    HEAD + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n",
    b"POST /\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"POST /v1/audio/transcriptions HTTP/9.9\r\n\r\n",
])
def test_malformed_requests_get_a_4xx_and_the_daemon_goes_on(daemon, request_bytes) -> None:
    answer = _raw(daemon.port, request_bytes)
    assert re.match(rb"HTTP/1.1 4\d\d ", answer), answer[:200]
    health = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    health.request("GET", "/health")
    assert health.getresponse().status == 200


def test_malformed_http_and_foreign_origins_are_refused(daemon) -> None:
    assert _raw(daemon.port, b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n"
                ).startswith(b"HTTP/1.1 400")
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    conn.request("POST", "/v1/audio/transcriptions", body=b"x", headers={
        "Origin": "https://evil.example", "Authorization": f"Bearer {daemon.token}",
        "Content-Type": "multipart/form-data; boundary=b"})
    response = conn.getresponse()
    assert response.status == 403 and "Origin" in json.loads(response.read())["error"]["message"]
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    conn.request("PUT", "/v1/events", body=b"")
    assert conn.getresponse().status == 404
    # WebSockets and plain GETs on the same port are untouched
    health = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    health.request("GET", "/health")
    assert json.loads(health.getresponse().read())["model"] == "tiny.en"


def test_an_upload_without_the_token_is_answered_before_its_body(daemon) -> None:
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 20000000\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401") and b"100 Continue" not in answer


def test_a_connection_that_never_sends_a_request_is_dropped(daemon) -> None:
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as idle, \
            socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as partial:
        started = time.monotonic()
        partial.sendall(b"PO")
        health = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
        health.request("GET", "/health")  # others are served meanwhile
        assert health.getresponse().status == 200
        for sock in (idle, partial):
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b""
        assert time.monotonic() - started > 8  # it was given its 10 s; the sockets' 30 s timeout bounds the rest


def test_the_unix_socket_needs_no_key(daemon, jfk_wav) -> None:
    import httpx2

    transport = httpx2.HTTPTransport(uds=str(daemon.runtime / "stenod.sock"))
    client = openai.OpenAI(api_key="unused", base_url="http://localhost/v1", max_retries=0,
                           http_client=openai.DefaultHttpxClient(transport=transport))
    with open(jfk_wav, "rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio, response_format="text")
    assert word_error_rate([JFK], [result]) <= 0.15


def _session_audio(eval_dir: Path) -> tuple[np.ndarray, str, int]:
    manifest = [json.loads(line) for line in (eval_dir / "manifest.jsonl").read_text().splitlines()]
    session = next(m for m in manifest if m["id"] == "session_01_mixed_read")
    audio, rate = sf.read(eval_dir / session["audio"], dtype="float32")
    reference = " ".join(s["text"] for s in session["segments"] if s["end_s"] <= SESSION_END_S)
    return audio[:int(SESSION_END_S * rate)], reference, rate


async def _realtime(daemon: Daemon, pcm: bytes, session: dict, chunk: int = 4800) -> list:
    client = openai.AsyncOpenAI(api_key=daemon.token, base_url=f"http://127.0.0.1:{daemon.port}/v1")
    events = []
    async with client.realtime.connect(model="whisper-1", extra_query={"intent": "transcription"}) as conn:
        await conn.session.update(session=session)
        await conn.send({"type": "input_audio_buffer.append", "audio": "not base64!"})
        for at in range(0, len(pcm), chunk):
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[at:at + chunk]).decode())
        await conn.input_audio_buffer.commit()
        return events + await _until_done(conn)


async def _until_done(conn) -> list:
    """Events until every item that started has completed and nothing more comes for 3 s."""
    events, open_items = [], set()
    while True:
        try:
            event = await asyncio.wait_for(conn.recv(), timeout=3 if events and not open_items else 120)
        except TimeoutError:
            return events
        events.append(event)
        if event.type == "input_audio_buffer.speech_started":
            open_items.add(event.item_id)
        elif event.type.endswith((".completed", ".failed")):
            open_items.discard(event.item_id)
        elif event.type == "input_audio_buffer.cleared":
            open_items.clear()  # those turns never complete


def test_a_realtime_session_streams_items_whose_deltas_add_up(daemon, eval_dir) -> None:
    audio, reference, rate = _session_audio(eval_dir)
    audio = np.concatenate([soxr.resample(audio, rate, 24000), np.zeros(24000, np.float32)])
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    session = {"type": "transcription", "audio": {"input": {
        "format": {"type": "audio/pcm", "rate": 24000}, "transcription": {"model": "whisper-1", "language": "en"},
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 500}}}}
    events = asyncio.run(_realtime(daemon, pcm, session))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["session.created", "session.updated"]
    assert events[1].session.audio.input.format.rate == 24000
    bad = [e for e in events if e.type == "error"]
    assert len(bad) == 1 and "base64" in bad[0].error.message
    completed = [e for e in events if e.type == "conversation.item.input_audio_transcription.completed"]
    assert len(completed) >= 4
    for item in completed:
        mine = [e for e in events if getattr(e, "item_id", None) == item.item_id]
        order = [e.type for e in mine]
        assert order[0] == "input_audio_buffer.speech_started" and order[-1] == item.type
        assert order.index("input_audio_buffer.speech_stopped") < order.index("input_audio_buffer.committed")
        deltas = "".join(e.delta for e in mine if e.type.endswith(".delta"))
        assert deltas == item.transcript
    committed = [e for e in events if e.type == "input_audio_buffer.committed"]
    assert [c.previous_item_id for c in committed] == [None] + [c.item_id for c in committed[:-1]]
    stopped = [e.audio_end_ms for e in events if e.type == "input_audio_buffer.speech_stopped"]
    assert stopped == sorted(stopped) and stopped[-1] <= (SESSION_END_S + 1) * 1000
    transcript = " ".join(e.transcript for e in completed)
    assert word_error_rate([reference], [transcript]) <= 0.2


def test_the_beta_transcription_session_shape(daemon, jfk_audio) -> None:
    pcm = (np.clip(soxr.resample(jfk_audio, 16000, 24000), -1, 1) * 32767).astype("<i2").tobytes()
    session = {"input_audio_format": "pcm16", "input_audio_transcription": {"model": "whisper-1"},
               "turn_detection": None}

    async def run() -> list:  # the realtime client's own websocket URL setting, this time
        client = openai.AsyncOpenAI(api_key=daemon.token, base_url="http://127.0.0.1:9/unused",
                                    websocket_base_url=f"ws://127.0.0.1:{daemon.port}/v1")
        async with client.realtime.connect(model="whisper-1") as conn:
            await conn.send({"type": "transcription_session.update", "session": session})
            await conn.send({"type": "input_audio_buffer.commit"})  # nothing yet: an error, not a hang-up
            await conn.send({"type": "session.update", "session": {"type": "realtime"}})
            for at in range(0, len(pcm), 9600):
                await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[at:at + 9600]).decode())
            await conn.input_audio_buffer.commit()
            return await _until_done(conn)

    events = asyncio.run(run())
    updated = events[1].model_dump()
    assert updated["type"] == "transcription_session.updated" and updated["session"]["turn_detection"] is None
    errors = [e.error.code for e in events if e.type == "error"]
    assert errors == ["input_audio_buffer_commit_empty", "invalid_value"]
    transcript = " ".join(e.transcript for e in events if e.type.endswith("transcription.completed"))
    assert word_error_rate([JFK], [transcript]) <= 0.15


def test_a_bad_session_update_changes_nothing_and_clear_drops_the_turn(daemon, jfk_audio) -> None:
    pcm = (np.clip(soxr.resample(jfk_audio, 16000, 24000), -1, 1) * 32767).astype("<i2").tobytes()

    async def run() -> list:
        client = openai.AsyncOpenAI(api_key=daemon.token, base_url=f"http://127.0.0.1:{daemon.port}/v1")
        async with client.realtime.connect(model="whisper-1", extra_query={"intent": "transcription"}) as conn:
            for session in ({"audio": "x"}, {"audio": {"input": [1]}}, {"type": "transcription", "audio": {
                    "input": {"format": {"type": "audio/pcm", "rate": 16000}, "transcription": {"language": "xx"}}}}):
                await conn.send({"type": "session.update", "session": session})
            await conn.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[:96000]).decode()})
            await conn.send({"type": "input_audio_buffer.clear"})  # "And so my fellow..." is dropped
            await conn.session.update(session={"type": "transcription"})
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
            await conn.input_audio_buffer.append(audio=base64.b64encode(bytes(48000 * 2)).decode())
            return await _until_done(conn)

    events = asyncio.run(run())
    errors = [e.error.message for e in events if e.type == "error"]
    assert errors == ["audio must be an object", "audio.input must be an object",
                      "language 'xx' is not one this model knows"]
    assert [e.type for e in events].count("input_audio_buffer.cleared") == 1
    updated = [e for e in events if e.type == "session.updated"]
    assert len(updated) == 1 and updated[0].session.audio.input.format.rate == 24000  # the refused 16000 did not stick
    completed = [e.transcript for e in events if e.type.endswith("transcription.completed")]
    started = [e for e in events if e.type == "input_audio_buffer.speech_started"]
    assert len(started) >= len(completed) and word_error_rate([JFK], [" ".join(completed)]) <= 0.15


@pytest.mark.parametrize("silence_ms", [300, 1500])
def test_server_vad_settings_decide_where_turns_end(daemon, jfk_audio, silence_ms) -> None:
    pcm = (np.clip(soxr.resample(jfk_audio, 16000, 24000), -1, 1) * 32767).astype("<i2").tobytes()

    async def run() -> list:
        client = openai.AsyncOpenAI(api_key=daemon.token, base_url=f"http://127.0.0.1:{daemon.port}/v1")
        async with client.realtime.connect(model="whisper-1", extra_query={"intent": "transcription"}) as conn:
            await conn.session.update(session={"type": "transcription", "audio": {"input": {"turn_detection": {
                "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 10}}}})
            await conn.session.update(session={"type": "transcription", "audio": {"input": {"turn_detection": {
                "type": "server_vad", "silence_duration_ms": silence_ms}}}})
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm + bytes(96000)).decode())
            return await _until_done(conn)

    events = asyncio.run(run())
    errors = [e.error.message for e in events if e.type == "error"]
    assert errors == ["turn_detection.silence_duration_ms must be a number from 100 to 5000"]
    completed = [e.transcript for e in events if e.type.endswith("transcription.completed")]
    # JFK pauses for about half a second between phrases: those pauses end turns only with the short silence
    assert (len(completed) >= 3) if silence_ms == 300 else (len(completed) == 1)
    assert word_error_rate([JFK], [" ".join(completed)]) <= 0.15


def test_with_manual_turns_a_commit_of_silence_is_an_empty_item(daemon) -> None:
    async def run() -> list:
        client = openai.AsyncOpenAI(api_key=daemon.token, base_url=f"http://127.0.0.1:{daemon.port}/v1")
        async with client.realtime.connect(model="whisper-1", extra_query={"intent": "transcription"}) as conn:
            await conn.session.update(session={"type": "transcription", "audio": {"input": {
                "turn_detection": None, "transcription": {"model": "gpt-4o-transcribe", "languages": ["en"]}}}})
            await conn.input_audio_buffer.append(audio=base64.b64encode(bytes(48000)).decode())
            await conn.input_audio_buffer.commit()
            await conn.input_audio_buffer.commit()  # nothing since the last one
            return [await asyncio.wait_for(conn.recv(), timeout=30) for _ in range(5)]

    kinds = [(e.type, getattr(e, "transcript", None)) for e in asyncio.run(run())]
    assert kinds[2:] == [("input_audio_buffer.committed", None),
                         ("conversation.item.input_audio_transcription.completed", ""), ("error", None)]


def test_realtime_and_transcriptions_need_the_control_token(daemon, jfk_wav) -> None:
    from websockets.exceptions import InvalidStatus

    from stenod.net.auth import read_token

    for token, status in (("", 401), (read_token(daemon.token), 403)):
        with pytest.raises(InvalidStatus) as info:
            daemon.connect("/v1/realtime", token=token, open_timeout=10)
        assert info.value.response.status_code == status
    with pytest.raises(openai.PermissionDeniedError, match="control token"):
        _client(daemon, read_token(daemon.token)).audio.transcriptions.create(model="whisper-1",
                                                                             file=jfk_wav.open("rb"))


class _Recorder:
    """Stands in for the pipeline a session feeds: the events are pushed by the test."""

    def __init__(self, publish, language=None, vad=None) -> None:
        self.publish = publish
        self.ended = 0

    def end_utterance(self) -> None:
        self.ended += 1


class _Peer:
    """Stands in for a WebSocket: records what is sent; ``stuck`` makes sending never finish (a client that
    does not read)."""

    def __init__(self, stuck: bool = False) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.stuck = stuck
        self.remote_address = ("127.0.0.1", 1)
        self.transport = self

    async def send(self, message: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.sent.append(message)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def abort(self) -> None:
        pass


def test_deltas_are_append_only_and_the_final_completes_them() -> None:
    common = {"seq": 1, "emitted_at": 0.0, "audio_ms": 0, "utterance_id": 1}
    partial = {**common, "revision": 1, "unstable": "", "start_ms": 0, "end_ms": 900}

    async def run() -> list[dict]:
        peer = _Peer()
        session = RealtimeSession(peer, _Recorder, "tiny.en", {})  # type: ignore[arg-type]
        for event in (SpeechStart(**common, start_ms=100),
                      Partial(**partial, stable="And so", stable_text="And so"),
                      Partial(**partial, stable="And so my", stable_text="And so my"),
                      Partial(**partial, stable="And so", stable_text="And so"),  # never taken back
                      Final(**common, text="And so my fellow Americans.", raw="", words=(), language="en",
                            start_ms=100, end_ms=2000),
                      SpeechEnd(**common, start_ms=100, end_ms=2000)):
            session._on_event(session.generation, event)
        await session.outbox.flush()
        return [json.loads(m) for m in peer.sent]

    sent = asyncio.run(run())
    assert [e["type"].rsplit(".", 1)[-1] for e in sent] == [
        "speech_started", "delta", "delta", "speech_stopped", "committed", "delta", "completed"]
    assert [e["delta"] for e in sent if "delta" in e] == ["And so", " my", " fellow Americans."]
    assert sent[-1]["transcript"] == "And so my fellow Americans." and sent[-1]["usage"]["seconds"] == 1.9


def test_the_documented_examples_run_as_written(daemon, jfk_wav) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "integrations.md").read_text()
    section = doc[doc.index("## Any OpenAI client"):doc.index("## LLM clean-up hook")]
    examples = re.findall(r"```(sh|python)\n(.*?)```", section, re.S)
    assert [lang for lang, _ in examples] == ["sh", "python", "python"]
    env = {**os.environ, "XDG_RUNTIME_DIR": str(daemon.runtime.parent),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    outputs = []
    for lang, code in examples:
        code = code.replace("127.0.0.1:7767", f"127.0.0.1:{daemon.port}").replace("recording.wav", str(jfk_wav))
        command = ["bash", "-c", code] if lang == "sh" else [sys.executable, "-c", code]
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        outputs.append(run.stdout)
    srt, verbose, live = outputs
    assert srt.startswith("1\n00:00:00,") and word_error_rate([JFK], [" ".join(
        line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit())]) <= 0.15
    text, *words = verbose.splitlines()
    assert word_error_rate([JFK], [text]) <= 0.15 and words[0].split()[2] == "And" and len(words) >= 20
    assert word_error_rate([JFK], [" ".join(live.split())]) <= 0.15


def _decodes(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    return int(re.search(r"^stenod_decodes_total (\d+)$", conn.getresponse().read().decode(), re.M).group(1))


def test_a_client_that_leaves_mid_stream_leaves_no_decodes_behind(daemon, eval_dir) -> None:
    audio, _, rate = _session_audio(eval_dir)
    pcm = (np.clip(soxr.resample(audio, rate, 24000), -1, 1) * 32767).astype("<i2").tobytes()

    async def run() -> None:
        client = openai.AsyncOpenAI(api_key=daemon.token, base_url=f"http://127.0.0.1:{daemon.port}/v1")
        async with client.realtime.connect(model="whisper-1", extra_query={"intent": "transcription"}) as conn:
            for at in range(0, len(pcm), 48000):  # 42 s of speech at once: minutes of decoding queued up
                await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[at:at + 48000]).decode())
            await asyncio.wait_for(conn.recv(), timeout=10)

    before = _decodes(daemon.port)
    asyncio.run(run())
    counts = [_decodes(daemon.port)]
    while len(counts) < 4 or len(set(counts[-4:])) > 1:  # until no decode has run for 2 s
        time.sleep(0.5)
        counts.append(_decodes(daemon.port))
        assert len(counts) < 120, "the engine never went quiet"
    assert counts[-1] - before <= 3  # at most what was running when the client left


def test_metrics_count_file_transcriptions(daemon, jfk_wav) -> None:
    def count() -> int:
        health = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
        health.request("GET", "/metrics")
        metrics = health.getresponse().read().decode()
        assert "stenod_realtime_sessions 0" in metrics and "stenod_llm_refined_total 0" in metrics
        return int(re.search(r"^stenod_file_transcriptions_total (\d+)$", metrics, re.M).group(1))

    before = count()
    with open(jfk_wav, "rb") as audio:
        _client(daemon).audio.transcriptions.create(model="whisper-1", file=audio)
    assert count() == before + 1


def test_a_client_that_never_reads_is_shut_out_past_the_bound() -> None:
    from stenod.net.outbox import Outbox

    async def run() -> tuple[_Peer, Outbox]:
        peer = _Peer(stuck=True)
        outbox = Outbox(peer, limit=50)
        for n in range(60):
            outbox.put(f"event {n}")
        await outbox.flush()
        return peer, outbox

    peer, outbox = asyncio.run(run())
    assert outbox.overflowed and peer.closed == (1008, "more than 50 events unread") and peer.sent == []
