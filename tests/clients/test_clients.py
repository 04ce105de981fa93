"""Clients without a desktop: the typing joiner, backend choice, tail, control, and reconnection.

Reconnection runs against real daemons: a TCP relay between client and daemon is cut while the daemon
goes on speaking, and a daemon is restarted under a running ``stenod tail``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from stenod.core.committed import Joiner
from stenod.core.events import Event, Final, Partial, SpeechEnd, Status
from stenod_clients.connection import Backoff, Subscription
from stenod_clients.tail import render
from stenod_clients.typing import backends
from support.daemon import Daemon, collect, free_port, stream_events, valid
from support.processes import reap
from support.waits import until


def _final(uid: int, text: str) -> Final:
    return Final(seq=uid * 10, emitted_at=0.0, audio_ms=0, utterance_id=uid, text=text, raw=text, words=(),
                 language="en", start_ms=0, end_ms=0)


def _partial(uid: int, stable_text: str, stable: str = "", unstable: str = "") -> Partial:
    return Partial(seq=uid * 10 + 1, emitted_at=0.0, audio_ms=0, utterance_id=uid, revision=1, stable=stable,
                   unstable=unstable, stable_text=stable_text, start_ms=0, end_ms=0)


def _end(uid: int) -> SpeechEnd:
    return SpeechEnd(seq=uid * 10 + 2, emitted_at=0.0, audio_ms=0, utterance_id=uid, start_ms=0, end_ms=0)


def _typed(joiner: Joiner, events: list[Event]) -> str:
    return "".join(joiner.feed(e) for e in events)


def test_finals_are_joined_the_way_a_person_types_them() -> None:
    events = [_final(1, "Hello there."), _end(1), _final(2, "How are you?"), _end(2), _final(3, ", and you."),
              _end(3), _final(4, "Dear Sam,\n"), _end(4), _final(5, "Thanks."), _end(5)]
    assert _typed(Joiner(), events) == "Hello there. How are you?, and you. Dear Sam,\nThanks."


def test_only_finals_are_typed_unless_live() -> None:
    events = [_partial(1, "So I", "so I", "think"), _partial(1, "So I think the", "so I think the", "cat"),
              _final(1, "So I think the cat sat."), _end(1)]
    assert [Joiner().feed(e) for e in events][:2] == ["", ""]
    live = Joiner(live=True)
    assert [live.feed(e) for e in events] == ["So I", " think the", " cat sat.", ""]


def test_live_typing_never_types_the_unstable_tail_or_takes_anything_back() -> None:
    live = Joiner(live=True)
    typed = _typed(live, [_final(1, "First."), _end(1), _partial(2, "", "", "maybe words"),
                          _partial(2, "Second", "second", "thing"), _partial(2, "Second", "second", "thang"),
                          _final(2, "Second thing."), _end(2)])
    assert typed == "First. Second thing."


def test_live_typing_completes_an_llm_rewritten_final_from_its_rule_text() -> None:
    final = replace(_final(1, "So, I think the cat sat."), cleaned_by="llm", rules_text="So I think the cat sat.")
    live = Joiner(live=True)
    assert [live.feed(e) for e in [_partial(1, "So I think"), final, final, _end(1)]] == [
        "So I think", " the cat sat.", "", ""]
    assert _typed(Joiner(live=True), [_partial(1, ""), final, final, _end(1)]) == "So, I think the cat sat."
    assert _typed(Joiner(), [_partial(1, "So I think"), final, final, _end(1)]) == "So, I think the cat sat."


def test_a_replayed_or_repeated_final_is_not_typed_twice() -> None:
    joiner = Joiner()
    assert joiner.feed(_final(1, "Once.")) == "Once."
    assert joiner.feed(_final(1, "Once.")) == ""


def test_the_backend_choice_follows_the_session(monkeypatch) -> None:
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert backends.preference() == []
    with pytest.raises(backends.TypingError, match="--check"):
        backends.choose("auto")
    assert backends.choose("stdout").name == "stdout"
    with pytest.raises(backends.TypingError, match="unknown backend"):
        backends.choose("telepathy")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "sway")
    assert backends.preference()[0] == "wtype"
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "GNOME")
    assert backends.preference()[0] == "portal"  # GNOME and KDE have no virtual-keyboard protocol
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no desktop tools at all
    problems = dict(backends.check())
    assert "not installed" in problems["wtype"] and "not installed" in problems["xdotool"]
    assert problems["stdout"] == ""
    monkeypatch.setattr(backends.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    assert "virtual-keyboard" in backends.Wtype().problem()
    with pytest.raises(backends.TypingError, match="wtype cannot type here: GNOME"):
        backends.choose("wtype")


def test_type_check_without_a_session_says_why_each_backend_cannot_type(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-m", "stenod", "type", "--check"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert "xdotool" in out.stdout and "DISPLAY is unset" in out.stdout
    assert "stdout   works" in out.stdout and "auto picks: none" in out.stdout
    refused = subprocess.run([sys.executable, "-m", "stenod", "type"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "no typing backend works here" in refused.stderr


def test_tail_renders_each_style() -> None:
    final = _final(3, "Line one\nline two")
    assert render(final, "finals") == "Line one line two"
    assert render(_partial(3, "So", "so", "what"), "finals") is None
    assert json.loads(render(final, "json") or "")["text"] == "Line one\nline two"
    assert "final    #3  Line one" in (render(final, "text") or "")
    assert render(_partial(3, "So", "so", "what"), "text").endswith("so [what]")  # type: ignore[union-attr]


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(first=0.25, most=2.0)
    delays = [backoff.delay() for _ in range(6)]
    assert 0.2 <= delays[0] <= 0.3 and all(1.6 <= d <= 2.4 for d in delays[4:])
    backoff.reset()
    assert backoff.delay() <= 0.3


class Relay:
    """A TCP relay to the daemon that the test can cut, as a flaky network or a suspended laptop would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self._open())

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _open(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    async def _cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self.call(self._cut())

    def restore(self) -> None:
        self.call(self._open())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)


def _follow(url: str, token: str, events: list[Event], statuses: list[str], stop: threading.Event
            ) -> threading.Thread:
    async def run() -> None:
        subscription = Subscription(url, on_status=statuses.append, since=0, backoff=Backoff(0.2, 1.0), token=token)
        async for event in subscription:
            events.append(event)
            if stop.is_set():
                return

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    return thread


def test_a_cut_connection_resumes_without_losing_or_repeating_events(tmp_path, jfk_wav) -> None:
    events: list[Event] = []
    statuses: list[str] = []
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        daemon = stack.enter_context(Daemon(tmp_path, "--input", str(jfk_wav)))
        relay = Relay(daemon.port)
        stack.callback(relay.close)
        stack.callback(stop.set)
        _follow(f"ws://127.0.0.1:{relay.port}", daemon.token, events, statuses, stop)
        until(lambda: any(isinstance(e, Final) for e in events), "the subscriber has a final")
        relay.cut()
        until(lambda: any("disconnected" in s for s in statuses), "the subscriber noticed the cut")
        seen = max(e.seq for e in events)
        with daemon.connect(f"/v1/events?since={seen}") as direct:  # the daemon goes on speaking meanwhile
            missed = collect(direct, until="final")
        assert missed and missed[-1]["type"] == "final", "the daemon said nothing while the subscriber was away"
        relay.restore()
        until(lambda: any(isinstance(e, Status) and e.state == "finished" for e in events),
              "the subscriber has caught up with the end of the stream")
        truth = [e for e in stream_events(daemon) if e["type"] not in ("hello", "pong")]
    got = [e.to_dict() for e in events if e.type not in ("hello", "pong")]
    seqs = [e["seq"] for e in got]
    assert seqs == sorted(set(seqs)), "an event was repeated or came out of order"
    # Partials queued for a subscriber are coalesced (the newest replaces the older ones); every other
    # event reaches it exactly once.
    assert [e for e in got if e["type"] != "partial"] == [e for e in truth if e["type"] != "partial"]
    assert sum(e.type == "hello" for e in events) >= 2
    assert any("disconnected" in s for s in statuses)
    assert sum(e["type"] == "final" for e in truth) >= 2


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_tail_follows_a_restarted_daemon_from_its_first_event(tmp_path, jfk_wav) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    out_path = tmp_path / "finals.txt"
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(Daemon(tmp_path / "a", "--input", str(jfk_wav)))
        with out_path.open("w") as out:
            tail = subprocess.Popen([sys.executable, "-m", "stenod", "tail", "--finals"], env=first.client_env,
                                    stdout=out, stderr=subprocess.PIPE, text=True)
        stack.callback(reap, tail)
        finals_a = [e["text"].replace("\n", " ") for e in stream_events(first) if e["type"] == "final"]
        assert finals_a
        until(lambda: _lines(out_path)[-1:] == finals_a[-1:], "tail printed the first run's last final")
        assert first.stop() == 0
        # a new daemon, same port, same session (so the same token)
        second = stack.enter_context(Daemon(tmp_path / "b", "--input", str(jfk_wav), port=first.port,
                                            runtime=tmp_path / "a" / "run"))
        finals_b = [e["text"].replace("\n", " ") for e in stream_events(second) if e["type"] == "final"]
        assert finals_b
        until(lambda: _lines(out_path)[-len(finals_b):] == finals_b, "tail printed the second run's finals")
        second.stop()
        tail.terminate()
        stderr = tail.communicate(timeout=10)[1]
    lines = _lines(out_path)
    # The tail joined after the first daemon had started: it has the end of run a, then all of run b.
    assert lines[-len(finals_b):] == finals_b, stderr
    assert len(lines) <= len(finals_a) + len(finals_b)
    assert "disconnected" in stderr and "retrying" in stderr


def test_pause_resume_and_toggle_from_the_command_line(tmp_path, jfk_wav) -> None:
    daemon = Daemon(tmp_path, "--input", str(jfk_wav))
    env = daemon.client_env

    def say(command: str) -> str:
        out = subprocess.run([sys.executable, "-m", "stenod", command], env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    try:
        with daemon.connect("/v1/events") as watcher:
            assert json.loads(watcher.recv(timeout=10))["state"] == "listening"
            assert say("pause") == "paused"
            assert say("toggle") == "listening"
            assert say("toggle") == "paused"
            assert say("resume") == "listening"
            states = []
            deadline = time.monotonic() + 10
            while len(states) < 4 and time.monotonic() < deadline:
                event = valid([json.loads(watcher.recv(timeout=10))])[0]
                if event["type"] == "status":
                    states.append(event["state"])
            assert states == ["paused", "listening", "paused", "listening"]
    finally:
        daemon.stop()
    bad = subprocess.run([sys.executable, "-m", "stenod", "pause"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "cannot reach the daemon" in bad.stderr
    assert "systemctl --user status stenod" in bad.stderr and "stenod status" in bad.stderr


def _fake_tools(folder: Path, *names: str) -> Path:
    """Stand-ins for Wayland and uinput tools that cannot run here: each logs its arguments and input."""
    folder.mkdir(exist_ok=True)
    log = folder / "calls.log"
    for name in names:
        tool = folder / name
        tool.write_text(f'#!/bin/sh\n{{ echo "{name} $*"; [ -t 0 ] || cat; echo; }} >> "{log}"\n'
                        + ('printf "old clipboard"\n' if name == "wl-paste" else ""))
        tool.chmod(0o755)
    return log


def test_wayland_backends_run_their_tools_with_the_right_arguments(tmp_path, monkeypatch) -> None:
    log = _fake_tools(tmp_path / "bin", "wtype", "ydotool", "wl-copy", "wl-paste")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-1")
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "sway")
    monkeypatch.delenv("DISPLAY", raising=False)
    (tmp_path / "ydotool.sock").touch()
    monkeypatch.setenv("YDOTOOL_SOCKET", str(tmp_path / "ydotool.sock"))
    assert backends.choose("auto").name == "wtype"
    backends.choose("wtype").type("-not an option")
    backends.choose("ydotool").type("It’s “quoted” — fine…")
    with pytest.raises(backends.TypingError, match="ASCII"):
        backends.choose("ydotool").type("東京")
    backends.Paste(settle_s=0).type("東京")
    calls = log.read_text()
    assert "wtype -s 40 -- -not an option" in calls
    assert "ydotool type --key-delay 4 --key-hold 8 --file -\nIt's \"quoted\" - fine..." in calls
    assert "wl-copy \n東京" in calls and "wtype -s 40 -M ctrl v -m ctrl" in calls
    assert calls.rstrip().endswith("old clipboard")  # the previous clipboard is put back


def test_each_backend_erases_with_backspace(tmp_path, monkeypatch) -> None:
    log = _fake_tools(tmp_path / "bin", "wtype", "ydotool", "dotool", "wl-copy", "wl-paste")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-1")
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "sway")
    (tmp_path / "ydotool.sock").touch()
    monkeypatch.setenv("YDOTOOL_SOCKET", str(tmp_path / "ydotool.sock"))
    backends.Wtype().erase(2)
    backends.Ydotool().erase(2)
    backends.Dotool().erase(2)
    backends.Wtype().erase(0)  # nothing to erase: no tool run
    calls = log.read_text()
    assert "wtype -s 40 -k BackSpace -k BackSpace\n" in calls
    assert "ydotool key --key-delay 4 14:1 14:0 14:1 14:0" in calls
    assert "dotool \ntypedelay 4\nkey backspace\nkey backspace\n" in calls
    assert calls.count("wtype") == 1


def test_without_the_desktop_extra_the_portal_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dbus_fast", None)  # as if dbus-fast were not installed
    monkeypatch.delitem(sys.modules, "stenod_clients.typing.portal", raising=False)
    assert dict(backends.check())["portal"] == "needs dbus-fast: pip install 'stenod[desktop]'"


def test_paste_presses_the_chord_the_focused_app_wants(tmp_path, monkeypatch) -> None:
    from stenod_clients.typing.focus import focused_app, paste_chord
    from stenod_clients.typing.shaping import Shaping

    built_in = Shaping().paste_keys({})  # the built-in terminal profile's chord
    assert paste_chord("kitty", "ctrl+v", built_in) == "ctrl+shift+v"
    assert paste_chord("gnome-terminal-server gnome-terminal", "ctrl+v", built_in) == "ctrl+shift+v"
    assert paste_chord("firefox", "ctrl+v", built_in) == "ctrl+v"
    assert paste_chord("firefox", "ctrl+v", {"Firefox": "shift+insert"}) == "shift+insert"
    assert paste_chord("emacs", "ctrl+v", {"emacs": "ctrl+y", "em": "ctrl+x"}) == "ctrl+y"  # the longest name
    assert paste_chord("kitty", "ctrl+v", Shaping().paste_keys({"kitty": "ctrl+alt+v"})) == "ctrl+alt+v"
    log = _fake_tools(tmp_path / "bin", "wtype", "wl-copy", "wl-paste")
    (tmp_path / "bin" / "swaymsg").write_text(  # sway's tree with kitty focused
        "#!/bin/sh\necho '{\"type\": \"root\", \"nodes\": [{\"type\": \"con\", \"focused\": true, "
        "\"app_id\": \"kitty\"}]}'\n")
    (tmp_path / "bin" / "swaymsg").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-1")
    monkeypatch.setenv("SWAYSOCK", str(tmp_path / "sway.sock"))
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "sway")
    assert focused_app().name == "kitty" and focused_app().via == "sway"
    backends.Paste(settle_s=0, per_app=built_in).type("ls -l")
    backends.Paste("ctrl+v", settle_s=0).type("fixed")  # --paste-keys given: that chord everywhere
    calls = log.read_text()
    assert "wtype -s 40 -M ctrl -M shift v -m shift -m ctrl" in calls and "wtype -s 40 -M ctrl v -m ctrl" in calls
    monkeypatch.delenv("SWAYSOCK")
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "GNOME")
    assert focused_app().why == "GNOME does not say which window has the focus"


def test_a_joiner_resets_when_the_daemon_restarts() -> None:
    from stenod.core.events import Hello

    def hello(stream: str) -> Hello:
        return Hello(seq=0, emitted_at=0.0, audio_ms=0, protocol=1, server="stenod", model="tiny.en",
                     language="en", sample_rate=16000, state="listening", stream=stream)

    live = Joiner(live=True)
    typed = _typed(live, [hello("a"), _partial(1, "Half of a"), hello("b"), _partial(1, "New"),
                          _final(1, "New start."), _end(1)])
    assert typed == "Half of a New start."
    assert Joiner().feed(_final(1, 'He said "stop"')) == 'He said "stop"'
    joiner = Joiner()
    joiner.feed(_final(1, "One."))
    assert joiner.feed(_final(2, '"Two."')) == ' "Two."'  # an opening quote gets its space


def test_a_client_takes_the_daemon_s_address_in_the_one_syntax() -> None:
    from stenod_clients.connection import check_url

    assert check_url("127.0.0.1:7767") == check_url("tcp://127.0.0.1:7767") == "ws://127.0.0.1:7767"
    assert check_url("unix:///run/stenod.sock") == "unix:///run/stenod.sock"
    assert check_url("wss://dictation.example:443") == "wss://dictation.example:443"


@pytest.mark.parametrize("url", ["foo", "http://127.0.0.1:7767", "ws://[bad"])
def test_a_bad_daemon_address_is_a_one_line_error(url: str) -> None:
    for command in ("tail", "pause"):
        out = subprocess.run([sys.executable, "-m", "stenod", command, "--url", url], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "not the daemon's address" in out.stderr
