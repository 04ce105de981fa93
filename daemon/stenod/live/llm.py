"""The optional LLM clean-up hook: a final's rule-cleaned text, rewritten by an OpenAI-compatible chat endpoint.

``POST {url}/chat/completions`` (llama.cpp server, Ollama, vLLM, …) with the configured prompt as the system
message and the text as the user message, answered with ``choices[0].message.content``. The whole exchange
runs under ``llm.timeout_ms``; a timeout, a connection or HTTP error, an answer that does not parse, and an
empty or overlong answer all give the rule-cleaned text back instead. Each kind of failure is logged once
until the endpoint answers well again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import h11

from stenod import __version__
from stenod.config import LlmConfig
from stenod.net.addresses import is_loopback

log = logging.getLogger("stenod.live.llm")
MAX_BODY = 256 << 10  # bytes of response body read at most
BREAK_AFTER = 3  # timeouts or refused connections in a row before the endpoint is left alone for a while
BACKOFF_S = (10.0, 300.0)  # how long it is left alone: doubling from the first to the second
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "„": "“", "`": "`"}
_THINKING = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)
Post = Callable[[str, dict[str, Any], dict[str, str]], Awaitable[tuple[int, bytes]]]  # as post_json


class Fallback(Exception):
    """Why an answer is not used; ``kind`` names the sort of failure (for logs and counters)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


async def post_json(url: str, payload: dict[str, Any], headers: dict[str, str],
                    max_body: int = MAX_BODY) -> tuple[int, bytes]:
    """POST ``payload`` as JSON to ``url`` (http or https) over one connection: (status, body).

    Raises ``Fallback`` for a body over ``max_body``, ``h11.ProtocolError`` for a reply that is not HTTP,
    ``OSError`` when the server cannot be reached. Put a timeout around it.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    body = json.dumps(payload, ensure_ascii=False).encode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = h11.Request(method="POST", target=target, headers=[
        ("Host", parts.netloc.rpartition("@")[2]), ("User-Agent", f"stenod/{__version__}"),
        ("Content-Type", "application/json"), ("Accept", "application/json"), ("Content-Length", str(len(body))),
        ("Connection", "close"), *headers.items()])
    reader, writer = await asyncio.open_connection(host, port, ssl=True if secure else None)
    try:
        connection = h11.Connection(h11.CLIENT)
        writer.write(connection.send(request) + connection.send(h11.Data(data=body))
                     + connection.send(h11.EndOfMessage()))
        await writer.drain()
        status, received = 0, bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(1 << 16))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                received += event.data
                if len(received) > max_body:
                    raise Fallback("too_large", f"the reply is over {max_body >> 10} KiB")
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return status, bytes(received)
    except BaseException:
        writer.transport.abort()
        raise
    finally:
        writer.close()


def answer_text(body: bytes) -> str:
    """``choices[0].message.content`` of a chat completion; ``Fallback`` when there is none."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Fallback("not_json", f"the reply ({len(body)} bytes) is not JSON") from None
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        keys = ", ".join(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise Fallback("no_answer", f"the reply has no choices[0].message.content (it has: {keys})") from None
    if not isinstance(content, str):
        raise Fallback("no_answer", f"choices[0].message.content is {type(content).__name__}, not text")
    return content


def chat_payload(model: str, system: str, text: str) -> dict[str, Any]:
    """A chat completion request: the system message, then the text as the user's."""
    return {"model": model, "temperature": 0, "stream": False,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}]}


async def ask_chat(post: Post, endpoint: str, payload: dict[str, Any], headers: dict[str, str],
                   timeout_s: float, timeout_name: str) -> str:
    """The endpoint's answer (``choices[0].message.content``) within ``timeout_s``; ``Fallback`` naming the
    failure otherwise (kinds: ``timeout``, ``protocol``, ``connection``, ``http_status``, ``not_json``,
    ``no_answer``, ``too_large``)."""
    try:
        async with asyncio.timeout(timeout_s):
            status, body = await post(endpoint, payload, headers)
    except TimeoutError:
        raise Fallback("timeout", f"no answer within {timeout_name}") from None
    except h11.ProtocolError as exc:
        raise Fallback("protocol", f"not an HTTP exchange ({exc})") from None
    except OSError as exc:
        raise Fallback("connection", exc.strerror or str(exc) or type(exc).__name__) from None
    if status != 200:
        raise Fallback("http_status", f"HTTP {status}: {body[:80]!r}")
    return answer_text(body)


def accept(answer: str, text: str) -> str:
    """The model's ``answer`` tidied to stand in for ``text``; ``Fallback`` when it cannot.

    A reasoning block, whitespace and a pair of quotes around the whole answer are removed (unless the text
    itself was quoted); the text's own leading and trailing whitespace (a spoken "new line") is kept.
    """
    core = _THINKING.sub("", answer).strip()
    stripped = text.strip()
    if len(core) >= 2 and _QUOTES.get(core[0]) == core[-1] and not stripped.startswith(core[0]):
        core = core[1:-1].strip()
    if not core:
        raise Fallback("empty", "the answer is empty")
    if len(core) > 2 * len(stripped) + 40 or core.count("\n") > stripped.count("\n") + 1:
        raise Fallback("overlong", f"the answer ({len(core)} characters, {core.count(chr(10)) + 1} lines) is "
                                   f"out of proportion to the text ({len(stripped)} characters)")
    return text[:len(text) - len(text.lstrip())] + core + text[len(text.rstrip()):]


def auth_headers(config: LlmConfig) -> dict[str, str]:
    """The Bearer token from the variable ``llm.api_key_env`` names, if it is set."""
    if not config.api_key_env:
        return {}
    key = os.environ.get(config.api_key_env, "")
    if not key:
        log.warning("llm.api_key_env names %s, which is not set: sending no key", config.api_key_env)
        return {}
    return {"Authorization": f"Bearer {key}"}


def llm_cleaner_for(config: LlmConfig) -> LlmCleaner | None:
    """A cleaner for ``[llm]``, or None when it is off (no ``url``)."""
    if not config.url:
        return None
    host = urlsplit(config.url).hostname or ""
    if not is_loopback(host):
        log.warning("LLM clean-up: every final's text is sent to %s, off this machine", config.url)
    return LlmCleaner(config)


class LlmCleaner:
    """Offers each final's text to the LLM; counts what it did (``rewritten``, ``fallbacks`` by kind).

    ``post`` makes the HTTP call (``post_json``) and ``clock`` tells the time for leaving a dead endpoint
    alone (``time.monotonic``): tests give it a fake endpoint and a clock they move themselves.
    """

    def __init__(self, config: LlmConfig, post: Post = post_json, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.config = config
        self._post = post
        self._clock = clock
        self.endpoint = config.url.rstrip("/") + "/chat/completions"
        self.headers = auth_headers(config)
        self.rewritten = 0
        self.fallbacks: Counter[str] = Counter()
        self._reported: set[str] = set()
        self._unreachable = 0  # timeouts and refused connections in a row
        self._backoff = BACKOFF_S[0]
        self._resting_until = 0.0

    @property
    def fallbacks_total(self) -> int:
        return sum(self.fallbacks.values())

    async def clean(self, text: str) -> tuple[str, str]:
        """(text, step): the LLM's version and "llm", or ``text`` itself and "rules" when it fell back."""
        if not text.strip():
            return text, "rules"
        if self._clock() < self._resting_until:  # a dead endpoint must not hold every final for the timeout
            self.fallbacks["resting"] += 1
            return text, "rules"
        try:
            payload = chat_payload(self.config.model, self.config.prompt, text)
            answer = await ask_chat(self._post, self.endpoint, payload, self.headers, self.config.timeout_ms / 1000,
                                    f"{self.config.timeout_ms} ms")
            better = accept(answer, text)
        except Fallback as exc:
            if exc.kind in ("timeout", "connection"):
                self._unanswered()
            return self._fell_back(text, exc.kind, str(exc))
        self._unreachable, self._backoff = 0, BACKOFF_S[0]
        self.rewritten += 1
        if self._reported:
            log.info("LLM clean-up: %s answers again", self.endpoint)
            self._reported.clear()
        return better, "llm"

    def _unanswered(self) -> None:
        self._unreachable += 1
        if self._unreachable >= BREAK_AFTER:
            log.warning("LLM clean-up: %s did not answer %d times in a row; finals keep their rule-based text for "
                        "%.0f s before it is tried again", self.endpoint, self._unreachable, self._backoff)
            self._resting_until = self._clock() + self._backoff
            self._unreachable, self._backoff = 0, min(2 * self._backoff, BACKOFF_S[1])

    def _fell_back(self, text: str, kind: str, detail: str) -> tuple[str, str]:
        self.fallbacks[kind] += 1
        if kind not in self._reported:
            self._reported.add(kind)
            log.warning("LLM clean-up: %s: %s; publishing the rule-based text (reported once until it answers "
                        "well again)", self.endpoint, detail)
        return text, "rules"
