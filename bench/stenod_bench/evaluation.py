"""The evaluation set (``$STENOD_EVAL_DIR``) and word error rate with number-aware normalisation."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def eval_dir() -> Path:
    """``$STENOD_EVAL_DIR``, else ``../shared/eval`` beside the working directory."""
    return Path(os.environ.get("STENOD_EVAL_DIR") or Path.cwd().parent / "shared" / "eval")


@dataclass(frozen=True)
class EvalItem:
    id: str
    audio: Path
    text: str
    lang: str
    kind: str
    duration: float
    segments: list[dict] = field(default_factory=list)
    speaker: str = ""


def load_manifest(root: Path | None = None, lang: str | None = "en", kind: str | None = "utterance"
                  ) -> list[EvalItem]:
    root = root or eval_dir()
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: evaluation manifest not found (set STENOD_EVAL_DIR)")
    items = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if (lang and row["lang"] != lang) or (kind and row["kind"] != kind):
            continue
        items.append(EvalItem(row["id"], root / row["audio"], row["text"], row["lang"], row["kind"],
                              float(row["duration_s"]), row.get("segments", []), row.get("speaker") or ""))
    return items


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n:
            words.append(_ONES[n])
    elif n or not words:
        words.append(_ONES[n])
    return words


def spell_number(digits: str) -> str:
    """``"15"`` → ``fifteen``, ``"1961"`` → ``nineteen sixty one``, ``"0190"`` → digit by digit."""
    if (len(digits) > 1 and digits.startswith("0")) or len(digits) > 6:
        return " ".join(_ONES[int(d)] for d in digits)
    n = int(digits)
    if len(digits) == 4 and 1100 <= n <= 1999 and n % 100:
        return " ".join(_below_thousand(n // 100) + _below_thousand(n % 100))
    words = []
    if n >= 1000:
        words += _below_thousand(n // 1000) + ["thousand"]
        n %= 1000
        if not n:
            return " ".join(words)
    return " ".join(words + _below_thousand(n))


def normalize(text: str) -> str:
    """Lower case, digits spelled out, punctuation dropped (apostrophes inside words kept)."""
    text = text.lower().replace("%", " percent")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"\d+", lambda m: f" {spell_number(m.group())} ", text)
    text = re.sub(r"[-‐‑–—/]", " ", text)
    text = re.sub(r"[^\w\s']", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    words = ["zero" if w == "oh" else w for w in text.split()]
    return " ".join(words)


def whisper_normalize(text: str) -> str:
    """Whisper's own English normaliser (``whisper-normalizer``): numbers as digits, "mister" for "Mr.",
    American spellings, contractions expanded; the one Whisper's published WERs use."""
    from whisper_normalizer.english import EnglishTextNormalizer

    global _WHISPER_NORMALIZER
    if _WHISPER_NORMALIZER is None:
        _WHISPER_NORMALIZER = EnglishTextNormalizer()
    return str(_WHISPER_NORMALIZER(text))


_WHISPER_NORMALIZER = None


def word_error_rate(references: list[str], hypotheses: list[str], normalizer: str = "stenod") -> float:
    """Corpus WER (errors over all reference words) after :func:`normalize`, or Whisper's normaliser."""
    import jiwer

    norm = whisper_normalize if normalizer == "whisper" else normalize
    refs = [norm(r) for r in references]
    hyps = [norm(h) for h in hypotheses]
    keep = [i for i, r in enumerate(refs) if r]
    return float(jiwer.wer([refs[i] for i in keep], [hyps[i] for i in keep]))
