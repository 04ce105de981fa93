"""``stenod run``: the always-on service. One microphone, one model, any number of subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from stenod.audio.classifiers import make_classifier
from stenod.audio.mic import Microphone, choose_device
from stenod.config import Config, ConfigError, LlmConfig, load
from stenod.core.cleanup import CleanupConfig
from stenod.core.events import Event
from stenod.core.pipeline import PipelineConfig
from stenod.errors import StenodError
from stenod.live.bus import EventBus
from stenod.live.cleanup_stage import CleanupStage, with_llm_cleanup
from stenod.live.decoder import DecodeService
from stenod.live.llm import llm_cleaner_for
from stenod.live.pipeline import LivePipeline
from stenod.net.auth import Authority, load_or_create_token
from stenod.net.shared_port import stop_http
from stenod.paths import runtime_dir
from stenod.protocols.openai_rest import Transcriptions
from stenod.protocols.wyoming import start_wyoming
from stenod.server import DaemonState, claim_socket, socket_path, start_server
from stenod.systemd import notify, watchdog_interval

log = logging.getLogger("stenod")
MIC_GAP_S = 1.0  # no microphone block for this long: the utterance is closed
ENGINE_STUCK_LIMIT_S = 60.0  # a decode stuck this long: stop feeding the systemd watchdog


def pipeline_config(config: Config) -> PipelineConfig:
    return PipelineConfig(language=config.model.language or None, partials=config.stream.partials,
                          cleanup=CleanupConfig(spoken_punctuation=config.stream.spoken_punctuation,
                                                replacements=dict(config.stream.replacements)))


def follow_llm(state: DaemonState, previous: LlmConfig) -> None:
    """Apply a reloaded ``[llm]``: to the microphone at once, to ``/v1/listen`` streams opened afterwards."""
    if state.config.llm == previous:
        return
    state.llm_cleaner = llm_cleaner_for(state.config.llm)
    mic = state.mic
    if mic is None:
        return
    if isinstance(mic.publish, CleanupStage):
        mic.publish.clean = state.llm_cleaner.clean if state.llm_cleaner else None
    else:
        mic.publish = with_llm_cleanup(mic.publish, state.llm_cleaner)


async def _play_file(path: Path, state: DaemonState, on_audio: Callable[[np.ndarray], None]) -> None:
    """Feed a file to the microphone pipeline at its real pace, then close the last utterance."""
    from stenod.audio.files import load_audio

    audio = await asyncio.to_thread(load_audio, path)
    loop = asyncio.get_running_loop()
    start = loop.time()
    block = 16 * state.config.audio.block_ms  # as the sound card would deliver it
    for i in range(0, len(audio), block):
        await asyncio.sleep(max(0.0, start + (i + block) / 16000 - loop.time()))
        on_audio(audio[i:i + block])
    assert state.mic is not None
    await state.mic.finish()
    state.mic.status("finished", f"end of {path.name}")


async def serve_forever(config: Config, config_path: Path | None, input_file: Path | None, use_mic: bool) -> int:
    from stenod.engine.recognizer import WhisperRecognizer
    from stenod.engine.whisper import WhisperEngine

    device = choose_device(config.audio.device) if use_mic and input_file is None else None
    authority = Authority(load_or_create_token(runtime_dir()))
    if config.server.unix_socket:
        claim_socket(socket_path())  # a second daemon is refused before it loads a model
    if config.server.allow_remote:
        log.warning("listening on %s for other hosts: every client needs the token", config.server.listen)
    notify("STATUS=loading the model")
    engine = await asyncio.to_thread(WhisperEngine.load, config.model.name, config.model.precision,
                                     config.model.threads or None)
    decoder = DecodeService(WhisperRecognizer(engine))
    bus = EventBus(config.server.replay_events, config.server.max_queued_finals)
    language = config.model.language or ("en" if not engine.multilingual else "auto")

    def new_pipeline(publish: Callable[[Event], None], language: str | None = None,
                     vad: dict[str, Any] | None = None) -> LivePipeline:
        """A pipeline for one stream; ``language`` and ``vad`` (VadConfig fields) override the configuration."""
        config = pipeline_config(state.config)
        if language:
            config = replace(config, language=language)
        if vad:
            config = replace(config, vad=replace(config.vad, **vad))
        return LivePipeline(make_classifier(state.config.stream.vad), decoder, config, publish)

    state = DaemonState(config, bus, decoder, engine.name, language, new_pipeline, authority)
    state.languages = set(engine.tokenizer.languages) if engine.multilingual else None
    state.transcriptions = Transcriptions(engine, decoder, config.server.max_upload_seconds)
    state.llm_cleaner = llm_cleaner_for(config.llm)
    servers = await start_server(state)
    wyoming = None
    if config.server.wyoming:
        languages = sorted(engine.tokenizer.languages) if engine.multilingual else ["en"]
        wyoming = await start_wyoming(config.server.wyoming, new_pipeline, [(engine.name, languages)],
                                      config.server.allow_remote)
    # The microphone's blocks come every audio.block_ms: a long silence in their arrival (suspend, a stalled
    # device) closes the utterance rather than gluing what comes after onto it.
    state.mic = LivePipeline(make_classifier(config.stream.vad), decoder,
                             replace(pipeline_config(config), gap_s=MIC_GAP_S),
                             with_llm_cleanup(bus.publish, state.llm_cleaner))

    def on_audio(samples: np.ndarray) -> None:
        if not state.paused and state.mic is not None:
            state.mic.feed(samples)

    microphone: Microphone | None = None
    feeder: asyncio.Task[None] | None = None
    if input_file is not None:
        feeder = asyncio.create_task(_play_file(input_file, state, on_audio))
        source = f"file {input_file}"
    elif device is not None:
        microphone = Microphone(device, on_audio, config.audio.block_ms)
        microphone.start()
        state.metrics.overflows = lambda: microphone.overflows if microphone else 0
        source = f"device {device['index']}: {device['name']} ({device['rate']} Hz)"
    else:
        source = "no microphone (remote audio on /v1/listen only)"
    state.state = "listening"
    host, port = config.host_port
    summary = f"listening on ws://{host}:{port}/v1/events; {engine.name} {config.model.precision}; {source}"
    state.mic.status("listening", summary)
    log.info("%s", summary)
    notify(f"READY=1\nSTATUS={summary}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    def reload() -> None:
        previous = state.config
        try:
            state.config = load(config_path)
        except ConfigError as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            return
        follow_llm(state, previous.llm)
        log.info("configuration reloaded")
        notify(f"STATUS={summary} (configuration reloaded)")

    loop.add_signal_handler(signal.SIGHUP, reload)
    watchdog = watchdog_interval()

    async def ping_watchdog() -> None:
        """Tell systemd we are alive, unless the engine has been stuck long enough that a restart is better."""
        while watchdog:
            stuck = decoder.stuck_for()
            if stuck < ENGINE_STUCK_LIMIT_S:
                notify("WATCHDOG=1")
            else:
                log.error("the engine has been stuck for %.0f s: letting the watchdog restart the daemon", stuck)
            await asyncio.sleep(watchdog)

    async def guard_device() -> None:
        """Report a microphone that stops delivering, and reopen it with backoff until it is back."""
        nonlocal microphone
        delay = 1.0
        while microphone is not None:
            await asyncio.sleep(1.0)
            if microphone.healthy() or state.paused:
                continue
            log.warning("input device lost: %s", microphone.device["name"])
            state.state = "device_lost"
            assert state.mic is not None
            state.mic.end_utterance()  # what was said before the loss gets its final now
            state.mic.status("device_lost", f"input device {microphone.device['name']!r} stopped delivering audio")
            notify("STATUS=input device lost; retrying")
            microphone.stop()
            while not stop.is_set():
                await asyncio.sleep(delay)
                try:
                    candidate = Microphone(choose_device(state.config.audio.device), on_audio, config.audio.block_ms)
                    candidate.start()
                except StenodError as exc:
                    log.info("device still unavailable: %s", exc)
                    delay = min(30.0, delay * 2)
                    continue
                microphone, delay = candidate, 1.0
                state.state = "paused" if state.paused else "listening"
                state.mic.status(state.state, f"input device back: {candidate.device['name']}")
                log.info("input device back: %s", candidate.device["name"])
                notify(f"STATUS={summary}")
                break

    pinger = asyncio.create_task(ping_watchdog())
    guard = asyncio.create_task(guard_device())
    await stop.wait()
    guard.cancel()

    log.info("stopping")
    notify("STOPPING=1")
    pinger.cancel()
    if microphone is not None:
        microphone.stop()
    if feeder is not None:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(state.mic.finish(), timeout=10)  # the utterance in progress gets its final
    await asyncio.sleep(0.1)  # let the subscribers' senders flush it
    if wyoming is not None:
        wyoming.close()
    for server in servers:
        server.close()  # connections are closed with 1001 (going away)
    await stop_http()  # plain HTTP requests in progress (file transcriptions) are cut off
    for server in servers:
        await server.wait_closed()
    decoder.close()
    return 0

