"""A transcript as text, Markdown, JSON, SRT or WebVTT (subtitles written with ``pysubs2``).

- ``txt``: the cleaned text (``raw``: Whisper's), a paragraph wherever the speaker paused ``PARAGRAPH_GAP_S``.
- ``md``: a title, then the same paragraphs, each after its time mark.
- ``json``: everything: cleaned and raw text, passages with times, words with times and probabilities.
- ``json`` and, with ``with_summary``, ``txt`` and ``md`` carry the ``--summary`` too.
- With ``--speakers`` a paragraph starts with its speaker ("S2: "), a json segment names it, and a cue
  where another speaker starts begins with "[S2]" (a cue never holds two).
- ``srt``, ``vtt``: cues of at most two lines of about 42 characters, 1-7 s, cut at sentences or clauses
  (Whisper's words, with its punctuation); ``karaoke`` adds each word's time inside the WebVTT cues.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pysubs2

from stenod.core.subtitles import Cue, TimedWord, build_cues
from stenod.recordings.transcriber import Passage, Transcript

FORMATS = ("txt", "json", "srt", "vtt", "md")
PARAGRAPH_GAP_S = 3.0


def clock(seconds: float, sep: str = ":") -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}{sep}{whole // 60 % 60:02d}{sep}{whole % 60:02d}"


def paragraphs(passages: list[Passage], raw: bool = False) -> list[tuple[float, str]]:
    """(start, text) per paragraph: passages joined, a new paragraph after a pause of ``PARAGRAPH_GAP_S`` or
    when another speaker talks (then the text starts with the speaker's label, "S2: …")."""
    out: list[tuple[float, list[str]]] = []
    last: Passage | None = None
    for passage in passages:
        text = passage.raw if raw else passage.text
        if not text:
            continue
        if last is None or passage.start - last.end >= PARAGRAPH_GAP_S or passage.speaker != last.speaker:
            out.append((passage.start, [f"{passage.speaker}:"] if passage.speaker else []))
        out[-1][1].append(text)
        last = passage
    return [(start, " ".join(texts)) for start, texts in out]


def _json(transcript: Transcript) -> str:
    record: dict[str, Any] = {
        "file": transcript.name, "language": transcript.language, "duration": round(transcript.duration, 3),
        "text": transcript.text, "raw_text": transcript.raw,
        "segments": [{"start": p.start, "end": p.end, "text": p.text, "raw": p.raw,
                      **({"speaker": p.speaker} if p.speaker else {}),
                      "words": [{"word": w.word, "start": w.start, "end": w.end, "probability": round(q, 4)}
                                for w, q in zip(p.words, p.probabilities)]} for p in transcript.passages]}
    if transcript.warning:
        record["warning"] = transcript.warning
    if transcript.summary:
        record["summary"] = transcript.summary
    return json.dumps(record, ensure_ascii=False) + "\n"  # one line per recording: JSON Lines on stdout


def _karaoke(cue: Cue) -> str:
    """The cue's words with a WebVTT timestamp tag before each after the first."""
    words = list(cue.words)
    parts = [words[0].word] + [f"<{_vtt_time(w.start)}>{w.word}" for w in words[1:]]
    if len(cue.lines) == 1:
        return " ".join(parts)
    first_line = len(cue.lines[0].split())
    return " ".join(parts[:first_line]) + "\\N" + " ".join(parts[first_line:])


def _vtt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _labelled(words: list[TimedWord]) -> list[TimedWord]:
    """With speakers: the speaker's label ("[S2]") as a word of its own where another speaker starts."""
    out: list[TimedWord] = []
    for word in words:
        if word.speaker and (not out or out[-1].speaker != word.speaker):
            out.append(TimedWord(f"[{word.speaker}]", word.start, word.start, word.speaker))
        out.append(word)
    return out


def _subtitles(transcript: Transcript, fmt: str, karaoke: bool) -> str:
    words = _labelled([w for p in transcript.passages for w in p.words])
    subs = pysubs2.SSAFile()
    for cue in build_cues(words):
        text = _karaoke(cue) if karaoke and fmt == "vtt" else "\\N".join(cue.lines)
        subs.append(pysubs2.SSAEvent(start=int(round(cue.start * 1000)), end=int(round(cue.end * 1000)), text=text))
    if not subs.events:
        return "WEBVTT\n\n" if fmt == "vtt" else ""
    return subs.to_string(fmt)


def render_summary(transcript: Transcript) -> str:
    """The summary as a Markdown file of its own."""
    name = Path(transcript.name).stem if transcript.name != "-" else "the recording"
    return f"# Summary of {name}\n\n{transcript.summary.strip()}\n"


def render(transcript: Transcript, fmt: str, raw: bool = False, karaoke: bool = False,
           with_summary: bool = False) -> str:
    """``with_summary``: txt and md end with the summary (json always carries it)."""
    if with_summary and transcript.summary and fmt in ("txt", "md"):
        return render(transcript, fmt, raw, karaoke) + f"\n{transcript.summary.strip()}\n"
    if fmt == "json":
        return _json(transcript)
    if fmt in ("srt", "vtt"):
        return _subtitles(transcript, fmt, karaoke)
    parts = paragraphs(transcript.passages, raw)
    if fmt == "md":
        title = f"# {Path(transcript.name).stem if transcript.name != '-' else 'Transcript'}\n\n"
        return title + "".join(f"**[{clock(start)}]** {text}\n\n" for start, text in parts)
    return "".join(f"{text}\n\n" for _, text in parts).rstrip("\n") + ("\n" if parts else "")
