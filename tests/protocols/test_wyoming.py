"""Wyoming (Home Assistant) against ``stenod run --wyoming``, driven by the PyPI ``wyoming`` package's client."""

from __future__ import annotations

import asyncio
import json
import socket

import numpy as np
import pytest
import soxr
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from stenod_bench.evaluation import word_error_rate
from support.daemon import JFK, Daemon, free_port


@pytest.fixture(scope="module")
def wyoming(tmp_path_factory):
    port = free_port()
    d = Daemon(tmp_path_factory.mktemp("wyoming"), "--no-mic", "--wyoming", f"tcp://127.0.0.1:{port}")
    yield port
    d.stop()


async def _transcribe(port: int, audio: np.ndarray, rate: int, channels: int = 1, language: str = "en"
                      ) -> tuple[list, Transcript]:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, axis=1)
    data = pcm.tobytes()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language=language).event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=channels).event())
        step = 2048 * 2 * channels
        for at in range(0, len(data), step):
            chunk = AudioChunk(rate=rate, width=2, channels=channels, audio=data[at:at + step])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        streamed = []
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout=60)
            assert event is not None, "the server hung up"
            if Transcript.is_type(event.type):
                return streamed, Transcript.from_event(event)
            streamed.append(event)


def test_describe_answers_with_an_asr_program(wyoming) -> None:
    async def run() -> Info:
        async with AsyncTcpClient("127.0.0.1", wyoming) as client:
            await client.write_event(Describe().event())
            event = await asyncio.wait_for(client.read_event(), timeout=10)
            assert event is not None and Info.is_type(event.type)
            return Info.from_event(event)

    info = asyncio.run(run())
    program, = info.asr
    assert program.name == "stenod" and program.installed and program.supports_transcript_streaming
    assert program.models[0].name == "tiny.en" and program.models[0].languages == ["en"]


def test_a_dev_set_file_is_transcribed_and_streamed_append_only(wyoming, jfk_audio) -> None:
    streamed, transcript = asyncio.run(_transcribe(wyoming, jfk_audio, 16000))
    assert TranscriptStart.is_type(streamed[0].type) and TranscriptStop.is_type(streamed[-1].type)
    chunks = [TranscriptChunk.from_event(e).text for e in streamed[1:-1]]
    assert len(chunks) >= 2 and "".join(chunks) == transcript.text
    assert word_error_rate([JFK], [transcript.text]) <= 0.15


def test_other_rates_and_channels_are_resampled(wyoming, jfk_audio) -> None:
    audio = soxr.resample(jfk_audio, 16000, 44100)
    _, transcript = asyncio.run(_transcribe(wyoming, audio, 44100, channels=2))
    assert word_error_rate([JFK], [transcript.text]) <= 0.15


@pytest.mark.parametrize(("asked", "applied"), [("en-US", "en"), ("de", None)])
def test_the_requested_language_is_used_when_the_model_knows_it(wyoming, jfk_audio, asked, applied) -> None:
    _, transcript = asyncio.run(_transcribe(wyoming, jfk_audio, 16000, language=asked))
    assert transcript.language == applied
    assert word_error_rate([JFK], [transcript.text]) <= 0.15


def test_lengths_over_the_caps_are_refused_without_reading_them(wyoming) -> None:
    with socket.create_connection(("127.0.0.1", wyoming), timeout=10) as sock:
        sock.sendall(json.dumps({"type": "audio-chunk", "payload_length": 10**12}).encode() + b"\n")
        reply = sock.makefile("rb").readline()
        assert json.loads(reply)["type"] == "error"
    with socket.create_connection(("127.0.0.1", wyoming), timeout=10) as sock:
        sock.sendall(b"x" * 100_000)  # a header line with no end
        reply = sock.makefile("rb").readline()
        assert json.loads(reply)["type"] == "error"
    _, transcript = asyncio.run(_transcribe(wyoming, np.zeros(16000, np.float32), 16000))
    assert transcript.text == ""  # still serving


def test_a_unix_path_that_is_not_a_socket_is_never_removed(tmp_path) -> None:
    import asyncio

    from stenod.errors import StenodError
    from stenod.protocols.wyoming import start_wyoming

    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(StenodError, match="exists and is not a socket"):
        asyncio.run(start_wyoming(f"unix://{notes}", None, []))  # type: ignore[arg-type]
    assert notes.read_text() == "mine"
