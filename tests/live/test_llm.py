"""The LLM clean-up hook: the chat client against a local endpoint, the ordered stage, and the daemon with it.

The fake chat endpoint of ``support.chat`` (an OpenAI-compatible server in this process) plays llama.cpp
server, Ollama or vLLM and answers as each test tells it: well, slowly, with errors or with garbage. The
cleaner's clock is a ``FakeClock`` where the time it leaves a dead endpoint alone matters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stenod.config import Config, LlmConfig, load
from stenod.core.clock import FakeClock
from stenod.core.events import Event, Final, Partial, SpeechEnd, SpeechStart, Status
from stenod.core.fake import FakeRecognizer, LoudIsSpeech, ScriptWord
from stenod.core.pipeline import PipelineConfig
from stenod.daemon import follow_llm
from stenod.live.bus import EventBus
from stenod.live.cleanup_stage import CleanupStage
from stenod.live.decoder import DecodeService
from stenod.live.llm import BACKOFF_S, BREAK_AFTER, MAX_BODY, LlmCleaner
from stenod.live.pipeline import LivePipeline
from stenod.net.auth import Authority
from stenod.server.state import DaemonState
from stenod_bench.evaluation import word_error_rate
from support.chat import ChatServer, completion, user_text
from support.daemon import JFK, Daemon, collect, free_port, pcm, valid

DOCS = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
DOC_URL = "http://127.0.0.1:8080/v1"


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    with ChatServer() as server:
        yield server


def _cleaner(chat: ChatServer, clock: FakeClock | None = None, **kwargs: Any) -> LlmCleaner:
    config = LlmConfig(**{"url": chat.url, "model": "test-model", "prompt": "Fix it.", **kwargs})
    return LlmCleaner(config) if clock is None else LlmCleaner(config, clock=clock.now)


def _docs_toml() -> str:
    """The ```toml block under "## LLM clean-up hook" in docs/integrations.md."""
    section = DOCS.read_text().split("\n## LLM clean-up hook\n", 1)[1]
    match = re.search(r"^```toml\n(.*?)^```", section, re.DOTALL | re.MULTILINE)
    assert match, "no ```toml block under '## LLM clean-up hook' in docs/integrations.md"
    return match.group(1)


# The client ----------------------------------------------------------------------------------------------


def test_a_good_answer_replaces_the_text_and_the_request_is_the_configured_one(chat, monkeypatch) -> None:
    monkeypatch.setenv("STENOD_TEST_LLM_KEY", "sekrit")
    chat.reply = lambda request: (200, completion("Ask not what your country can do for you."), 0.0)
    cleaner = _cleaner(chat, api_key_env="STENOD_TEST_LLM_KEY")
    assert asyncio.run(cleaner.clean("ask not what your country can do for you")) == (
        "Ask not what your country can do for you.", "llm")
    request, = chat.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Authorization"] == "Bearer sekrit"
    assert request["headers"]["Host"] == chat.url.split("/")[2]
    assert request["json"] == {"model": "test-model", "temperature": 0, "stream": False, "messages": [
        {"role": "system", "content": "Fix it."},
        {"role": "user", "content": "ask not what your country can do for you"}]}
    assert (cleaner.rewritten, cleaner.fallbacks_total) == (1, 0)

    asyncio.run(_cleaner(chat).clean("no key this time"))
    assert "Authorization" not in chat.requests[-1]["headers"]


@pytest.mark.parametrize(("text", "answer", "expected"), [
    ("hello there", '  "Hello there."\n', "Hello there."),  # quotes and whitespace the model put around it
    ("Dear Sam,\n", "Dear Sam,", "Dear Sam,\n"),  # the text's own line break (a spoken "new line") stays
    ("Same text.", "Same text.", "Same text."),  # unchanged is still the LLM's answer
    ('"Stop"', '"Stop"', '"Stop"'),  # quotes the text itself had stay
    ("so um yes", "<think>\nThe user wants commas.\n</think>\n\nSo, yes.", "So, yes."),
])
def test_the_answer_is_tidied(chat, text: str, answer: str, expected: str) -> None:
    chat.reply = lambda request: (200, completion(answer), 0.0)
    assert asyncio.run(_cleaner(chat).clean(text)) == (expected, "llm")


@pytest.mark.parametrize(("status", "body", "kind"), [
    (500, b'{"error": {"message": "boom"}}', "http_status"),
    (200, b"<html>Gateway says hi</html>", "not_json"),
    (200, b'{"object": "chat.completion"}', "no_answer"),
    (200, b'{"choices": [{"message": {"content": null}}]}', "no_answer"),
    (200, completion("  \n "), "empty"),
    (200, completion('""'), "empty"),
    (200, completion("Sure! Here is the corrected text, with some thoughts on it. " * 3), "overlong"),
    (200, completion("A short\nsentence\nin\nlines."), "overlong"),
    (200, b"x" * (MAX_BODY + 1), "too_large"),
])
def test_an_unusable_answer_falls_back_to_the_rule_text(chat, status: int, body: bytes, kind: str) -> None:
    chat.reply = lambda request: (status, body, 0.0)
    cleaner = _cleaner(chat)
    assert asyncio.run(cleaner.clean("a short sentence in lines")) == ("a short sentence in lines", "rules")
    assert (cleaner.rewritten, dict(cleaner.fallbacks)) == (0, {kind: 1})


def test_a_slow_answer_falls_back_at_the_timeout(chat) -> None:
    chat.reply = lambda request: (200, completion("Too late."), 10.0)
    cleaner = _cleaner(chat, timeout_ms=300)
    started = time.monotonic()
    assert asyncio.run(cleaner.clean("too late")) == ("too late", "rules")
    assert 0.25 < time.monotonic() - started < 5.0  # the server would hold it for 10 s
    assert dict(cleaner.fallbacks) == {"timeout": 1} and len(chat.requests) == 1


def test_an_endpoint_that_keeps_timing_out_is_left_alone_for_a_while(chat) -> None:
    chat.reply = lambda request: (200, completion("Too late."), 10.0)
    clock = FakeClock()
    cleaner = _cleaner(chat, clock, timeout_ms=100)

    async def run() -> list[float]:
        took = []
        for _ in range(5):
            started = time.monotonic()
            assert await cleaner.clean("text") == ("text", "rules")
            took.append(time.monotonic() - started)
        return took

    took = asyncio.run(run())
    assert all(t >= 0.09 for t in took[:3])  # each waited for its timeout; the two after it were not sent at all
    assert dict(cleaner.fallbacks) == {"timeout": 3, "resting": 2} and len(chat.requests) == 3
    clock.advance(BACKOFF_S[0] + 1)  # the rest is over
    chat.reply = lambda request: (200, completion("Answered."), 0.0)
    assert asyncio.run(cleaner.clean("text")) == ("Answered.", "llm")


def test_the_rest_doubles_while_the_endpoint_stays_down_and_ends_when_it_answers() -> None:
    clock = FakeClock()
    down = True
    asked: list[str] = []

    async def post(url: str, payload: dict[str, Any], headers: dict[str, str]) -> tuple[int, bytes]:
        asked.append(payload["messages"][1]["content"])
        if down:
            raise ConnectionRefusedError(111, "Connection refused")
        return 200, completion("Back.")

    cleaner = LlmCleaner(LlmConfig(url="http://127.0.0.1:9/v1"), post=post, clock=clock.now)

    def clean(times: int = 1) -> list[str]:
        return [asyncio.run(cleaner.clean("text"))[1] for _ in range(times)]

    assert clean(BREAK_AFTER + 1) == ["rules"] * (BREAK_AFTER + 1) and len(asked) == BREAK_AFTER  # resting
    clock.advance(BACKOFF_S[0])
    assert clean(BREAK_AFTER + 1) == ["rules"] * (BREAK_AFTER + 1) and len(asked) == 2 * BREAK_AFTER
    clock.advance(BACKOFF_S[0])  # half of the doubled rest
    assert clean() == ["rules"] and len(asked) == 2 * BREAK_AFTER
    clock.advance(BACKOFF_S[0])
    down = False
    assert clean() == ["llm"] and len(asked) == 2 * BREAK_AFTER + 1
    assert dict(cleaner.fallbacks) == {"connection": 2 * BREAK_AFTER, "resting": 3}
    down = True  # a success starts the count and the rest afresh
    assert clean(BREAK_AFTER + 1) == ["rules"] * (BREAK_AFTER + 1) and len(asked) == 3 * BREAK_AFTER + 1
    clock.advance(BACKOFF_S[0])
    assert clean() == ["rules"] and len(asked) == 3 * BREAK_AFTER + 2


def test_a_refused_connection_falls_back() -> None:
    cleaner = LlmCleaner(LlmConfig(url=f"http://127.0.0.1:{free_port()}/v1"))
    assert asyncio.run(cleaner.clean("nobody home")) == ("nobody home", "rules")
    assert dict(cleaner.fallbacks) == {"connection": 1}


def test_a_reply_that_is_not_http_falls_back() -> None:
    async def run() -> tuple[tuple[str, str], LlmCleaner]:
        async def babble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(babble, "127.0.0.1", 0)
        cleaner = LlmCleaner(LlmConfig(url=f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"))
        async with server:
            return await cleaner.clean("hello"), cleaner

    result, cleaner = asyncio.run(run())
    assert result == ("hello", "rules") and dict(cleaner.fallbacks) == {"protocol": 1}


def test_each_kind_of_failure_is_logged_once_until_the_endpoint_recovers(chat, caplog) -> None:
    caplog.set_level(logging.INFO, logger="stenod.live.llm")
    cleaner = _cleaner(chat)
    answers = iter([(500, b"{}", 0.0)] * 3 + [(200, b"garbage", 0.0), (200, completion("Fine."), 0.0),
                                               (500, b"{}", 0.0)])
    chat.reply = lambda request: next(answers)

    async def run() -> list[str]:
        return [step for _text, step in [await cleaner.clean("fine") for _ in range(6)]]

    assert asyncio.run(run()) == ["rules"] * 4 + ["llm", "rules"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and "HTTP 500" in warnings[0] and "not JSON" in warnings[1] and "HTTP 500" in warnings[2]
    assert any("answers again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert (cleaner.rewritten, dict(cleaner.fallbacks)) == (1, {"http_status": 4, "not_json": 1})


# The configuration, as documented -------------------------------------------------------------------------


def test_the_documented_configuration_loads(tmp_path) -> None:
    block = _docs_toml()
    assert block.count(DOC_URL) == 1
    path = tmp_path / "config.toml"
    path.write_text(block.replace(DOC_URL, "http://127.0.0.1:9/v1"))
    llm = load(path).llm
    assert llm.url == "http://127.0.0.1:9/v1" and llm.model and llm.timeout_ms == 1500
    assert llm.prompt == LlmConfig().prompt and llm.api_key_env == ""
    assert Config().llm.url == ""  # off unless configured


# The ordered stage --------------------------------------------------------------------------------------


def _events() -> list[Event]:
    common = {"emitted_at": 0.0, "audio_ms": 0}
    return [SpeechStart(seq=1, **common, utterance_id=1, start_ms=0),
            Partial(seq=2, **common, utterance_id=1, revision=1, stable="one", unstable="", start_ms=0, end_ms=9,
                    stable_text="One"),
            Final(seq=3, **common, utterance_id=1, text="One slow.", raw="one slow", words=(), language="en",
                  start_ms=0, end_ms=9),
            SpeechEnd(seq=4, **common, utterance_id=1, start_ms=0, end_ms=9),
            SpeechStart(seq=5, **common, utterance_id=2, start_ms=10),
            Final(seq=6, **common, utterance_id=2, text="Two fast.", raw="two fast", words=(), language="en",
                  start_ms=10, end_ms=19),
            Partial(seq=7, **common, utterance_id=3, revision=1, stable="three", unstable="", start_ms=20,
                    end_ms=29),
            Status(seq=8, **common, state="listening")]


def test_finals_wait_for_the_llm_and_nothing_overtakes_them() -> None:
    gate = asyncio.Event()

    async def clean(text: str) -> tuple[str, str]:
        if text == "One slow.":
            await gate.wait()
        return text.upper(), "llm"

    async def run() -> tuple[list[Event], list[Event]]:
        published: list[Event] = []
        stage = CleanupStage(clean, published.append)
        for event in _events():
            stage(event)
        for _ in range(5):
            await asyncio.sleep(0)
        before = list(published)
        gate.set()
        await stage.drain()
        assert stage.pending == 0
        return before, published

    before, published = asyncio.run(run())
    assert [e.seq for e in before] == [1, 2]  # what came before the first final went straight through
    assert [e.seq for e in published] == list(range(1, 9))
    finals = [e for e in published if isinstance(e, Final)]
    assert [(f.text, f.cleaned_by, f.rules_text) for f in finals] == [
        ("ONE SLOW.", "llm", "One slow."), ("TWO FAST.", "llm", "Two fast.")]


@pytest.mark.parametrize("outcome", ["rules", "raises"])
def test_a_final_the_llm_does_not_improve_keeps_its_rule_text(outcome: str) -> None:
    async def clean(text: str) -> tuple[str, str]:
        if outcome == "raises":
            raise RuntimeError("a bug in the cleaner")
        return text, "rules"

    async def run() -> list[Event]:
        published: list[Event] = []
        stage = CleanupStage(clean, published.append)
        for event in _events():
            stage(event)
        await stage.drain()
        return published

    published = asyncio.run(run())
    assert published == _events()  # unchanged, in order, none lost
    assert all(f.cleaned_by == "rules" and f.rules_text == "" for f in published if isinstance(f, Final))


def test_with_no_llm_configured_the_stage_passes_events_straight_through() -> None:
    published: list[Event] = []
    stage = CleanupStage(None, published.append)
    for event in _events():
        stage(event)  # no event loop runs here: nothing may wait for one
    assert published == _events() and stage.pending == 0


def test_a_live_pipeline_s_finish_waits_for_the_llm() -> None:
    rate = 16000
    speech = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).astype(np.float32)
    audio = np.concatenate([np.zeros(rate // 2, np.float32), speech, np.zeros(rate, np.float32)])

    async def clean(text: str) -> tuple[str, str]:
        await asyncio.sleep(0.3)
        return f"{text} (polished)", "llm"

    async def run() -> list[Event]:
        events: list[Event] = []
        service = DecodeService(FakeRecognizer([ScriptWord("hello", 0.6, 1.2)]))
        live = LivePipeline(LoudIsSpeech(), service, PipelineConfig(partials=False), events.append,
                            clean=clean)
        for at in range(0, len(audio), 800):
            live.feed(audio[at:at + 800])
            await asyncio.sleep(0.005)
        await live.finish()
        service.close()
        return list(events)

    events = asyncio.run(run())
    finals = [e for e in events if isinstance(e, Final)]
    assert [(f.text, f.cleaned_by) for f in finals] == [("Hello (polished)", "llm")]
    assert isinstance(events[-1], SpeechEnd)


def _no_pipeline(*_args: Any, **_kwargs: Any) -> LivePipeline:
    raise AssertionError("no stream is opened in this test")


def test_a_reload_moves_the_microphone_and_new_streams_onto_the_new_llm_settings(chat) -> None:
    async def run() -> list[str]:
        published: list[Event] = []
        service = DecodeService(FakeRecognizer([]))
        state = DaemonState(Config(), Authority("t" * 43), EventBus(), service, "tiny.en", "en", _no_pipeline)
        state.mic = LivePipeline(LoudIsSpeech(), service, PipelineConfig(), published.append)
        steps = []
        for url in (chat.url, chat.url, ""):
            previous, state.config = state.config.llm, Config(llm=LlmConfig(url=url, model=f"m-{len(steps)}"))
            follow_llm(state, previous)
            assert isinstance(state.mic.publish, CleanupStage)
            assert (state.llm_cleaner is None) == (url == "")
            state.mic.publish(_events()[2])
            await state.mic.finish()
            steps.append(published[-1].cleaned_by)
        service.close()
        return steps

    assert asyncio.run(run()) == ["llm", "llm", "rules"]
    assert [r["json"]["model"] for r in chat.requests] == ["m-0", "m-1"]


# The daemon -----------------------------------------------------------------------------------------------


def _listen(daemon: Daemon, audio: np.ndarray) -> list[dict[str, Any]]:
    with daemon.connect("/v1/listen") as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        for i in range(0, len(audio), 1600):
            ws.send(pcm(audio[i:i + 1600]))
            time.sleep(0.01)
        ws.send(json.dumps({"type": "end"}))
        return valid(collect(ws, timeout=90))


def test_the_daemon_publishes_the_llm_s_finals_and_the_rule_text_when_it_stalls(tmp_path, chat, jfk_audio) -> None:
    config = tmp_path / "config" / "stenod" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(_docs_toml().replace(DOC_URL, chat.url))
    chat.reply = lambda request: (200, completion(f'"{user_text(request).upper()}"'), 0.0)
    daemon = Daemon(tmp_path, "--no-mic")
    try:
        events = _listen(daemon, jfk_audio)
        finals = [e for e in events if e["type"] == "final"]
        sent = [user_text(r["json"]) for r in chat.requests]
        assert finals and [f["rules_text"] for f in finals] == sent
        assert all(f["cleaned_by"] == "llm" and f["text"] == f["rules_text"].upper() for f in finals)
        assert word_error_rate([JFK], [" ".join(sent)]) < 0.15
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
        assert events[-1]["type"] == "speech_end"

        config.write_text(re.sub(r'(?m)^model = ".*?"', 'model = "reloaded"', config.read_text()))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for_notify("configuration reloaded")
        chat.reply = lambda request: (200, completion("Far too late."), 30.0)
        asked = len(chat.requests)
        events = _listen(daemon, jfk_audio)
        finals = [e for e in events if e["type"] == "final"]
        assert finals and all(f["cleaned_by"] == "rules" and f["rules_text"] == "" for f in finals)
        assert word_error_rate([JFK], [" ".join(f["text"] for f in finals)]) < 0.15
        # after BREAK_AFTER timeouts in a row the endpoint is left alone: later finals are not offered to it
        assert [r["json"]["model"] for r in chat.requests[asked:]] == ["reloaded"] * min(len(finals), BREAK_AFTER)
    finally:
        chat.release.set()
        daemon.stop()
