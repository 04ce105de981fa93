"""The streaming pipeline: audio frames in, events and decode requests out. Pure and synchronous.

Drive it with ``push_audio`` (any chunk size; time is counted in samples), hand each ``next_request`` to a
recogniser and return its answer with ``push_response``; call ``flush`` at the end of the stream and keep
answering requests until ``idle``. ``emitted_at`` comes from the clock it is given.

Flow per utterance: the segmenter opens it (``speech_start``); while it grows, partial hypotheses of the
whole utterance so far are requested every ``partial_step_s`` and LocalAgreement-2 commits the words two
hypotheses agree on; at the first short silence the final decode starts at once (speculatively, with the
committed words as a forced prefix); when the hangover confirms the end it is published (``final``, then
``speech_end``); if speech resumes it is dropped. One request is in flight at a time and each new one is
built from the newest audio, so a slow recogniser makes partials rarer, never a queue.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stenod.core import SAMPLE_RATE
from stenod.core.agreement import LocalAgreement, join_words
from stenod.core.buffer import AudioBuffer
from stenod.core.cleanup import CleanupConfig, clean
from stenod.core.clock import Clock
from stenod.core.commands import LINE_BREAKS, Command, Commands, CommandsConfig
from stenod.core.events import Error, Event, Final, Partial, Retract, SpeechEnd, SpeechStart, Status, WordInfo
from stenod.core.guards import GuardConfig, compression_ratio, rejection, repeated_tail
from stenod.core.numbers import unsettled_tail
from stenod.core.requests import DecodeRequest, DecodeResponse, HypWord
from stenod.core.vad import (
    FrameClassifier,
    Segmenter,
    VadConfig,
    VadEnd,
    VadEvent,
    VadPause,
    VadResume,
    VadStart,
)

KEEP_BEHIND_S = 2.0  # audio kept behind the newest sample while no utterance is open (pre-roll and onset)
RETRACTABLE = 100  # finals a run of "scratch that" can reach back to


@dataclass(frozen=True)
class PipelineConfig:
    vad: VadConfig = field(default_factory=VadConfig)
    guards: GuardConfig = field(default_factory=GuardConfig)
    cleanup: CleanupConfig = field(default_factory=CleanupConfig)
    commands: CommandsConfig = field(default_factory=lambda: CommandsConfig(enabled=False))  # spoken edits
    partials: bool = True
    first_partial_s: float = 0.1  # speech after the onset before the first partial decode
    partial_step_s: float = 0.4  # new audio between partial decodes (more if decoding is slower)
    commit_lookahead: int = 1  # LocalAgreement: words after a word before it can be committed
    commit_min_probability: float = 0.5  # LocalAgreement: least word probability (in both hypotheses) to commit
    prompt_tokens: int = 120  # tokens of earlier finals given as the prompt
    language: str | None = None  # None: the recogniser detects it
    final_retries: int = 2  # a failed final decode is tried again this many times before the text is given up
    degrade_lag_s: float = 3.0  # audio waiting for its final beyond which partial decodes stop (status degraded)
    max_backlog_s: float = 60.0  # audio waiting beyond which the oldest waiting utterances are dropped
    gap_s: float | None = None  # a pause in the audio's arrival this long (clock seconds) closes the utterance


@dataclass
class _Utterance:
    id: int
    start: int
    onset: int
    end: int | None = None
    pause: int | None = None
    agreement: LocalAgreement = field(default_factory=LocalAgreement)
    revision: int = 0
    partial_upto: int = 0
    shown: str = ""
    stable_text: str = ""  # the clean-up of committed words announced so far; the final starts with it
    stable_words: int = 0  # how many committed words stable_text covers
    final_for: int | None = None  # the end sample the final request or answer covers
    final: DecodeResponse | None = None
    final_errors: int = 0
    reported_error: bool = False
    discarded: str = ""


@dataclass
class _InFlight:
    request: DecodeRequest
    covers: int
    issued_at: float


def _ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


class Pipeline:
    """One audio stream's streaming transcription, sans I/O: audio and decode answers in, events out.

    Call :meth:`push_audio` with each block of 16 kHz samples as it arrives; it returns the events it caused
    (``speech_start``, ``partial``, ``final``, ``speech_end``, ``error``). Then ask :meth:`next_request`: when it
    returns a :class:`DecodeRequest`, run it on a recogniser (at most one at a time) and hand the answer to
    :meth:`push_response`, which returns the events it caused in turn; ask again until it returns None. Call
    :meth:`flush` to close the utterance in progress (a pause, the end of the stream), then keep answering
    requests until :attr:`idle`. Times come from the ``clock`` it is given, never from the wall.
    """

    def __init__(self, classifier: FrameClassifier, clock: Clock, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        self.clock = clock
        self.segmenter = Segmenter(classifier, self.config.vad)
        self.buffer = AudioBuffer()
        self.received = 0
        self.requests_made = 0
        self._seq = 0
        self._utterances: deque[_Utterance] = deque()
        self._by_id: dict[int, _Utterance] = {}
        self._next_utterance = 1
        self._in_flight: _InFlight | None = None
        self._prompt: list[int] = []
        self.commands = Commands(self.config.commands)
        self._spoken: deque[tuple[int, int]] = deque(maxlen=RETRACTABLE)  # finals kept: (utterance, prompt tokens)
        self._partial_cost = 0.0  # seconds the last partial decode took
        self._last_push: float | None = None
        self.degraded = False

    # Inputs ------------------------------------------------------------------------------
    def push_audio(self, samples: np.ndarray) -> list[Event]:
        """Take the next audio; with ``gap_s``, a long wait since the last call first closes the utterance
        (the machine slept, or the device stalled: what comes now does not continue what was said)."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        now = self.clock.now()
        events: list[Event] = []
        if self.config.gap_s is not None and self._last_push is not None and now - self._last_push > self.config.gap_s:
            events += self.flush()
        self._last_push = now
        self.buffer.append(samples)
        self.received += len(samples)
        events += self._vad(self.segmenter.push(samples))
        events += self._check_backlog()
        keep = self._utterances[0].start if self._utterances else self.received - int(KEEP_BEHIND_S * SAMPLE_RATE)
        self.buffer.trim(keep)
        return events

    def flush(self) -> list[Event]:
        """End of stream: close the open utterance; its final still needs its request answered."""
        return self._vad(self.segmenter.flush())

    def push_response(self, response: DecodeResponse) -> list[Event]:
        pending = self._in_flight
        if pending is None or pending.request.id != response.request_id:
            return []  # not the request in flight: a stale or unknown answer
        self._in_flight = None
        request = pending.request
        utterance = self._by_id.get(request.utterance_id)
        events: list[Event] = []
        if response.error and (utterance is None or not utterance.reported_error):
            events.append(self._event(Error, code="engine", message=response.error))  # once per utterance
            if utterance is not None:
                utterance.reported_error = True
        if utterance is None or utterance.discarded:
            return events
        if request.final and response.error and utterance.final_errors < self.config.final_retries:
            utterance.final_errors += 1  # a transient failure must not cost the words: the same audio again
            utterance.final_for = None
            return events
        if request.final:
            if utterance.pause == pending.covers or utterance.end == pending.covers:
                # Kept even when it failed: the same audio is not decoded again (a failing engine would
                # be asked over and over); the utterance is then closed without text.
                utterance.final_for, utterance.final = pending.covers, response
            else:
                utterance.final_for = None  # speech came back: this final is stale
            return events + self._publish_ready()
        self._partial_cost = self.clock.now() - pending.issued_at
        if not response.error:
            events.extend(self._partial(utterance, response, request))
        return events

    def next_request(self) -> DecodeRequest | None:
        """The decode to run now, or None (one is in flight, or nothing needs decoding)."""
        if self._in_flight is not None:
            return None
        for utterance in self._utterances:
            if utterance.discarded:
                continue
            target = utterance.end if utterance.end is not None else utterance.pause
            if target is not None:
                if utterance.final_for != target:
                    return self._request(utterance, final=True, end=target)
                if utterance.end is not None:
                    continue  # answered; waiting to be published in order
                return None
            if self._partial_due(utterance):
                return self._request(utterance, final=False, end=self.received)
            return None
        return None

    def status(self, state: str, message: str = "") -> Event:
        return self._event(Status, state=state, message=message)

    @property
    def idle(self) -> bool:
        """Nothing open, nothing waiting for a decode."""
        return not self._utterances and self._in_flight is None and not self.segmenter.in_speech

    @property
    def in_flight(self) -> DecodeRequest | None:
        return self._in_flight.request if self._in_flight else None

    # Internals ---------------------------------------------------------------------------
    def _event(self, cls: type[Event], **fields: Any) -> Event:
        self._seq += 1
        return cls(seq=self._seq, emitted_at=self.clock.now(), audio_ms=_ms(self.received), **fields)

    def _vad(self, vad_events: list[VadEvent]) -> list[Event]:
        events: list[Event] = []
        for ev in vad_events:
            if isinstance(ev, VadStart):
                utterance = _Utterance(self._next_utterance, ev.start, ev.onset, partial_upto=ev.start,
                                       agreement=LocalAgreement(self.config.commit_lookahead,
                                                                self.config.commit_min_probability))
                self._next_utterance += 1
                self._utterances.append(utterance)
                self._by_id[utterance.id] = utterance
                events.append(self._event(SpeechStart, utterance_id=utterance.id, start_ms=_ms(ev.start)))
                continue
            utterance = self._utterances[-1]
            if isinstance(ev, VadPause):
                utterance.pause = ev.at
            elif isinstance(ev, VadResume):
                utterance.pause = None
            elif isinstance(ev, VadEnd):
                utterance.end = ev.end
                utterance.pause = None
                if ev.speech_ms < self.config.vad.min_speech_ms:
                    utterance.discarded = "too_short"
                events.extend(self._publish_ready())
        return events

    def backlog_s(self) -> float:
        """How late finals are: seconds of audio since the end of the oldest utterance still waiting for one."""
        waiting = next((u for u in self._utterances if not u.discarded and u.end is not None), None)
        return 0.0 if waiting is None or waiting.end is None else (self.received - waiting.end) / SAMPLE_RATE

    def _check_backlog(self) -> list[Event]:
        """Slower than speech: stop partials, and past the limit drop the oldest waiting utterances."""
        events: list[Event] = []
        in_flight = self._in_flight.request.utterance_id if self._in_flight else None
        while self.backlog_s() > self.config.max_backlog_s:
            victim = next((u for u in self._utterances if not u.discarded and u.end is not None
                           and u.id != in_flight), None)
            if victim is None:
                break
            victim.discarded = "overload"
            events += self._publish_ready()
        backlog = self.backlog_s()
        if not self.degraded and backlog > self.config.degrade_lag_s:
            self.degraded = True
            events.append(self._event(Status, state="degraded",
                                      message=f"decoding is {backlog:.1f} s behind speech: partials paused"))
        elif self.degraded and backlog < self.config.degrade_lag_s / 2:
            self.degraded = False
            events.append(self._event(Status, state="listening", message="decoding caught up"))
        return events

    def _partial_due(self, utterance: _Utterance) -> bool:
        if not self.config.partials or self.degraded:
            return False
        if utterance.partial_upto == utterance.start:  # none yet
            return self.received - utterance.onset >= self.config.first_partial_s * SAMPLE_RATE
        step = max(self.config.partial_step_s, 1.25 * self._partial_cost)
        return self.received - utterance.partial_upto >= step * SAMPLE_RATE

    def _request(self, utterance: _Utterance, *, final: bool, end: int) -> DecodeRequest:
        self.requests_made += 1
        request = DecodeRequest(id=self.requests_made, utterance_id=utterance.id, final=final,
                                audio=self.buffer.slice(utterance.start, end), offset=utterance.start,
                                prefix=utterance.agreement.prefix_tokens,
                                prompt=self._prompt_tokens(),
                                language=self.config.language)
        if final:
            utterance.final_for, utterance.final = end, None
        else:
            utterance.partial_upto = end
        self._in_flight = _InFlight(request, end, self.clock.now())
        return request

    def _prompt_tokens(self) -> tuple[int, ...]:
        return tuple(self._prompt[-self.config.prompt_tokens:]) if self.config.prompt_tokens else ()

    def _words(self, utterance: _Utterance, response: DecodeResponse) -> list[HypWord]:
        """The answer's words, after the committed ones, with a phrase said twice in a row cut off."""
        committed = utterance.agreement.committed
        prefix = utterance.agreement.prefix_tokens
        words = list(response.words)
        # The answer's words may be split differently (punctuation merged), but its tokens start with the prefix.
        if tuple(t for w in words for t in w.tokens)[:len(prefix)] != prefix:
            words = [*committed, *words]
        kept = repeated_tail([w.text for w in words])
        while kept < len(words) and sum(len(w.tokens) for w in words[:kept]) < len(prefix):
            kept += 1  # never trim into the committed words
        return words[:kept]

    def _rejection(self, response: DecodeResponse, words: list[HypWord], seconds: float) -> str:
        text = join_words(words)
        ratio = response.compression_ratio if len(words) == len(response.words) else compression_ratio(text)
        return rejection(text, [w.text for w in words], no_speech_prob=response.no_speech_prob,
                         avg_logprob=response.avg_logprob, compression_ratio=ratio, seconds=seconds,
                         config=self.config.guards)

    def _partial(self, utterance: _Utterance, response: DecodeResponse, request: DecodeRequest) -> list[Event]:
        words = self._words(utterance, response)
        if utterance.end is not None or self._rejection(response, words, request.seconds):
            return []
        utterance.agreement.update(words)
        stable = join_words(utterance.agreement.committed)
        unstable = join_words(utterance.agreement.unstable())
        if (stable, unstable) == ("", "") or f"{stable}\0{unstable}" == utterance.shown:
            return []
        utterance.shown = f"{stable}\0{unstable}"
        utterance.revision += 1
        self._advance_stable_text(utterance)
        return [self._event(Partial, utterance_id=utterance.id, revision=utterance.revision, stable=stable,
                            unstable=unstable, stable_text=utterance.stable_text, start_ms=_ms(utterance.start),
                            end_ms=_ms(request.offset + len(request.audio)))]

    def _advance_stable_text(self, utterance: _Utterance) -> None:
        """Extend the cleaned committed text, never changing what was announced.

        The last few committed words are held back: clean-up of a word can depend on the words after it
        (a stutter, "new line", a filler's comma), so only text that no later word can change is announced.
        """
        cleanup = self.config.cleanup
        longest = max((len(k.split()) for k in cleanup.replacements), default=1)
        hold = max(3 if cleanup.spoken_punctuation else 1, longest)
        committed = utterance.agreement.committed
        said = [w.text for w in committed]
        settled = max(0, len(committed) - max(hold, self.commands.pending(said)))
        if cleanup.numbers:  # "twenty" may yet become part of "25"
            settled -= unsettled_tail(said[:settled])
        if settled <= utterance.stable_words:
            return
        candidate = clean(join_words(committed[:settled]), self.config.cleanup)
        if candidate.startswith(utterance.stable_text):
            utterance.stable_text, utterance.stable_words = candidate, settled

    def _final_text(self, utterance: _Utterance, words: list[HypWord]) -> str:
        """The cleaned final text, which always starts with the stable text the partials announced."""
        text = clean(join_words(words), self.config.cleanup)
        announced = utterance.stable_text
        if text.startswith(announced):
            return text
        rest = clean(join_words(words[utterance.stable_words:]), self.config.cleanup)
        first = join_words(words[utterance.stable_words:utterance.stable_words + 1])
        head = rest.split(" ", 1)[0]
        if (rest and first[:1].islower() and head[1:] == head[1:].lower()
                and not announced.rstrip(" ").endswith((".", "!", "?", "\n"))):
            rest = rest[0].lower() + rest[1:]  # clean-up capitalised it as if it began a sentence
        joiner = "" if not rest or rest[0] in ",.;:!?)" or announced.endswith(("\n", " ")) else " "
        return announced + joiner + rest

    def _publish_ready(self) -> list[Event]:
        """Publish closed utterances in order, as far as their finals are in."""
        events: list[Event] = []
        while self._utterances and self._utterances[0].end is not None:
            utterance = self._utterances[0]
            assert utterance.end is not None
            if not utterance.discarded:
                if utterance.final is None or utterance.final_for != utterance.end:
                    break
                events.extend(self._final(utterance, utterance.final))
            events.append(self._event(SpeechEnd, utterance_id=utterance.id, start_ms=_ms(utterance.start),
                                      end_ms=_ms(utterance.end), discarded=utterance.discarded))
            self._utterances.popleft()
            del self._by_id[utterance.id]
        return events

    def _final(self, utterance: _Utterance, response: DecodeResponse) -> list[Event]:
        assert utterance.end is not None
        if response.error:
            utterance.discarded = "error"
            return []
        words = self._words(utterance, response)  # a final always extends what was committed
        reason = self._rejection(response, words, (utterance.end - utterance.start) / SAMPLE_RATE)
        if reason:
            utterance.discarded = reason
            return []
        command = self.commands.recognise([w.text for w in words])
        if command is not None and command.kind == "retract":
            return self._retract(utterance, command)
        text = self._command_text(utterance, words, command)
        if text.strip() or "\n" in text:  # a final that shows nothing ("Um.") is nothing to take back or prompt
            tokens = [t for w in words for t in w.tokens]
            self._prompt = [*self._prompt, *tokens][-max(self.config.prompt_tokens, 1):]
            self._spoken.append((utterance.id, len(tokens)))
        return [self._event(Final, utterance_id=utterance.id, text=text, raw=join_words(words),
                            words=tuple(self._word(w, utterance.start) for w in words if w.text.strip()),
                            language=response.language, start_ms=_ms(utterance.start), end_ms=_ms(utterance.end))]

    def _command_text(self, utterance: _Utterance, words: list[HypWord], command: Command | None) -> str:
        """The final's text: the cleaned words, with a line-break command made a break and "literal" dropped."""
        if command is None:
            return self._final_text(utterance, words)
        if command.kind in LINE_BREAKS:
            before = words[:command.start]
            return (self._final_text(utterance, before) if before else "") + LINE_BREAKS[command.kind]
        # "literal new line" is spoken punctuation's own business when that is on: it keeps the words itself
        punctuation = self.config.cleanup.spoken_punctuation and command.phrase in (
            *self.config.commands.new_line, *self.config.commands.new_paragraph)
        drop = 0 if punctuation else len(self.commands.literal)
        return self._final_text(utterance, words[:command.start] + words[command.start + drop:])

    def _retract(self, utterance: _Utterance, command: Command) -> list[Event]:
        """A retract command: as the whole utterance it withdraws the previous final, at its end this one."""
        utterance.discarded = "command"
        if not command.whole:
            target = utterance.id
        elif self._spoken:
            target, tokens = self._spoken.pop()
            del self._prompt[max(0, len(self._prompt) - tokens):]  # the withdrawn words no longer prompt
        else:
            return []
        return [self._event(Retract, utterance_id=target, command=command.phrase,
                            command_utterance_id=utterance.id)]

    @staticmethod
    def _word(word: HypWord, offset: int) -> WordInfo:
        base = _ms(offset)
        start = base + int(round((word.start or 0.0) * 1000))
        end = base + int(round((word.end if word.end is not None else word.start or 0.0) * 1000))
        return WordInfo(word=word.text.strip(), start_ms=start, end_ms=max(start, end), probability=word.probability)
