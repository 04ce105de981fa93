"""What a check heard, and the verdict on it: the level, the speech found, the text understood, the next step.

Pure: :func:`judge` turns a :class:`Heard` into lines to print, whether it passed, and one next step.
"""

from __future__ import annotations

from dataclasses import dataclass

from stenod.core.level import Level, show_dbfs

DEVICES = "pick another device with --device (stenod devices lists them)"


@dataclass(frozen=True)
class Heard:
    """``seconds`` of audio at ``level``; the utterances the VAD found (``speech_s`` of them kept, the others'
    reasons in ``discarded``) and the text the model made of them."""

    seconds: float
    level: Level
    utterances: int = 0
    speech_s: float = 0.0
    discarded: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    lines: tuple[str, ...]
    next_step: str


def judge(heard: Heard) -> Verdict:
    lines = (f"level:  {_level(heard.level)}", f"speech: {_speech(heard)}",
             f'heard:  "{heard.text}"' if heard.text else "heard:  nothing")
    ok = bool(heard.text)
    return Verdict(ok, lines, _next_step(heard))


def _level(level: Level) -> str:
    numbers = f"average {show_dbfs(level.rms_dbfs)}, peak {show_dbfs(level.peak_dbfs)}"
    if level.peak == 0:
        return f"silent ({numbers}: every sample is zero)"
    if level.loudness == "clipping":
        return f"clipping ({numbers}, {level.clipped:.1%} of the samples at full scale)"
    return f"{level.loudness} ({numbers})"


def _speech(heard: Heard) -> str:
    if not heard.utterances:
        return "none detected"
    kept = heard.utterances - len(heard.discarded)
    found = f"{heard.utterances} utterance{'s' if heard.utterances != 1 else ''}"
    if kept:
        found += f", {heard.speech_s:.1f} s of speech"
    if heard.discarded:
        found += f" ({len(heard.discarded)} with no text: {', '.join(sorted(set(heard.discarded)))})"
    return found


def _next_step(heard: Heard) -> str:
    level = heard.level
    if heard.seconds == 0:
        return f"the device delivered no audio: {DEVICES}"
    if heard.text:
        if level.loudness == "clipping":
            return "stenod hears you, but the input clips: lower its gain (pavucontrol, alsamixer) for better text"
        return "stenod hears you: start dictating with `stenod run` (or `systemctl --user start stenod`)"
    if level.peak == 0:
        return f"the input is silent: unmute it (pavucontrol, alsamixer, a mute key), or {DEVICES}"
    if level.loudness == "too quiet":
        return f"the input is too quiet: raise its gain or speak closer, or {DEVICES}"
    if not heard.utterances:
        return f"sound but no speech: speak while the meter runs (--seconds for longer), or {DEVICES}"
    return "speech but no words: speak closer and clearly, check --language, or try another model (--model)"
