"""A recording's summary with action items, from the ``[llm]`` endpoint (any OpenAI-compatible chat server).

A transcript that fits one request (``PART_CHARS``) is summarised at once. A longer one is cut into parts at
passage boundaries; each part becomes notes (map), and the notes, in order, become the summary (reduce),
again in rounds while the notes themselves are too long. Every part is sent with its time marks, so the
summary can say when something was said. Each request has ``llm.summary_timeout_s``; any failure is one
:class:`SummaryError` line (the transcript itself is never lost over it).
"""

from __future__ import annotations

import asyncio
import re

from stenod.config import LlmConfig
from stenod.errors import StenodError
from stenod.live.llm import Fallback, Post, ask_chat, auth_headers, chat_payload, post_json
from stenod.recordings.formats import clock
from stenod.recordings.transcriber import Transcript

PART_CHARS = 12_000  # about 3,000 tokens of transcript per request: fits the context of small local models
MAX_ROUNDS = 4
_THINKING = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)

WHOLE_PROMPT = (
    "You summarise the transcript of a recording (a meeting, a lecture, a voice memo). Lines start with their "
    "time mark [hh:mm:ss], then, when known, the speaker (S1, S2, …). Write Markdown with exactly these "
    "sections:\n"
    "## Summary\nA short paragraph or two: what it was about and what was concluded.\n"
    "## Key points\nBullets, each with the time mark where it was said.\n"
    "## Action items\nBullets: who does what, by when if it was said, with the time mark; \"None.\" if nobody "
    "committed to anything.\n"
    "Use only what the transcript says; the transcript is machine-made and may mishear words.")
PART_PROMPT = (
    "You take notes on one part of a longer recording's transcript. Lines start with their time mark "
    "[hh:mm:ss], then, when known, the speaker (S1, S2, …). Write terse bullets: the points made, decisions, "
    "and any action item (who, what, when), each with its time mark. Only what the text says; no preamble.")
NOTES_PROMPT = (
    "Below are notes on consecutive parts of one recording, in order, with time marks. Write Markdown with "
    "exactly these sections:\n"
    "## Summary\nA short paragraph or two: what it was about and what was concluded.\n"
    "## Key points\nBullets, each with the time mark where it was said.\n"
    "## Action items\nBullets: who does what, by when if it was said, with the time mark; \"None.\" if nobody "
    "committed to anything.\n"
    "Use only what the notes say.")


class SummaryError(StenodError):
    """The summary could not be made; the message says why, in one line."""


def transcript_lines(transcript: Transcript) -> list[str]:
    """One line per passage: its time mark, its speaker (with ``--speakers``) and its cleaned text."""
    return [f"[{clock(p.start)}] {p.speaker + ': ' if p.speaker else ''}{p.text}" for p in transcript.passages
            if p.text]


def parts(lines: list[str], limit: int = PART_CHARS) -> list[str]:
    """``lines`` grouped, in order, into parts of at most ``limit`` characters (a longer line is a part)."""
    out: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if out[-1] and size + len(line) + 1 > limit:
            out.append([])
            size = 0
        out[-1].append(line)
        size += len(line) + 1
    return ["\n".join(group) for group in out if group]


def check_endpoint(config: LlmConfig) -> None:
    """A :class:`SummaryError` when no endpoint is configured (said before any audio is read)."""
    if not config.url:
        raise SummaryError("--summary needs an LLM endpoint: set url in the [llm] section of the config "
                           "(an OpenAI-compatible server such as http://127.0.0.1:8080/v1)")


class Summariser:
    """Map-reduce over the endpoint; ``post`` is ``post_json`` (tests give a fake endpoint)."""

    def __init__(self, config: LlmConfig, headers: dict[str, str], post: Post = post_json) -> None:
        check_endpoint(config)
        self.config = config
        self.headers = headers
        self.endpoint = config.url.rstrip("/") + "/chat/completions"
        self._post = post
        self.requests = 0

    async def _ask(self, system: str, text: str) -> str:
        self.requests += 1
        try:
            answer = await ask_chat(self._post, self.endpoint, chat_payload(self.config.model, system, text),
                                    self.headers, self.config.summary_timeout_s,
                                    f"{self.config.summary_timeout_s} s (llm.summary_timeout_s)")
        except Fallback as exc:
            detail = f"cannot connect ({exc})" if exc.kind == "connection" else str(exc)
            raise SummaryError(f"summary: {self.endpoint}: {detail}") from None
        answer = _THINKING.sub("", answer).strip()
        if not answer:
            raise SummaryError(f"summary: {self.endpoint}: the answer is empty")
        return answer

    async def summarise(self, transcript: Transcript) -> str:
        """The summary as Markdown; empty for a transcript with no words."""
        lines = transcript_lines(transcript)
        if not lines:
            return ""
        pieces = parts(lines)
        for _ in range(MAX_ROUNDS):
            if len(pieces) == 1:
                break
            total = len(pieces)
            notes = [await self._ask(PART_PROMPT, f"Part {i} of {total}:\n\n{piece}")
                     for i, piece in enumerate(pieces, 1)]
            pieces = parts(notes)
        prompt = WHOLE_PROMPT if self.requests == 0 else NOTES_PROMPT
        return await self._ask(prompt, "\n\n".join(pieces))


def summarise(transcript: Transcript, config: LlmConfig, post: Post = post_json) -> str:
    """The summary of ``transcript`` (blocking); :class:`SummaryError` when it cannot be made."""
    return asyncio.run(Summariser(config, auth_headers(config), post).summarise(transcript))
