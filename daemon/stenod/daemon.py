"""``stenod run``: the always-on service. One microphone, one model, any number of subscribers.

:func:`serve_forever` reads top-down: check the configuration, build the daemon (model, bus, pipelines), open
its listeners, start its audio source, serve until a signal, shut down. The microphone is kept open by
:class:`stenod.audio.mic.Capture`: the daemon serves without one and starts capturing when one appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from stenod.audio.classifiers import make_classifier
from stenod.audio.files import load_audio
from stenod.audio.mic import Capture, DeviceError, choose_device
from stenod.config import Config, ConfigError, HistoryConfig, LlmConfig, cleanup_config, load
from stenod.core import SAMPLE_RATE
from stenod.core.events import Event, Final
from stenod.core.pipeline import PipelineConfig
from stenod.history.recorder import Recorder
from stenod.history.store import history_path
from stenod.live.bus import EventBus
from stenod.live.cleanup_stage import Clean
from stenod.live.decoder import DecodeService
from stenod.live.hearing import Hearing
from stenod.live.llm import llm_cleaner_for
from stenod.live.pipeline import LivePipeline
from stenod.net.auth import Authority, load_or_create_token
from stenod.net.shared_port import stop_http
from stenod.paths import runtime_dir
from stenod.protocols.openai_rest import Transcriptions
from stenod.protocols.wyoming import start_wyoming
from stenod.server import claim_socket, socket_path, start_server
from stenod.server.notifications import PauseNotifier
from stenod.server.state import DaemonState
from stenod.systemd import notify, watchdog_interval

log = logging.getLogger("stenod")
MIC_GAP_S = 1.0  # no microphone block for this long: the utterance is closed
ENGINE_STUCK_LIMIT_S = 60.0  # a decode stuck this long: stop feeding the systemd watchdog
DEVICE_NEXT_STEP = ("`stenod devices` lists them; choose one with --device NAME (or audio.device), or run without a "
                    "microphone: --no-mic, or play a file as one: --input FILE")


@dataclass(frozen=True)
class Source:
    """Where the microphone pipeline's audio comes from: a file played at its pace, the microphone, or nothing."""

    file: Path | None = None
    microphone: bool = False


Overrides = dict[str, dict[str, Any]]  # command-line flags, as config.load takes them


async def serve_forever(config: Config, config_path: Path | None, input_file: Path | None, use_mic: bool,
                        overrides: Overrides | None = None, show_text: bool = False) -> int:
    """Run the daemon; ``overrides`` (the flags it was started with) still apply after a reload; finals' text
    is logged on a terminal, or wherever stderr goes with ``show_text``."""
    source = Source(input_file, use_mic and input_file is None)
    if source.microphone and config.audio.device:
        try:
            choose_device(config.audio.device)  # a device named that does not exist is a configuration error
        except DeviceError as exc:
            raise DeviceError(f"{exc}; {DEVICE_NEXT_STEP}") from None
    hearing = Hearing(sys.stderr, show_text)
    state = await build(config, hearing)
    servers = await start_server(state)
    wyoming = await _start_wyoming(state)
    feeder = await start_source(state, source, hearing)
    summary = _summary(state, source)
    log.info("%s", summary)
    notify(f"READY=1\nSTATUS={summary}")
    await serve_until_stopped(state, config_path, overrides)
    log.info("stopping")
    notify("STOPPING=1")
    feeder.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await feeder
    await shut_down(state, servers, wyoming)
    return 0


def pipeline_config(config: Config) -> PipelineConfig:
    return PipelineConfig(language=config.model.language or None, partials=config.stream.partials,
                          commands=config.commands, cleanup=cleanup_config(config.stream))


async def build(config: Config, hearing: Hearing | None = None) -> DaemonState:
    """The daemon's state: its token, its socket claimed, the model loaded, the microphone's pipeline (its
    events also to ``hearing``, when given)."""
    from stenod.tuning import load_recognizer

    authority = Authority(load_or_create_token(runtime_dir()))
    if config.server.unix_socket:
        claim_socket(socket_path())  # a second daemon is refused before it loads a model
    if config.server.allow_remote:
        log.warning("listening on %s for other hosts: every client needs the token", config.server.listen)
    notify("STATUS=loading the model")
    recognizer = await asyncio.to_thread(load_recognizer, config)
    engine = recognizer.engine
    decoder = DecodeService(recognizer)
    bus = EventBus(config.server.replay_events, config.server.max_queued_finals)
    language = config.model.language or ("en" if not engine.multilingual else "auto")

    def new_pipeline(publish: Callable[[Event], None], language: str | None = None,
                     vad: dict[str, Any] | None = None, clean: Clean | None = None,
                     commands: bool = False) -> LivePipeline:
        """A pipeline for one stream; ``language`` and ``vad`` (VadConfig fields) override the configuration;
        spoken commands only with ``commands`` (a protocol that can carry a retract)."""
        stream = pipeline_config(state.config)
        if not commands:
            stream = replace(stream, commands=replace(stream.commands, enabled=False))
        if language:
            stream = replace(stream, language=language)
        if vad:
            stream = replace(stream, vad=replace(stream.vad, **vad))
        return LivePipeline(make_classifier(state.config.stream.vad), decoder, stream, publish, clean=clean)

    state = DaemonState(config, authority, bus, decoder, engine.name, language, new_pipeline)
    state.languages = set(engine.tokenizer.languages) if engine.multilingual else None
    state.transcriptions = Transcriptions(engine, decoder, config.server.max_upload_seconds)
    state.llm_cleaner = llm_cleaner_for(config.llm)
    state.history = start_history(config, recognizer.final_engine.name)
    # The microphone's blocks come every audio.block_ms: a long silence in their arrival (suspend, a stalled
    # device) closes the utterance rather than gluing what comes after onto it.
    state.mic = LivePipeline(make_classifier(config.stream.vad), decoder,
                             replace(pipeline_config(config), gap_s=MIC_GAP_S), mic_publish(state, hearing),
                             clean=state.llm_cleaner.clean if state.llm_cleaner else None)
    notify_pauses(state)
    return state


def notify_pauses(state: DaemonState) -> None:
    """A desktop notification on each pause and resume while ``audio.notify`` is on (it follows a reload)."""
    notifier = PauseNotifier()

    def changed(paused: bool) -> None:
        if state.config.audio.notify:
            notifier.changed(paused)
    state.on_paused = changed
    state.notifier = notifier


def start_history(config: Config, model: str) -> Recorder | None:
    """The history's writer thread, started, when ``[history]`` is on; ``model`` names the finals' model."""
    if not config.history.enabled:
        return None
    recorder = Recorder(history_path(), model, config.history.retention_days)
    recorder.start()
    return recorder


def mic_publish(state: DaemonState, hearing: Hearing | None = None) -> Callable[[Event], None]:
    """Where the microphone's events go: the bus, the history when it is kept, ``hearing`` when given; a final's
    latency is noted."""
    publish = state.bus.publish

    def publish_and_keep(event: Event) -> None:
        latency = None
        if isinstance(event, Final) and state.mic is not None:
            latency = state.mic.latency(event)  # None when its audio's arrival is too old to remember
            state.last_final_latency = latency if latency is not None else state.last_final_latency
        publish(event)
        if state.history is not None:  # looked up each time: a reload may start or stop it
            state.history.record(event, state.stream, "microphone")
        if hearing is not None:
            hearing(event, latency)

    return publish_and_keep


async def _start_wyoming(state: DaemonState) -> asyncio.Server | None:
    uri = state.config.server.wyoming
    if not uri:
        return None
    languages = sorted(state.languages) if state.languages else ["en"]
    return await start_wyoming(uri, state.new_pipeline, [(state.model, languages)], state.config.server.allow_remote)


async def start_source(state: DaemonState, source: Source, hearing: Hearing | None = None) -> asyncio.Task[None]:
    """Start feeding the microphone pipeline (the microphone tried once already), and ``hearing`` the same
    blocks; a task to cancel at shutdown."""
    mic = state.mic
    assert mic is not None

    def on_audio(samples: np.ndarray) -> None:
        if not state.paused:
            mic.feed(samples)
            if hearing is not None:
                hearing.audio(samples)

    if source.file is not None:
        state.input, state.device = "file", lambda: str(source.file)
        state.set_state(state.listening_state, f"playing {source.file} as the microphone")
        return asyncio.create_task(_play_file(source.file, state, on_audio))
    if not source.microphone:
        state.set_state(state.listening_state, "no microphone: remote audio on /v1/listen only")
        return asyncio.create_task(_forever())  # remote audio only: nothing to feed
    capture = Capture(lambda: state.config.audio.device, on_audio, state.config.audio.block_ms,
                      microphone_reports(state), lambda: state.paused)
    state.counters.overflows = lambda: capture.lost_blocks
    state.input = "microphone"
    state.device = lambda: capture.microphone.device["name"] if capture.microphone is not None else None
    await capture.start()
    return asyncio.create_task(_capture(capture))


def microphone_reports(state: DaemonState) -> Callable[[str, str], None]:
    """What the daemon does when the microphone comes, goes, or never was: its state, a status, a log line."""

    def on_state(kind: str, message: str) -> None:
        assert state.mic is not None
        if kind == "capturing":
            log.info("%s", message)
            state.set_state(state.listening_state, message)
            return
        if kind == "device_lost":
            state.mic.end_utterance()  # what was said before the loss gets its final now
        log.warning("%s%s", message, f" ({DEVICE_NEXT_STEP})" if kind == "no_microphone" else "")
        state.set_state(kind, message)
        notify(f"STATUS={message}")

    return on_state


async def _forever() -> None:
    await asyncio.Event().wait()


async def _capture(capture: Capture) -> None:
    try:
        await capture.run()
    finally:
        capture.stop()


async def _play_file(path: Path, state: DaemonState, on_audio: Callable[[np.ndarray], None]) -> None:
    """Feed a file to the microphone pipeline at its real pace, then close the last utterance."""
    audio = await asyncio.to_thread(load_audio, path)
    loop = asyncio.get_running_loop()
    start = loop.time()
    block = SAMPLE_RATE * state.config.audio.block_ms // 1000  # as the sound card would deliver it
    for i in range(0, len(audio), block):
        await asyncio.sleep(max(0.0, start + (i + block) / SAMPLE_RATE - loop.time()))
        on_audio(audio[i:i + block])
    assert state.mic is not None
    await state.mic.finish()
    state.mic.status("finished", f"end of {path.name}")


def _summary(state: DaemonState, source: Source) -> str:
    host, port = state.config.host_port
    if source.file is not None:
        heard = f"file {source.file}"
    elif state.state == "no_microphone":
        heard = "no microphone yet (it is taken as soon as one appears)"
    elif source.microphone:
        heard = "the microphone"
    else:
        heard = "no microphone (remote audio on /v1/listen only)"
    return (f"listening on ws://{host}:{port}/v1/events; {state.model} {state.config.model.precision}; "
            f"{heard}")


async def serve_until_stopped(state: DaemonState, config_path: Path | None, overrides: Overrides | None = None) -> None:
    """Serve until SIGTERM or SIGINT; SIGHUP reloads the configuration; the systemd watchdog is fed meanwhile."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload, state, config_path, overrides)
    pinger = asyncio.create_task(ping_watchdog(state.decoder))
    try:
        await stop.wait()
    finally:
        pinger.cancel()


def reload(state: DaemonState, config_path: Path | None, overrides: Overrides | None = None) -> None:
    """Read the configuration file again, with the command line's flags over it as at the start."""
    previous = state.config
    try:
        state.config = load(config_path, overrides)
    except ConfigError as exc:
        log.error("reload failed, keeping the running configuration: %s", exc)
        return
    follow_llm(state, previous.llm)
    follow_prompt(state)
    follow_history(state, previous.history)
    log.info("configuration reloaded")
    notify("STATUS=configuration reloaded")


def follow_history(state: DaemonState, previous: HistoryConfig) -> None:
    """Apply a reloaded ``[history]``: turned off, the microphone's finals stop being kept at once; turned on or
    with another retention, a new writer takes over. The old one finishes its queue off the event loop."""
    if state.config.history == previous:
        return
    old, state.history = state.history, start_history(state.config, state.model)
    if old is not None:
        threading.Thread(target=old.close, name="stenod-history-close", daemon=True).start()


def follow_prompt(state: DaemonState) -> None:
    """Apply a reloaded vocabulary and spoken punctuation to the model's prompt; the microphone's clean-up and
    commands follow (other streams take them when they open)."""
    from stenod.engine.recognizer import WhisperRecognizer
    from stenod.tuning import recognizer_prompt

    recognizer = state.decoder.recognizer
    if isinstance(recognizer, WhisperRecognizer):
        recognizer.set_prompt(recognizer_prompt(state.config.stream))
    if state.mic is not None:
        state.mic.set_cleanup(pipeline_config(state.config).cleanup)
        state.mic.set_commands(state.config.commands)


def follow_llm(state: DaemonState, previous: LlmConfig) -> None:
    """Apply a reloaded ``[llm]``: to the microphone at once, to ``/v1/listen`` streams opened afterwards."""
    if state.config.llm == previous:
        return
    state.llm_cleaner = llm_cleaner_for(state.config.llm)
    if state.mic is not None:
        state.mic.set_clean(state.llm_cleaner.clean if state.llm_cleaner else None)


async def ping_watchdog(decoder: DecodeService) -> None:
    """Tell systemd we are alive, unless the engine has been stuck long enough that a restart is better."""
    interval = watchdog_interval()
    while interval:
        stuck = decoder.stuck_for()
        if stuck < ENGINE_STUCK_LIMIT_S:
            notify("WATCHDOG=1")
        else:
            log.error("the engine has been stuck for %.0f s: letting the watchdog restart the daemon", stuck)
        await asyncio.sleep(interval)


async def shut_down(state: DaemonState, servers: list[Any], wyoming: asyncio.Server | None) -> None:
    """Give the utterance in progress its final, close every connection (1001) and request, stop the engine."""
    if state.mic is not None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(state.mic.finish(), timeout=10)
    await asyncio.sleep(0.1)  # let the subscribers' senders flush it
    if state.history is not None:
        await asyncio.to_thread(state.history.close)  # the last finals written
    if wyoming is not None:
        wyoming.close()
    for server in servers:
        server.close()  # connections are closed with 1001 (going away)
    await stop_http()  # plain HTTP requests in progress (file transcriptions) are cut off
    for server in servers:
        await server.wait_closed()
    state.decoder.close()
    if state.notifier is not None:
        state.notifier.close()

