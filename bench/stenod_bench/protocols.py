"""``stenod bench protocols``: the OpenAI-compatible endpoints and the LLM hook, each beside its peer.

- Files: every English dev-set utterance through ``POST /v1/audio/transcriptions`` (the ``openai`` client),
  alternating with the same engine called in this process: wall time and WER of each.
- Live: a dictation session streamed at its real pace through ``/v1/realtime`` (the ``openai`` client) and
  through ``/v1/listen``, one after the other: latency of each utterance's completed transcript or final
  against the manifest's utterance ends, and WER.
- LLM hook: JFK through ``/v1/listen`` with ``[llm]`` on (an instant local chat endpoint) and off
  (reloaded with SIGHUP), alternating: the delay between a final's creation and its arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from stenod.net.auth import session_token
from stenod_bench.daemon import wait_until_healthy
from stenod_bench.processes import stop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Echo(BaseHTTPRequestHandler):
    """A chat endpoint that answers at once with the user's text, upper-cased (so a rewrite is visible)."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        content = request["messages"][-1]["content"].upper()
        answer = {"choices": [{"message": {"role": "assistant", "content": content}}]}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Daemon:
    def __init__(self, tmp: Path, llm_url: str) -> None:
        self.port = _free_port()
        config = Path(tmp) / "config" / "stenod"
        config.mkdir(parents=True)
        self.config = config / "config.toml"
        self.llm_url = llm_url
        self.set_llm(True, reload=False)
        self.env = {**os.environ, "XDG_CONFIG_HOME": str(Path(tmp) / "config"), "XDG_RUNTIME_DIR": str(Path(tmp))}
        self.proc = subprocess.Popen([sys.executable, "-m", "stenod", "run", "--no-mic", "--listen",
                                      f"127.0.0.1:{self.port}"], env=self.env, stderr=subprocess.DEVNULL)
        wait_until_healthy(self.port, self.proc)
        self.token = session_token(self.env)

    def set_llm(self, on: bool, reload: bool = True) -> None:
        self.config.write_text(f'[llm]\nurl = "{self.llm_url if on else ""}"\ntimeout_ms = 2000\n')
        if reload:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(1.0)

    def stop(self) -> None:
        stop(self.proc)


def _files(daemon: _Daemon, rounds: int) -> None:
    import openai

    from stenod.audio.files import load_audio
    from stenod.engine.transcribe import TranscribeOptions, transcribe
    from stenod.engine.whisper import WhisperEngine
    from stenod_bench.evaluation import load_manifest, word_error_rate

    items = [i for i in load_manifest(kind="utterance") if i.lang == "en"]
    client = openai.OpenAI(api_key=daemon.token, base_url=f"http://127.0.0.1:{daemon.port}/v1", max_retries=0)
    engine = WhisperEngine.load("tiny.en", "int8")
    times: dict[str, list[float]] = {"endpoint": [], "in-process": []}
    texts: dict[str, list[str]] = {"endpoint": [], "in-process": []}

    def endpoint(path: Path) -> str:
        with open(path, "rb") as audio:
            return client.audio.transcriptions.create(model="whisper-1", file=audio).text

    def direct(path: Path) -> str:
        segments, _ = transcribe(engine, load_audio(path), TranscribeOptions(language="en"))
        return " ".join(s.text.strip() for s in segments)

    runs = {"endpoint": endpoint, "in-process": direct}
    for round_ in range(rounds):
        for n, item in enumerate(items):
            order = ["endpoint", "in-process"] if (n + round_) % 2 == 0 else ["in-process", "endpoint"]
            for name in order:
                started = time.perf_counter()
                text = runs[name](item.audio)
                times[name].append(time.perf_counter() - started)
                if round_ == 0:
                    texts[name].append(text)
    audio_s = sum(i.duration for i in items)
    refs = [i.text for i in items]
    ratios = [a / b for a, b in zip(times["endpoint"], times["in-process"])]
    print(f"files: {len(items)} English utterances ({audio_s:.0f} s of audio) x {rounds} rounds, tiny.en int8")
    for name in runs:
        print(f"  {name:11s} RTF {sum(times[name]) / (audio_s * rounds):.4f}, median "
              f"{statistics.median(times[name]) * 1000:.0f} ms per file, WER {word_error_rate(refs, texts[name]):.4f}")
    print(f"  endpoint / in-process wall time per file: median {statistics.median(ratios):.2f}x; identical text "
          f"on {sum(a == b for a, b in zip(texts['endpoint'], texts['in-process']))}/{len(items)} files")


def _paced(pcm: bytes, rate: int, chunk_s: float = 0.1) -> list[tuple[float, bytes]]:
    step = int(rate * chunk_s) * 2
    return [(i / 2 / rate + chunk_s, pcm[i:i + step]) for i in range(0, len(pcm), step)]


async def _realtime(daemon: _Daemon, audio: np.ndarray) -> list[tuple[int, int, float, str]]:
    """(start_ms, end_ms, arrival s from the stream's start, transcript) per completed item."""
    import openai
    import soxr

    pcm = (np.clip(soxr.resample(audio, 16000, 24000), -1, 1) * 32767).astype("<i2").tobytes()
    client = openai.AsyncOpenAI(api_key=daemon.token, base_url=f"http://127.0.0.1:{daemon.port}/v1")
    items: dict[str, list[Any]] = {}
    done: list[tuple[int, int, float, str]] = []
    async with client.realtime.connect(model="whisper-1", extra_query={"intent": "transcription"}) as conn:
        await conn.session.update(session={"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": {"type": "server_vad"}}}})
        started = time.monotonic()

        async def send() -> None:
            for at, chunk in _paced(pcm, 24000):
                await asyncio.sleep(max(0.0, started + at - time.monotonic()))
                await conn.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
            await conn.input_audio_buffer.append(audio=base64.b64encode(bytes(48000 * 2)).decode())

        sender = asyncio.create_task(send())
        while True:
            try:
                event = await asyncio.wait_for(conn.recv(), timeout=8 if sender.done() else 60)
            except TimeoutError:
                break
            if event.type == "input_audio_buffer.speech_started":
                items[event.item_id] = [event.audio_start_ms, 0]
            elif event.type == "input_audio_buffer.speech_stopped":
                items[event.item_id][1] = event.audio_end_ms
            elif event.type == "conversation.item.input_audio_transcription.completed":
                start, end = items[event.item_id]
                done.append((start, end, time.monotonic() - started, event.transcript))
        await sender
    return done


def _listen(daemon: _Daemon, audio: np.ndarray, paced: bool) -> list[tuple[int, int, float, str, float]]:
    """(start_ms, end_ms, arrival s from the stream's start, text, delay) per final.

    ``delay`` is how long after its creation the final arrived: the stream's ``emitted_at`` clock starts with
    its pipeline, so the smallest arrival-minus-``emitted_at`` of all its events stands for "no delay".
    """
    from websockets.sync.client import connect

    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    finals = []
    offsets: list[float] = []
    with connect(f"ws://127.0.0.1:{daemon.port}/v1/listen", max_size=None,
                 additional_headers={"Authorization": f"Bearer {daemon.token}"}) as ws:
        ws.recv(timeout=10)
        started = time.monotonic()

        def send() -> None:
            for at, chunk in _paced(pcm, 16000):
                if paced:
                    time.sleep(max(0.0, started + at - time.monotonic()))
                ws.send(chunk)
            ws.send(json.dumps({"type": "end"}))

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            while True:
                event = json.loads(ws.recv(timeout=120))
                now = time.monotonic()
                offsets.append(now - event["emitted_at"])
                if event["type"] == "final":
                    finals.append((event["start_ms"], event["end_ms"], now - started, event["text"], offsets[-1]))
        except Exception:  # the daemon closes the stream after the last final
            pass
        sender.join()
    base = min(offsets, default=0.0)
    return [(*final[:4], final[4] - base) for final in finals]


def _latencies(results: Sequence[tuple[Any, ...]], segments: list[dict]) -> list[float]:
    out = []
    for seg in segments:
        covering = [r[2] for r in results if r[0] / 1000 < seg["end_s"] and r[1] / 1000 >= seg["end_s"] - 1.0]
        if covering:
            out.append(min(covering) - seg["end_s"])
    return out


def _live(daemon: _Daemon, session: str, seconds: float) -> None:
    from stenod.audio.files import load_audio
    from stenod_bench.evaluation import load_manifest, word_error_rate

    item = next(i for i in load_manifest(kind="session") if i.id == session)
    segments = [s for s in item.segments if s["end_s"] <= seconds]
    if not segments:
        raise SystemExit(f"no utterance of {session} ends within {seconds:.0f} s: stream more (--seconds)")
    cut = max(s["end_s"] for s in segments) + 0.3
    audio = load_audio(item.audio)[:int(cut * 16000)]
    reference = " ".join(s["text"] for s in segments)
    realtime = asyncio.run(_realtime(daemon, audio))
    listen = _listen(daemon, audio, paced=True)
    print(f"\nlive: {item.id}, first {cut:.0f} s ({len(segments)} utterances) at real pace, one after the other")
    for name, results in (("/v1/realtime", realtime), ("/v1/listen", listen)):
        lat = _latencies(results, segments)
        text = " ".join(r[3] for r in results)
        print(f"  {name:12s} latency after each utterance's true end: p50 {statistics.median(lat):.2f} s, p90 "
              f"{sorted(lat)[int(0.9 * (len(lat) - 1))]:.2f} s, max {max(lat):.2f} s ({len(lat)}/{len(segments)});"
              f" WER {word_error_rate([reference], [text]):.3f}")


def _llm(daemon: _Daemon, rounds: int, jfk: Path) -> None:
    from stenod.audio.files import load_audio

    audio = load_audio(jfk)
    delays: dict[bool, list[float]] = {True: [], False: []}
    rewritten = {True: 0, False: 0}
    for round_ in range(rounds):
        for on in ((True, False) if round_ % 2 == 0 else (False, True)):
            daemon.set_llm(on)
            for final in _listen(daemon, audio, paced=False):
                delays[on].append(final[4])
                rewritten[on] += final[3].isupper()
    print(f"\nLLM hook: JFK through /v1/listen x {rounds} with [llm] on (an instant local endpoint) and off")
    for on in (True, False):
        print(f"  {'on ' if on else 'off'}: final's creation to arrival p50 "
              f"{statistics.median(delays[on]) * 1000:.1f} ms, max {max(delays[on]) * 1000:.1f} ms; "
              f"{rewritten[on]}/{len(delays[on])} finals rewritten")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stenod bench protocols", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds over the utterances (default 2)")
    parser.add_argument("--session", default="session_01_mixed_read")
    parser.add_argument("--seconds", type=float, default=125.0, help="how much of the session to stream")
    parser.add_argument("--llm-rounds", type=int, default=6)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.llm_rounds < 1:
        parser.error("--rounds and --llm-rounds must be at least 1")

    from stenod_bench.evaluation import load_manifest

    sessions = sorted(i.id for i in load_manifest(kind="session"))
    if args.session not in sessions:
        parser.error(f"no session {args.session!r} in the evaluation set (there are: {', '.join(sessions)})")
    jfk = next(i for i in load_manifest(kind="utterance") if i.id == "whisper_jfk").audio
    echo = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        daemon = _Daemon(Path(tmp), f"http://127.0.0.1:{echo.server_address[1]}/v1")
        try:
            daemon.set_llm(False)
            _files(daemon, args.rounds)
            _live(daemon, args.session, args.seconds)
            _llm(daemon, args.llm_rounds, jfk)
        finally:
            daemon.stop()
            echo.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
