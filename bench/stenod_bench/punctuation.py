"""``stenod bench punctuation``: spoken punctuation through the real model, with and without its aids.

Dictated sentences with spoken commands ("comma", "question mark", "new line"…) and sentences that use the
same words literally are spoken by espeak-ng in several voices and decoded as finals are (one utterance,
the full window). Each hypothesis is cleaned with spoken punctuation on, in four modes: plain, with the
command-word prompt, with the measured aliases, with both. Reported: the error rate over words and marks
against the cleaned reference, the share of the commands' marks that come out, how many literal uses stay
words, and (plain mode) what the model wrote for each command word: the data the aliases come from.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

COMMANDS = [
    "hi Lucas comma how are you question mark",
    "please send the report by Friday period",
    "dear Anna comma thanks for the quick reply period",
    "new paragraph the meeting is moved to Tuesday period",
    "is the build green question mark",
    "I need milk comma eggs comma and bread period",
    "that is amazing exclamation mark",
    "the deadline is tomorrow comma so please hurry period",
    "new line best regards comma Tom",
    "we shipped it semicolon the customers are happy period",
    "add a note colon call the bank period",
    "can you check the logs question mark new line thanks",
    "first comma second comma third period",
    "where did you put the keys question mark",
    "thank you so much exclamation mark new line see you soon period",
    "the plan has three parts colon design comma build comma and test period",
]
LITERALS = [  # the command words used as words: nothing may turn into a mark
    "the period of time was too short",
    "send me a comma separated list",
    "we launched a new line of products",
    "a comma is a small mark",
    "the question mark on the sign was faded",
]
VOICES = ("en-us", "en-us+f3", "en-gb", "en-us+m3")
MARKS = ",.?!;:"


def tokens(text: str) -> list[str]:
    """Words (lower case) and marks as separate tokens; line breaks as ``¶``."""
    text = text.replace("\n\n", " ¶ ").replace("\n", " ¶ ").lower()
    text = re.sub(rf"([{re.escape(MARKS)}])", r" \1 ", text)
    return [t for t in re.sub(r"[^\w\s¶,.?!;:']", " ", text).split() if t]


def synthesize(texts: list[str], directory: Path) -> dict[tuple[int, str], Path]:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("stenod bench punctuation: needs espeak-ng (apt-get install espeak-ng)")
    out = {}
    for index, text in enumerate(texts):
        for voice in VOICES:
            path = directory / f"{index}-{voice.replace('+', '_')}.wav"
            subprocess.run([espeak, "-v", voice, "-s", "150", "-w", str(path), text], check=True)
            out[(index, voice)] = path
    return out


def _command_words(words: list[str]) -> Counter[str]:
    return Counter(w for w in words if w in ("comma", "period", "question", "mark", "new", "line"))


def _marks_found(reference: list[str], hypothesis: list[str]) -> tuple[int, int]:
    """(marks of the reference the hypothesis has at the aligned place, marks in the reference)."""
    import jiwer

    result = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    hits = 0
    for chunk in result.alignments[0]:
        if chunk.type == "equal":
            hits += sum(1 for t in reference[chunk.ref_start_idx:chunk.ref_end_idx] if t in MARKS or t == "¶")
    return hits, sum(1 for t in reference if t in MARKS or t == "¶")


def _heard_as(spoken: str, hypothesis: str) -> list[tuple[str, str]]:
    """What each command word of ``spoken`` became in the raw ``hypothesis`` (aligned word by word)."""
    import jiwer

    ref, hyp = spoken.lower().split(), tokens(hypothesis)
    hyp = [t for t in hyp if t not in MARKS]
    result = jiwer.process_words(" ".join(ref), " ".join(hyp) or "∅")
    pairs = []
    commands = {"comma", "period", "question", "mark", "colon", "semicolon", "exclamation", "new", "line",
                "paragraph"}
    for chunk in result.alignments[0]:
        said = ref[chunk.ref_start_idx:chunk.ref_end_idx]
        if any(w in commands for w in said):
            heard = hyp[chunk.hyp_start_idx:chunk.hyp_end_idx] if chunk.type != "delete" else ["∅"]
            pairs.append((" ".join(said), " ".join(heard)))
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    import jiwer

    from stenod.audio.files import load_audio
    from stenod.core.cleanup import SPOKEN_PUNCTUATION_PROMPT, CleanupConfig, clean, spoken_punctuation
    from stenod.engine.whisper import WhisperEngine

    parser = argparse.ArgumentParser(prog="stenod bench punctuation", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--precision", default="int8", choices=["int8", "fp32"])
    args = parser.parse_args(argv)
    engine = WhisperEngine.load(args.model, args.precision)
    texts = COMMANDS + LITERALS
    prompts = {"": [], "prompt": engine.tokenizer.encode(" " + SPOKEN_PUNCTUATION_PROMPT)}
    with tempfile.TemporaryDirectory(prefix="stenod-punct-") as tmp:
        clips = {key: load_audio(path) for key, path in synthesize(texts, Path(tmp)).items()}
    raw: dict[tuple[str, int, str], str] = {}
    for name, prompt in prompts.items():
        for (index, voice), audio in clips.items():
            window = engine.decode_window(np.asarray(audio), full=True, language="en", previous=prompt)
            raw[(name, index, voice)] = engine.tokenizer.decode(window.result.tokens).strip()
    plain = CleanupConfig(spoken_punctuation=True)
    print(f"model {engine.name} {args.precision}; {len(COMMANDS)} dictated sentences and {len(LITERALS)} literal "
          f"uses, {len(VOICES)} espeak-ng voices ({', '.join(VOICES)})\n")
    print(f"{'mode':18}{'WER+marks':>10}{'marks out':>11}{'literal kept':>14}")
    for prompt_name in prompts:
        for use_aliases in (False, True):
            refs, hyps, hits, total, kept = [], [], 0, 0, 0
            for (index, voice), _ in clips.items():
                said = raw[(prompt_name, index, voice)]
                text = spoken_punctuation(said, aliases=use_aliases)
                text = clean(text, CleanupConfig())
                reference = tokens(clean(texts[index], plain))
                hypothesis = tokens(text)
                if index < len(COMMANDS):
                    refs.append(" ".join(reference))
                    hyps.append(" ".join(hypothesis) or "∅")
                    found, marks = _marks_found(reference, hypothesis)
                    hits, total = hits + found, total + marks
                else:
                    kept += _command_words(tokens(said)) == _command_words(hypothesis)
            label = " + ".join(p for p in (prompt_name, "aliases" if use_aliases else "") if p) or "plain"
            print(f"{label:18}{jiwer.wer(refs, hyps):10.3f}{hits / total:11.3f}"
                  f"{kept:>9}/{len(LITERALS) * len(VOICES)}")
    for prompt_name in prompts:
        heard: Counter[tuple[str, str]] = Counter()
        for index in range(len(COMMANDS)):
            for voice in VOICES:
                heard.update(_heard_as(COMMANDS[index], raw[(prompt_name, index, voice)]))
        misheard = [(f"{s} → {h}", n) for (s, h), n in heard.most_common() if s != h]
        print(f"\ncommand words as written ({prompt_name or 'no prompt'}), misheard: "
              + "; ".join(f"{pair} ×{n}" for pair, n in misheard[:30]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
