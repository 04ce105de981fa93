"""The clients on a real (virtual) desktop: a dictation spoken into the PulseAudio virtual microphone
reaches a Tk window through ``stenod type``, a headless Chromium through ``/captions``, and ``stenod tail``;
a spoken "Delete that." at its end withdraws the last sentence from each of them.

Xvfb is the X server, the window is a real Tk ``Text`` widget, typing is xdotool's XTest events, and the
page runs in Debian's Chromium driven by Playwright. The clients are started before the speech, so each
must show exactly the daemon's finals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from websockets.sync.client import connect

from stenod.config import Config, merge
from stenod.core.events import Event
from stenod.errors import StenodError
from stenod.net.auth import session_token
from stenod_bench.clients import WINDOW, start_xvfb
from stenod_bench.evaluation import word_error_rate
from support.daemon import JFK, Daemon, free_port, stream_events, utterances_closed, valid
from support.events import final, hello, retract, speech_end
from support.processes import reap
from support.pulse import private_pulse
from support.speech import DELETE_THAT, spoken
from support.waits import until

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SECOND = "the child almost hurt the small dog"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]


def _save_screenshot(source: Path, name: str) -> None:
    if os.environ.get("STENOD_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, DOCS_IMAGES / name)


@pytest.fixture(scope="module")
def display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An Xvfb server; the environment that reaches it."""
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.fail("Xvfb and xdotool are needed (.ci/run installs xvfb and xdotool)", pytrace=False)
    try:
        server, display_name = start_xvfb()
    except StenodError as exc:
        pytest.fail(str(exc))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP")}
        env["DISPLAY"] = display_name
        yield env
    finally:
        reap(server)


class TextWindow:
    """A Tk window with a text widget that keeps the focus; its text is mirrored into a file.

    Use it as a context manager: the window is open and has the keyboard focus inside, closed after.
    """

    TITLE = "stenod test window"

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.env = env
        self.path = tmp_path / "window.txt"
        self.proc = subprocess.Popen([sys.executable, "-c", WINDOW, str(self.path)], env=env)
        try:
            until(lambda: self.path.exists() or self.proc.poll() is not None, "the Tk window opens", timeout=20)
            assert self.proc.poll() is None, "the Tk window exited"
            until(self._focused, "the Tk window has the keyboard focus", timeout=20)
        except BaseException:
            self.close()
            raise

    def _focused(self) -> bool:
        focus = subprocess.run(["xdotool", "getwindowfocus", "getwindowname"], env=self.env, capture_output=True,
                               text=True, timeout=10)
        return focus.stdout.strip() == self.TITLE

    def __enter__(self) -> TextWindow:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def wait_for(self, expected: str, timeout: float = 30.0) -> str:
        """The text, once it is ``expected`` (or what it is after ``timeout`` seconds, for the assertion)."""
        deadline = time.monotonic() + timeout
        while (text := self.text) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return text

    def close(self) -> None:
        reap(self.proc)


def test_xdotool_types_unicode_and_line_breaks(display, tmp_path) -> None:
    from stenod_clients.typing.backends import choose

    with TextWindow(display, tmp_path) as window:
        os.environ["DISPLAY"], saved = display["DISPLAY"], os.environ.get("DISPLAY")
        try:
            backend = choose("auto")
            assert backend.name == "xdotool"
            backend.type("Grüße, naïve café.\nNext line")
            assert window.wait_for("Grüße, naïve café.\nNext line") == "Grüße, naïve café.\nNext line"
        finally:
            _restore_display(saved)


def test_paste_types_through_the_clipboard_and_puts_it_back(display, tmp_path) -> None:
    from stenod_clients.typing.backends import Paste

    if shutil.which("xclip") is None:
        pytest.fail("xclip is needed (.ci/run installs it)", pytrace=False)
    with TextWindow(display, tmp_path) as window:
        os.environ["DISPLAY"], saved = display["DISPLAY"], os.environ.get("DISPLAY")
        try:
            subprocess.run(["xclip", "-selection", "clipboard", "-in"], input="what was copied before", text=True,
                           env=display, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            Paste().type("東京で会いましょう, ça va?")
            assert window.wait_for("東京で会いましょう, ça va?") == "東京で会いましょう, ça va?"
            restored = subprocess.run(["xclip", "-selection", "clipboard", "-out"], env=display, capture_output=True,
                                      text=True, timeout=10).stdout
            assert restored == "what was copied before"
        finally:
            _restore_display(saved)


def _restore_display(saved: str | None) -> None:
    if saved is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = saved


KITTY = r"""
import sys, tkinter as tk
root = tk.Tk(className="kitty")  # WM_CLASS "kitty", "Kitty": a terminal, as far as the paste chord goes
root.title("stenod focus window")
entry = tk.Entry(root)
entry.pack()
root.after(100, lambda: (root.focus_force(), entry.focus_set()))
root.mainloop()
"""


def test_the_focused_x11_window_picks_the_paste_chord(display) -> None:
    from stenod_clients.typing.focus import focused_app, paste_chord
    from stenod_clients.typing.shaping import Shaping

    if shutil.which("xprop") is None:
        pytest.fail("xprop is needed (make deps installs x11-utils)", pytrace=False)
    proc = subprocess.Popen([sys.executable, "-c", KITTY], env=display)
    try:
        def focused() -> bool:
            out = subprocess.run(["xdotool", "getwindowfocus", "getwindowname"], env=display, capture_output=True,
                                 text=True, timeout=10).stdout.strip()
            return out == "stenod focus window"

        until(focused, "the window has the focus", timeout=20)
        app = focused_app(display)
        assert (app.name, app.via) == ("kitty", "x11")
        assert paste_chord(app.name, "ctrl+v", Shaping().paste_keys({})) == "ctrl+shift+v"
        out = subprocess.run([sys.executable, "-m", "stenod", "type", "--check"], env=display, capture_output=True,
                             text=True, timeout=60)
        assert "focused app: kitty; paste chord there: ctrl+shift+v" in out.stdout
    finally:
        reap(proc)


def _typed_through_profile(display: dict[str, str], config: Config, events: list[Event]) -> None:
    from stenod_clients.typing.backends import Xdotool
    from stenod_clients.typing.focus import focused_app
    from stenod_clients.typing.shaping import Shaping
    from stenod_clients.typing.typer import Typist

    typist = Typist(Xdotool(), focus=lambda: focused_app(display), shaping=Shaping.from_config(config))

    async def feed() -> None:
        for event in events:
            await typist.feed(event)
    os.environ["DISPLAY"], saved = display["DISPLAY"], os.environ.get("DISPLAY")
    try:
        asyncio.run(feed())
    finally:
        _restore_display(saved)


def test_the_focused_window_s_profile_shapes_what_is_typed_and_check_names_it(display, tmp_path) -> None:
    said = replace(final(1, "Twenty five apples."), raw="um twenty five apples.")
    tables = {"mail": {"apps": ["tk"], "numbers": True, "fillers": True}}  # the Tk window's class is "tk"
    with TextWindow(display, tmp_path) as window:
        _typed_through_profile(display, merge(Config(), {"profiles": tables}), [hello(), said, speech_end(1)])
        assert window.wait_for("25 apples.") == "25 apples."
        _typed_through_profile(display, merge(Config(), {"profiles": tables}),
                               [hello(stream="s2"), said, speech_end(1), retract(1, by=2)])
        assert window.wait_for("25 apples.") == "25 apples."  # typed, then erased to the character
        elsewhere = {"mail": {**tables["mail"], "apps": ["thunderbird"]}}
        _typed_through_profile(display, merge(Config(), {"profiles": elsewhere}), [hello(), said, speech_end(1)])
        # a new client joins nothing to what an earlier one typed
        assert window.wait_for("25 apples.Twenty five apples.") == "25 apples.Twenty five apples."
        config = tmp_path / "config" / "stenod" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text('[profiles.mail]\napps = ["tk"]\nnumbers = true\n')
        out = subprocess.run([sys.executable, "-m", "stenod", "type", "--check"], capture_output=True, text=True,
                             env={**display, "XDG_CONFIG_HOME": str(tmp_path / "config")}, timeout=60)
    assert "focused app: tk;" in out.stdout and "profile there: mail (numbers=on)" in out.stdout


def test_type_check_reports_the_x11_backends(display) -> None:
    out = subprocess.run([sys.executable, "-m", "stenod", "type", "--check"], env=display, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "xdotool  works" in out.stdout and "auto picks: xdotool" in out.stdout
    assert "wtype    no: " in out.stdout


class Session:
    """What every client made of one dictation."""

    truth: list[dict]
    typed: str
    live: str
    tail_finals: list[str]
    tail_json: list[dict]
    history: list[dict]
    page_finals: list[str]
    page_partials: int
    page_state: str
    screenshot: Path


def _subscribers(url: str) -> int | None:
    """How many subscribers the daemon at ``url`` has; None while it does not answer yet."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return json.load(response)["subscribers"]
    except OSError:
        return None


def _start(stack: contextlib.ExitStack, args: list[str], **kwargs: object) -> subprocess.Popen:
    """A process that ``stack`` stops (SIGTERM, then SIGKILL) when it closes."""
    proc = subprocess.Popen(args, **kwargs)  # type: ignore[call-overload]
    stack.callback(reap, proc)
    return proc


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def session(display, eval_dir, tmp_path_factory) -> Iterator[Session]:
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("desktop")
    result = Session()
    with contextlib.ExitStack() as stack:
        _, env = private_pulse(stack, tmp / "xdg")
        env = {**env, "DISPLAY": display["DISPLAY"], "XDG_CONFIG_HOME": str(tmp / "config"),
               "XDG_STATE_HOME": str(tmp / "state")}
        env.pop("WAYLAND_DISPLAY", None)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env["STENOD_URL"] = f"ws://127.0.0.1:{port}"
        _start(stack, [sys.executable, "-m", "stenod", "run", "--device", "pulse", "--listen", f"127.0.0.1:{port}"],
               env=env, stderr=subprocess.DEVNULL)
        window = stack.enter_context(TextWindow(display, tmp))
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                             args=CHROMIUM_FLAGS)
        stack.callback(browser.close)
        until(lambda: _subscribers(url) is not None, "the daemon serves", timeout=120)
        outputs = {name: stack.enter_context((tmp / name).open("w"))
                   for name in ("finals.txt", "events.jsonl", "live.txt")}
        _start(stack, [sys.executable, "-m", "stenod", "type", "--backend", "xdotool"], env=env)
        _start(stack, [sys.executable, "-m", "stenod", "tail", "--finals"], env=env, stdout=outputs["finals.txt"])
        _start(stack, [sys.executable, "-m", "stenod", "tail", "--json"], env=env, stdout=outputs["events.jsonl"])
        _start(stack, [sys.executable, "-m", "stenod", "type", "--live", "--backend", "stdout"], env=env,
               stdout=outputs["live.txt"])
        page = browser.new_page(viewport={"width": 1280, "height": 400})
        page.goto(f"{url}/captions?lines=20&fade=0&size=34")
        truth: list[dict] = []
        token = session_token(env)
        with connect(f"ws://127.0.0.1:{port}/v1/events", additional_headers={"Authorization": f"Bearer {token}"}
                     ) as ws:
            ws.recv(timeout=10)
            until(lambda: (_subscribers(url) or 0) >= 6, "every client is connected")
            reader = threading.Thread(target=_read_all, args=(ws, truth), daemon=True)
            reader.start()
            clips = [eval_dir / "utterances" / "en" / name for name in ("whisper_jfk.wav", "sb_spk1_snt1.wav")]
            for clip in [*clips, spoken(DELETE_THAT, tmp)]:
                closed = sum(e["type"] == "speech_end" for e in list(truth))
                subprocess.run(["paplay", str(clip)], env=env, check=True, timeout=120)
                until(lambda closed=closed: utterances_closed(list(truth), past=closed),
                      f"every utterance of {clip.name} has its final and its end")
            finals = _kept(list(truth))
            # Each client has shown everything before it is stopped.
            result.typed = window.wait_for(" ".join(finals))
            page.wait_for_function("texts => JSON.stringify([...document.querySelectorAll('.final')]"
                                   ".map(l => l.textContent)) === JSON.stringify(texts)", arg=finals)
            result.page_finals = page.eval_on_selector_all(".final", "lines => lines.map(l => l.textContent)")
            result.page_partials = page.locator(".partial").count()
            result.page_state = page.evaluate("document.body.dataset.state")
            ARTIFACTS.mkdir(exist_ok=True)
            result.screenshot = ARTIFACTS / "captions-page.png"
            page.screenshot(path=str(result.screenshot), omit_background=True)
        reader.join(10)
        result.truth = valid(truth)
        # The reference subscriber has left: what it saw is the truth, up to its last event that is not a partial
        # (the daemon may say more after it left, such as "decoding caught up").
        cut = max(e["seq"] for e in truth if e["type"] != "partial")
        every = [e for e in truth if e["type"] == "final"]
        until(lambda: len((tmp / "finals.txt").read_text().splitlines()) >= len(every), "tail --finals is done")
        until(lambda: any(e["seq"] >= cut for e in _jsonl(tmp / "events.jsonl")), "tail --json is done")
        until(lambda: _backspaced((tmp / "live.txt").read_text()) == " ".join(finals), "type --live is done")
    result.live = _backspaced((tmp / "live.txt").read_text())
    listed = subprocess.run([sys.executable, "-m", "stenod", "history", "--json"], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    result.history = [json.loads(line) for line in listed.stdout.splitlines()]
    result.tail_finals = (tmp / "finals.txt").read_text().splitlines()
    result.tail_json = [e for e in _jsonl(tmp / "events.jsonl") if e["seq"] <= cut]
    yield result


def _read_all(ws, out: list[dict]) -> None:
    try:
        while True:
            out.append(json.loads(ws.recv()))
    except Exception:  # closed: the test looks at what arrived
        pass


def _kept(events: list[dict]) -> list[str]:
    """The finals' texts, less those a retract withdrew."""
    withdrawn = {e["utterance_id"] for e in events if e["type"] == "retract"}
    return [e["text"] for e in events if e["type"] == "final" and e["utterance_id"] not in withdrawn]


def _backspaced(typed: str) -> str:
    """Text typed to standard output, with each backspace character taking back the one before it."""
    out: list[str] = []
    for char in typed:
        if char == "\b":
            if out:
                out.pop()
        else:
            out.append(char)
    return "".join(out)


def _finals(session: Session) -> list[str]:
    """Every final, withdrawn or not."""
    return [e["text"] for e in session.truth if e["type"] == "final"]


def test_delete_that_withdrew_the_last_sentence(session) -> None:
    retracts = [e for e in session.truth if e["type"] == "retract"]
    finals = [e for e in session.truth if e["type"] == "final"]
    assert [(r["utterance_id"], r["command"]) for r in retracts] == [(finals[-1]["utterance_id"], "delete that")]
    command = retracts[0]["command_utterance_id"]
    assert not [f for f in finals if f["utterance_id"] == command]  # the command is never text
    assert {"type": "speech_end", "utterance_id": command, "discarded": "command"}.items() <= next(
        e for e in session.truth if e["type"] == "speech_end" and e["utterance_id"] == command).items()


def test_the_dictation_was_heard(session) -> None:
    finals = _finals(session)
    assert len(finals) >= 2
    assert word_error_rate([f"{JFK} {SECOND}"], [" ".join(finals)]) <= 0.15


def test_the_history_kept_every_final_and_marked_the_withdrawn_one(session) -> None:
    assert [(h["text"], h["retracted"]) for h in session.history] == [
        (f, i == len(_finals(session)) - 1) for i, f in enumerate(_finals(session))]


def test_stenod_type_typed_the_finals_into_the_window(session) -> None:
    kept = _kept(session.truth)
    assert len(kept) == len(_finals(session)) - 1
    assert session.typed == " ".join(kept)  # the withdrawn sentence was typed, then erased to the character


def test_live_typing_ends_with_the_same_text_as_typing_finals(session) -> None:
    assert session.live == " ".join(_kept(session.truth))
    early = [e for e in session.truth if e["type"] == "partial" and e["stable_text"]]
    assert early, "no words were committed before the finals"


def test_stenod_tail_wrote_each_final_once(session) -> None:
    # a final printed stays printed: the retract (and the command) print nothing in this mode
    assert session.tail_finals == [f.replace("\n", " ") for f in _finals(session)]
    events = valid([e for e in session.tail_json if e["type"] != "hello"])
    mine = [e for e in events if e["type"] != "partial"]
    truth = [e for e in session.truth if e["type"] not in ("partial", "hello")]
    # Whichever connected later has not seen the daemon's first status event: compare from where both listen.
    start = max(mine[0]["seq"], truth[0]["seq"])
    assert [e for e in mine if e["seq"] >= start] == [e for e in truth if e["seq"] >= start]
    assert any(e["type"] == "final" for e in truth if e["seq"] >= start)
    assert any(e["type"] == "retract" for e in mine)


def test_the_captions_page_showed_every_final(session) -> None:
    assert session.page_state == "connected"
    assert session.page_finals == _kept(session.truth)  # the withdrawn line was dropped
    assert session.page_partials == 0  # each utterance's partial line was replaced by its final
    assert session.screenshot.stat().st_size > 2000
    _save_screenshot(session.screenshot, "captions-page.png")


_LAST_FINAL_IS = """t => { const f = document.querySelectorAll('.final');
                           return f.length > 0 && f[f.length - 1].textContent === t; }"""


def test_the_captions_page_follows_a_restarted_daemon(tmp_path, jfk_wav) -> None:
    from playwright.sync_api import sync_playwright

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    runtime = tmp_path / "a" / "run"
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(Daemon(tmp_path / "a", "--input", str(jfk_wav)))
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                             args=CHROMIUM_FLAGS)
        stack.callback(browser.close)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{first.port}/captions?lines=50&fade=0")
        before = [e["text"] for e in stream_events(first) if e["type"] == "final"]
        page.wait_for_function(_LAST_FINAL_IS, arg=before[-1], timeout=30000)
        shown_before = page.locator(".final").count()
        first.stop()
        page.wait_for_function("document.body.dataset.state === 'disconnected'", timeout=10000)
        assert page.inner_text("#state") == "reconnecting…"
        second = stack.enter_context(Daemon(tmp_path / "b", "--input", str(jfk_wav), port=first.port,
                                            runtime=runtime))
        truth = [e["text"] for e in stream_events(second) if e["type"] == "final"]
        page.wait_for_function("n => document.querySelectorAll('.final').length >= n",
                               arg=shown_before + len(truth), timeout=30000)
        shown = page.eval_on_selector_all(".final", "lines => lines.map(l => l.textContent)")
        assert page.evaluate("document.body.dataset.state") == "connected"
    # the end of the first run (the page opened while it was speaking), then all of the second, none twice
    assert truth and shown[-len(truth):] == truth
    seen_before = shown[:-len(truth)]
    assert seen_before and seen_before == before[len(before) - len(seen_before):]
