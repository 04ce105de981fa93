"""The pipeline with a scripted recogniser and a fake clock: invariants, guards, backlog, speculation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stenod.audio.silero import SileroClassifier
from stenod.core import SAMPLE_RATE
from stenod.core.agreement import LocalAgreement
from stenod.core.cleanup import CleanupConfig
from stenod.core.clock import FakeClock
from stenod.core.events import Error, Final, Partial, SpeechEnd, SpeechStart
from stenod.core.fake import FakeRecognizer, LoudIsSpeech, ScriptWord, script_from_segments, token_ids
from stenod.core.pipeline import Pipeline, PipelineConfig
from stenod.core.requests import DecodeResponse, HypWord
from stenod.core.vad import VadConfig
from stenod.live.files import run_fast


def _script(session: dict) -> list[ScriptWord]:
    return script_from_segments((s["start_s"], s["end_s"], s["text"]) for s in session["segments"])


def _finals(events) -> list[str]:
    return [e.raw for e in events if isinstance(e, Final)]


def _words(text: str) -> list[str]:
    return [w.strip(".,;:!?").lower() for w in text.split() if w.strip(".,;:!?")]


def check_invariants(events) -> None:
    """seq strictly increases; utterances open and close in order; committed text only grows; finals extend it."""
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1
    assert all(a.emitted_at <= b.emitted_at for a, b in itertools.pairwise(events))
    open_id = None
    stable: list[str] = []
    stable_text = ""
    for event in events:
        if isinstance(event, SpeechStart):
            assert open_id is None
            open_id, stable, stable_text = event.utterance_id, [], ""
        elif isinstance(event, Partial):
            assert event.utterance_id == open_id
            now = _words(event.stable)
            assert now[:len(stable)] == stable, "a committed word changed"
            assert event.stable_text.startswith(stable_text), "the stable text changed"
            stable, stable_text = now, event.stable_text
        elif isinstance(event, Final):
            assert event.utterance_id == open_id
            assert _words(event.raw)[:len(stable)] == stable, "the final does not extend the committed words"
            assert event.text.startswith(stable_text), "the final does not extend the stable text"
        elif isinstance(event, SpeechEnd):
            assert event.utterance_id == open_id
            open_id = None
    assert open_id is None


@pytest.fixture(scope="module")
def session_02(sessions) -> dict:
    return sessions["session_02_commands_numbers"]


def test_a_session_streams_partials_and_finals(session_02) -> None:
    recognizer = FakeRecognizer(_script(session_02))
    stats = run_fast(session_02["samples"], recognizer, SileroClassifier())
    events = stats.events
    check_invariants(events)
    finals = [e for e in events if isinstance(e, Final)]
    assert len(finals) >= 10
    heard = [w for e in finals for w in _words(e.raw)]
    reference = [w for s in session_02["segments"] for w in _words(s["text"])]
    assert len(heard) >= 0.8 * len(reference)
    assert set(heard) <= set(reference)
    assert sum(bool(isinstance(e, Partial) and e.stable) for e in events) >= 10  # words get committed while speaking
    hangover = VadConfig().hangover_ms / 1000
    for final in finals:  # the recogniser is instant here: the final comes with the end decision
        assert final.emitted_at - final.end_ms / 1000 <= hangover + 0.05
        assert final.text[0].isupper()
        assert all(final.start_ms <= w.start_ms <= w.end_ms <= final.end_ms + 50 for w in final.words)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk_ms=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=5))
def test_chunking_does_not_change_the_finals(session_02, chunk_ms: list[int]) -> None:
    audio = session_02["samples"][: 12 * SAMPLE_RATE]
    script = _script(session_02)
    reference = run_fast(audio, FakeRecognizer(script), SileroClassifier()).events
    pipeline = Pipeline(SileroClassifier(), FakeClock())
    recognizer = FakeRecognizer(script)
    events = []
    at, i = 0, 0
    while at < len(audio):
        size = chunk_ms[i % len(chunk_ms)] * SAMPLE_RATE // 1000
        i += 1
        events += pipeline.push_audio(audio[at:at + size])
        at += size
        if (request := pipeline.next_request()) is not None:
            events += pipeline.push_response(recognizer(request))
    events += pipeline.flush()
    while (request := pipeline.next_request()) is not None:
        events += pipeline.push_response(recognizer(request))
    assert pipeline.idle
    check_invariants(events)
    assert _finals(events) == _finals(reference)


def test_no_decode_on_silence_or_noise(sessions) -> None:
    rng = np.random.default_rng(1)
    minute = (rng.standard_normal(60 * SAMPLE_RATE) * 10 ** (-70 / 20)).astype(np.float32)
    noise = sessions["session_01_mixed_read_noisy_snr12"]["samples"] - sessions["session_01_mixed_read"]["samples"]
    for audio in (minute, np.zeros(60 * SAMPLE_RATE, np.float32), noise):
        recognizer = FakeRecognizer([], hallucination="Thank you.")
        stats = run_fast(audio, recognizer, SileroClassifier())
        assert recognizer.calls == []
        assert [e.type for e in stats.events] == ["status", "status"]  # listening, finished: nothing else


def test_a_low_confidence_canned_phrase_gives_no_final(session_02) -> None:
    audio = session_02["samples"][: 6 * SAMPLE_RATE]
    recognizer = FakeRecognizer([], hallucination="Thank you.")  # hears nothing but says "Thank you."
    events = run_fast(audio, recognizer, SileroClassifier()).events
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    assert recognizer.calls and ends
    assert not [e for e in events if isinstance(e, (Final, Partial))]
    assert {e.discarded for e in ends} == {"hallucination"}


def _tone(seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def test_the_final_is_decoded_during_the_hangover_and_dropped_if_speech_resumes() -> None:
    script = [ScriptWord("one", 0.5, 1.0), ScriptWord("two", 1.0, 1.5), ScriptWord("three", 1.8, 2.4)]
    recognizer = FakeRecognizer(script)
    pipeline = Pipeline(LoudIsSpeech(), FakeClock(), PipelineConfig(partials=False))
    events = pipeline.push_audio(np.concatenate([np.zeros(8000, np.float32), _tone(1.0), np.zeros(4800, np.float32)]))
    request = pipeline.next_request()
    assert request is not None and request.final  # a 300 ms pause: the final starts before the end is sure
    events += pipeline.push_response(recognizer(request))
    assert not [e for e in events if isinstance(e, Final)]  # not published: the hangover has not run out
    events += pipeline.push_audio(np.concatenate([_tone(0.6), np.zeros(16000, np.float32)]))  # speech resumes
    request = pipeline.next_request()
    assert request is not None and request.final and request.seconds > 2.0
    events += pipeline.push_response(recognizer(request))
    assert _finals(events) == ["one two three"]  # the speculative "one two" was dropped


def test_a_speculative_final_is_published_the_moment_the_end_is_confirmed() -> None:
    clock = FakeClock()
    recognizer = FakeRecognizer([ScriptWord("hello", 0.5, 1.4)])
    pipeline = Pipeline(LoudIsSpeech(), clock, PipelineConfig(partials=False))
    pipeline.push_audio(np.concatenate([np.zeros(8000, np.float32), _tone(1.0), np.zeros(1600, np.float32)]))
    request = pipeline.next_request()
    assert request is not None and request.final
    assert pipeline.push_response(recognizer(request)) == []
    clock.set(2.0)
    events = pipeline.push_audio(np.zeros(8000, np.float32))
    assert [type(e) for e in events] == [Final, SpeechEnd]
    assert events[0].raw == "hello" and events[0].emitted_at == 2.0


def test_a_slow_recogniser_never_builds_a_queue() -> None:
    pipeline = Pipeline(LoudIsSpeech(), FakeClock())
    recognizer = FakeRecognizer([ScriptWord(f"w{i}", 0.5 + i * 0.5, 1.0 + i * 0.5) for i in range(20)])
    pipeline.push_audio(np.zeros(8000, np.float32))
    first = None
    for _ in range(100):  # 10 s of speech in 100 ms blocks while the first decode is still running
        pipeline.push_audio(_tone(0.1))
        request = pipeline.next_request()
        if first is None:
            first = request
        else:
            assert request is None
    assert first is not None and pipeline.requests_made == 1
    pipeline.push_response(recognizer(first))
    latest = pipeline.next_request()
    assert latest is not None and latest.offset + len(latest.audio) == pipeline.received  # coalesced to now
    assert pipeline.requests_made == 2


def test_an_engine_failure_is_reported_and_the_stream_goes_on() -> None:
    script = [ScriptWord("first", 0.5, 1.4), ScriptWord("second", 2.6, 3.4)]
    working = FakeRecognizer(script)
    calls = []

    def flaky(request):
        calls.append(request)
        if request.utterance_id == 1:
            return DecodeResponse(request.id, (), error="RuntimeError: out of memory")
        return working(request)

    audio = np.concatenate([np.zeros(8000, np.float32), _tone(1.0), np.zeros(16000, np.float32), _tone(1.0),
                            np.zeros(16000, np.float32)])
    events = run_fast(audio, flaky, LoudIsSpeech()).events
    check_invariants(events)
    errors = [e for e in events if isinstance(e, Error)]
    assert errors and "out of memory" in errors[0].message
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    assert ends[0].discarded == "error"
    assert _finals(events) == ["second"]


def test_stale_or_unknown_answers_are_ignored() -> None:
    pipeline = Pipeline(LoudIsSpeech(), FakeClock())
    assert pipeline.push_response(DecodeResponse(99, ())) == []


# LocalAgreement-2 on its own ---------------------------------------------------------------------------

WORDS = [" a", " b", " c", " d", " e"]


def _hyp(texts: list[str]) -> list[HypWord]:
    return [HypWord(t, token_ids(t)) for t in texts]


@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=8), min_size=1, max_size=12))
def test_committed_words_only_grow_and_each_was_agreed_by_two_hypotheses(hypotheses: list[list[str]]) -> None:
    agreement = LocalAgreement()
    previous: list[str] | None = None
    for texts in hypotheses:
        committed_before = [w.text for w in agreement.committed]
        forced = committed_before + texts  # the recogniser is forced to start with the committed words
        newly = agreement.update(_hyp(forced))
        committed = [w.text for w in agreement.committed]
        assert committed[:len(committed_before)] == committed_before
        assert [w.text for w in newly] == committed[len(committed_before):]
        if newly:
            assert previous is not None
            assert forced[:len(committed)] == previous[:len(committed)]
            assert len(forced) > len(committed)  # the last word of a hypothesis is never committed
        previous = forced


def test_agreement_commits_the_common_prefix() -> None:
    agreement = LocalAgreement()
    assert agreement.update(_hyp([" the", " cat", " sa"])) == []
    assert [w.text for w in agreement.update(_hyp([" the", " cat", " sat", " on"]))] == [" the", " cat"]
    assert [w.text for w in agreement.unstable()] == [" sat", " on"]
    assert agreement.prefix_tokens == token_ids(" the") + token_ids(" cat")
    assert agreement.update(_hyp([" a", " dog"])) == []  # the prefix was not kept: nothing more is committed
    assert [w.text for w in agreement.committed] == [" the", " cat"]


def test_a_final_whose_words_are_split_differently_extends_the_committed_words_once() -> None:
    numbers = ("one", "two", "three", "four", "five", "six")
    script = [ScriptWord(w, 0.5 + 0.3 * i, 0.8 + 0.3 * i) for i, w in enumerate(numbers)]
    plain = FakeRecognizer(script)

    def merging(request):  # finals come back with pairs of words merged, as punctuation merging does
        response = plain(request)
        if not request.final:
            return response
        words = list(response.words)
        merged = [HypWord(a.text + b.text, a.tokens + b.tokens, 0.9, a.start, b.end)
                  for a, b in zip(words[::2], words[1::2])] + words[len(words) // 2 * 2:]
        return DecodeResponse(response.request_id, tuple(merged))

    audio = np.concatenate([np.zeros(8000, np.float32), _tone(1.9), np.zeros(16000, np.float32)])
    events = run_fast(audio, merging, LoudIsSpeech()).events
    assert any(isinstance(e, Partial) and e.stable for e in events)
    check_invariants(events)
    assert [e.raw for e in events if isinstance(e, Final)] == ["one two three four five six"]


def test_a_word_is_not_committed_before_a_continuation_of_it() -> None:
    agreement = LocalAgreement()
    agreement.update(_hyp([" an", " ill", "-dis"]))
    agreement.update(_hyp([" an", " ill", "-disposed", " man"]))
    assert [w.text for w in agreement.committed] == [" an"]  # "ill" goes on as "-disposed"


def test_unsure_words_and_the_lookahead_hold_commits_back() -> None:
    unsure = LocalAgreement(min_probability=0.5)
    shaky = [HypWord(" the", token_ids(" the"), 0.9), HypWord(" cat", token_ids(" cat"), 0.3),
             HypWord(" sat", token_ids(" sat"), 0.9), HypWord(" on", token_ids(" on"), 0.9)]
    unsure.update(shaky)
    assert [w.text for w in unsure.update(shaky)] == [" the"]  # "cat" is agreed but unsure: it waits
    patient = LocalAgreement(lookahead=2)
    patient.update(_hyp([" the", " cat", " sat"]))
    assert [w.text for w in patient.update(_hyp([" the", " cat", " sat"]))] == [" the"]


def test_a_failing_final_is_retried_a_bounded_number_of_times_and_reported_once() -> None:
    calls = []

    def broken(request):
        calls.append(request)
        return DecodeResponse(request.id, (), error="RuntimeError: broken")

    audio = np.concatenate([np.zeros(8000, np.float32), _tone(1.0), np.zeros(16000, np.float32)])
    events = run_fast(audio, broken, LoudIsSpeech(), PipelineConfig(partials=False)).events
    assert len(calls) == 1 + PipelineConfig().final_retries  # then given up: no hot loop on a dead engine
    assert [e.type for e in events if e.type != "status"] == ["speech_start", "error", "speech_end"]
    assert events[-2].discarded == "error"


def test_a_transient_engine_failure_does_not_lose_the_utterance() -> None:
    script = [ScriptWord("keep", 0.5, 0.9), ScriptWord("these", 1.0, 1.4), ScriptWord("words", 1.5, 1.9)]
    working = FakeRecognizer(script)
    failures = iter([True])

    def flaky(request):
        if request.final and next(failures, False):
            return DecodeResponse(request.id, (), error="RuntimeError: out of memory")
        return working(request)

    audio = np.concatenate([np.zeros(8000, np.float32), _tone(1.6), np.zeros(16000, np.float32)])
    events = run_fast(audio, flaky, LoudIsSpeech(), PipelineConfig(partials=False)).events
    assert [e.raw for e in events if isinstance(e, Final)] == ["keep these words"]
    assert sum(isinstance(e, Error) for e in events) == 1


def test_a_permanently_failing_engine_reports_once_per_utterance() -> None:
    def broken(request):
        return DecodeResponse(request.id, (), error="RuntimeError: broken")

    audio = np.concatenate([np.zeros(8000, np.float32), _tone(4.0), np.zeros(16000, np.float32)])
    events = run_fast(audio, broken, LoudIsSpeech()).events  # many partial decodes fail, one report
    assert sum(isinstance(e, Error) for e in events) == 1


SPOKEN = ("hello", "um", "uh", "new", "line", "comma", "period", "the", "the", "I", "I", "think", "so", "question",
          "mark", "literal", "paragraph", "well", "cat")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(SPOKEN), min_size=1, max_size=14), st.booleans(), st.booleans())
def test_the_stable_text_only_grows_and_the_final_starts_with_it(words: list[str], spoken: bool,
                                                                 replace: bool) -> None:
    """Clean-up that depends on later words (fillers, stutters, "new line") never rewrites announced text."""
    script = [ScriptWord(w, 0.5 + 0.25 * i, 0.7 + 0.25 * i) for i, w in enumerate(words)]
    audio = np.concatenate([np.zeros(8000, np.float32), _tone(0.3 + 0.25 * len(words)), np.zeros(16000, np.float32)])
    replacements = {"the cat": "The Cat", "so I think": "IMHO"} if replace else {}
    config = PipelineConfig(cleanup=CleanupConfig(spoken_punctuation=spoken, replacements=replacements))
    events = run_fast(audio, FakeRecognizer(script), LoudIsSpeech(), config).events
    check_invariants(events)
    for final in (e for e in events if isinstance(e, Final)):
        assert final.text == final.text.strip(" ")


def test_partials_announce_cleaned_stable_text() -> None:
    words = ["um", "so", "I", "I", "think", "the", "cat", "sat", "on", "the", "mat", "and", "then", "it", "slept"]
    script = [ScriptWord(w, 0.5 + 0.3 * i, 0.75 + 0.3 * i) for i, w in enumerate(words)]
    audio = np.concatenate([np.zeros(8000, np.float32), _tone(0.4 + 0.3 * len(words)), np.zeros(16000, np.float32)])
    events = run_fast(audio, FakeRecognizer(script), LoudIsSpeech()).events
    check_invariants(events)
    announced = [e.stable_text for e in events if isinstance(e, Partial) and e.stable_text]
    assert announced[0] == "So" and "So I think the cat" in announced  # filler and stutter already cleaned
    assert [e.text for e in events if isinstance(e, Final)] == ["So I think the cat sat on the mat and then it slept"]


def test_an_engine_slower_than_speech_keeps_the_lag_bounded_and_finals_coming() -> None:
    """CPU starvation: each decode takes 2.5x the audio it covers, on a virtual clock."""
    tone, gap = 2.0, 0.8
    count = 30
    audio = np.concatenate([np.concatenate([_tone(tone), np.zeros(int(gap * SAMPLE_RATE), np.float32)])
                            for _ in range(count)] + [np.zeros(5 * SAMPLE_RATE, np.float32)])
    script = [ScriptWord(f"word{i}", i * (tone + gap) + 0.3, i * (tone + gap) + 1.5) for i in range(count)]
    recognizer = FakeRecognizer(script)
    config = PipelineConfig(degrade_lag_s=3.0, max_backlog_s=20.0)
    clock = FakeClock()
    pipeline = Pipeline(LoudIsSpeech(), clock, config)
    events, lags = [], []
    busy = None  # (virtual time the answer is ready, the answer)
    block = SAMPLE_RATE // 10
    for at in range(0, len(audio), block):
        clock.set(at / SAMPLE_RATE)
        if busy is not None and busy[0] <= clock.now():
            events += pipeline.push_response(busy[1])
            busy = None
        events += pipeline.push_audio(audio[at:at + block])
        lags.append(pipeline.backlog_s())
        if busy is None and (request := pipeline.next_request()) is not None:
            busy = (clock.now() + 2.5 * len(request.audio) / SAMPLE_RATE, recognizer(request))
    while busy is not None:  # the speech is over: the engine catches up
        clock.set(busy[0])
        events += pipeline.push_response(busy[1])
        busy = None
        if (request := pipeline.next_request()) is not None:
            busy = (clock.now() + 2.5 * len(request.audio) / SAMPLE_RATE, recognizer(request))
    assert pipeline.idle
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs))
    ends = [e.utterance_id for e in events if isinstance(e, SpeechEnd)]
    assert ends == sorted(ends) and len(ends) == count  # every utterance is closed, in order
    states = [e.state for e in events if e.type == "status"]
    assert "degraded" in states
    assert max(lags) <= config.max_backlog_s + tone + gap + 1  # bounded: the oldest waiting are dropped
    finals = [e for e in events if isinstance(e, Final)]
    dropped = [e for e in events if isinstance(e, SpeechEnd) and e.discarded == "overload"]
    assert len(finals) >= 8 and dropped and len(finals) + len(dropped) <= count
    assert not any(isinstance(e, Partial) and e.emitted_at > 30 for e in events)  # partials paused once behind


def test_a_gap_in_arrival_closes_the_utterance() -> None:
    """Suspend and resume: the audio before the gap and after it are not one utterance."""
    script = [ScriptWord("before", 0.6, 1.2), ScriptWord("after", 2.4, 3.0)]
    recognizer = FakeRecognizer(script)
    clock = FakeClock()
    pipeline = Pipeline(LoudIsSpeech(), clock, PipelineConfig(gap_s=1.0, partials=False))
    events = []

    def push(samples: np.ndarray, at: float) -> None:
        nonlocal events
        clock.set(at)
        events += pipeline.push_audio(samples)
        while (request := pipeline.next_request()) is not None:
            events += pipeline.push_response(recognizer(request))

    push(np.zeros(8000, np.float32), 0.0)
    push(_tone(1.5), 1.0)  # speaking when the lid closes
    push(_tone(1.5), 3600.0)  # an hour later, speaking again
    push(np.zeros(16000, np.float32), 3601.0)
    ends = {e.utterance_id: e for e in events if isinstance(e, SpeechEnd)}
    assert set(ends) == {1, 2} and ends[1].end_ms <= 2000  # closed at the gap, not after
    assert [e.raw for e in events if isinstance(e, Final)] == ["before", "after"]
