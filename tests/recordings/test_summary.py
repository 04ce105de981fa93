"""``--summary``: map-reduce over an OpenAI-compatible endpoint, and what a person sees when it cannot be made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stenod.config import LlmConfig
from stenod.recordings.summary import NOTES_PROMPT, PART_PROMPT, WHOLE_PROMPT, SummaryError, parts, summarise
from stenod.recordings.transcriber import Passage, Transcript
from support.chat import ChatServer, completion, user_text


def _transcript(n: int, words: int = 30) -> Transcript:
    passages = [Passage(10.0 * i, 10.0 * i + 9, f"sentence {i} " + "word " * words, f"Sentence {i} " + "word " * words)
                for i in range(n)]
    return Transcript("standup.wav", "en", 10.0 * n, passages)


def test_parts_keep_the_order_and_the_limit() -> None:
    lines = [f"line {i} " + "x" * 50 for i in range(100)]
    grouped = parts(lines, limit=1000)
    assert all(len(p) <= 1000 for p in grouped) and len(grouped) > 5
    assert "\n".join(grouped).split("\n") == lines
    assert parts(["y" * 5000], limit=1000) == ["y" * 5000]  # a line longer than the limit is a part of its own


def test_a_short_recording_is_summarised_in_one_request() -> None:
    asked: list[dict[str, Any]] = []

    async def post(url: str, payload: dict[str, Any], headers: dict[str, str]) -> tuple[int, bytes]:
        asked.append(payload)
        return 200, completion("<think>hmm</think>## Summary\nA stand-up.\n## Action items\nNone.")

    summary = summarise(_transcript(3), LlmConfig(url="http://127.0.0.1:9/v1", model="m"), post=post)
    assert summary == "## Summary\nA stand-up.\n## Action items\nNone."
    assert len(asked) == 1 and asked[0]["messages"][0]["content"] == WHOLE_PROMPT
    assert asked[0]["model"] == "m" and "[00:00:20] Sentence 2" in asked[0]["messages"][1]["content"]


def test_a_long_recording_is_mapped_then_reduced_in_order() -> None:
    asked: list[dict[str, Any]] = []

    async def post(url: str, payload: dict[str, Any], headers: dict[str, str]) -> tuple[int, bytes]:
        asked.append(payload)
        text = payload["messages"][1]["content"]
        if payload["messages"][0]["content"] == PART_PROMPT:
            return 200, completion(f"- notes on {text.splitlines()[0]}")
        return 200, completion("## Summary\nall of it")

    transcript = _transcript(400)  # about 72,000 characters
    assert summarise(transcript, LlmConfig(url="http://127.0.0.1:9/v1"), post=post) == "## Summary\nall of it"
    mapped = [a for a in asked if a["messages"][0]["content"] == PART_PROMPT]
    assert len(mapped) >= 5 and asked[-1]["messages"][0]["content"] == NOTES_PROMPT
    heads = [a["messages"][1]["content"].splitlines()[0] for a in mapped]
    assert heads == [f"Part {i} of {len(mapped)}:" for i in range(1, len(mapped) + 1)]
    assert asked[-1]["messages"][1]["content"].index("Part 1 of") < asked[-1]["messages"][1]["content"].index(
        f"Part {len(mapped)} of")
    said = "\n".join(a["messages"][1]["content"] for a in mapped)
    assert all(f"Sentence {i} " in said for i in range(400))  # every passage went into some part


@pytest.mark.parametrize("reply, expected", [
    ((500, b"overloaded"), "HTTP 500"), ((200, b"<html>"), "not JSON"), ((200, completion("  ")), "empty")])
def test_a_bad_answer_is_one_line(reply: tuple[int, bytes], expected: str) -> None:
    async def post(url: str, payload: dict[str, Any], headers: dict[str, str]) -> tuple[int, bytes]:
        return reply

    with pytest.raises(SummaryError, match=expected) as caught:
        summarise(_transcript(2), LlmConfig(url="http://127.0.0.1:9/v1"), post=post)
    assert "\n" not in str(caught.value)


def _transcribe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stenod", "transcribe", "-q", *args], capture_output=True,
                          text=True, timeout=600)


def test_the_command_writes_the_summary_beside_the_transcript(jfk_wav: Path, tmp_path: Path) -> None:
    with ChatServer() as chat:
        chat.reply = lambda request: (200, completion("## Summary\nA speech.\n## Action items\n- Ask."), 0.0)
        config = tmp_path / "config.toml"
        config.write_text(f'[llm]\nurl = "{chat.url}"\nmodel = "local"\n')
        done = _transcribe(str(jfk_wav), "--summary", "-c", str(config), "-o", str(tmp_path / "out"))
        assert done.returncode == 0, done.stderr
        assert "ask not what your country" in user_text(chat.requests[0]["json"]).lower()
        summary = (tmp_path / "out" / "whisper_jfk.summary.md").read_text()
        assert summary == "# Summary of whisper_jfk\n\n## Summary\nA speech.\n## Action items\n- Ask.\n"
        assert "fellow americans" in (tmp_path / "out" / "whisper_jfk.txt").read_text().lower()
        as_json = _transcribe(str(jfk_wav), "--summary", "-c", str(config), "--json")
        assert json.loads(as_json.stdout)["summary"].startswith("## Summary")
        refused = _transcribe(str(jfk_wav), "--summary", "-c", str(config), "-f", "srt")
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "-o DIR" in refused.stderr
    # The endpoint is gone: the transcript is still written, the failure is one line, the exit status 1.
    done = _transcribe(str(jfk_wav), "--summary", "-c", str(config))
    assert done.returncode == 1 and "fellow americans" in done.stdout.lower()
    assert done.stderr.count("\n") == 1 and "cannot connect" in done.stderr


def test_no_endpoint_configured_is_said_before_any_work(jfk_wav: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[llm]\n")
    done = _transcribe(str(jfk_wav), "--summary", "-c", str(config))
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1
    assert "[llm]" in done.stderr and "url" in done.stderr
