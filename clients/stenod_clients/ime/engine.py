"""The IBus engine: the daemon's partials as preedit in the focused text field, its finals committed there.

Run it as ``stenod ime``: it connects to the IBus daemon (``$IBUS_ADDRESS``, else the session's), registers
the ``stenod`` engine and follows the daemon's events; select it with ``ibus engine stenod`` or as an input
source. Launched by IBus from the component file that ``stenod install --user --client ime`` writes, it is
``stenod ime --ibus``. Keys pass through untouched, so typing works as with any layout. The engine's
property shows whether the daemon listens; activating it pauses or resumes. A spoken "scratch that" erases
what was committed for the utterance it withdraws, with BackSpace keys, in the text field it went to only.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from stenod.core.committed import KEPT
from stenod.core.events import Event, Final
from stenod.errors import StenodError
from stenod_clients.ime.dictation import Action, Commit, Dictation, Erase, Show, State
from stenod_clients.ime.install import BUS_NAME, ENGINE
from stenod_clients.typing.focus import Focused, focused_app
from stenod_clients.typing.shaping import Shaping, typing_config

BACKSPACE_KEYCODE = 14  # the kernel's KEY_BACKSPACE, as IBus counts key codes
PENDING_S = 10.0  # a final that arrives while no text field has the focus waits this long for one
LABELS = {"listening": "Dictation: listening", "paused": "Dictation: paused (click to resume)"}


def _say(message: str) -> None:
    print(f"stenod ime: {message}", file=sys.stderr, flush=True)


def load_gi() -> tuple[Any, Any, Any]:
    """GLib, GObject and IBus from PyGObject, or one line saying what to install."""
    try:
        import gi

        gi.require_version("IBus", "1.0")
        from gi.repository import GLib, GObject, IBus
    except (ImportError, ValueError) as exc:
        raise StenodError(f"the input method needs IBus's GObject bindings: sudo apt install ibus gir1.2-ibus-1.0 "
                          f"python3-gi, then `make install` exposes them to stenod's venv ({exc})") from None
    return GLib, GObject, IBus


class Router:
    """Applies actions to the engine that has the focus; finals with no focused field wait a little."""

    def __init__(self) -> None:
        self.focused: Any = None
        self.pending: list[tuple[float, str, int]] = []
        self.committed: dict[int, Any] = {}  # utterance → the engine (text field) its text was committed to
        self.state = "starting"
        self.on_state: Callable[[str], None] = lambda state: None
        self.on_refused: Callable[[], None] = lambda: None  # an erase not done: earlier text is out of reach
        self.dropped = 0  # finals that waited too long for a focused field

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, State):
                self.state = action.state
                self.on_state(action.state)
            elif isinstance(action, Show):
                if self.focused is not None:
                    self.focused.show(action.text)
            elif isinstance(action, Commit):
                if self.focused is not None:
                    self._commit(self.focused, action.text, action.utterance)
                else:
                    now = time.monotonic()
                    self._keep_pending(now)
                    self.pending.append((now, action.text, action.utterance))
            elif isinstance(action, Erase):
                self._erase(action)

    def _commit(self, engine: Any, text: str, utterance: int) -> None:
        engine.commit(text)
        self.committed[utterance] = engine
        while len(self.committed) > KEPT:
            del self.committed[next(iter(self.committed))]

    def _keep_pending(self, now: float) -> None:
        fresh = [p for p in self.pending if now - p[0] <= PENDING_S]
        self.dropped += len(self.pending) - len(fresh)
        self.pending = fresh

    def _erase(self, action: Erase) -> None:
        waiting = [p for p in self.pending if p[2] == action.utterance]
        if waiting:  # withdrawn before any field took it: it is never committed
            self.pending = [p for p in self.pending if p[2] != action.utterance]
            return
        engine = self.committed.pop(action.utterance, None)
        if action.count is None:
            _say(f'"{action.command}": cannot take back utterance {action.utterance}, later text came after it')
        elif engine is None or engine is not self.focused:
            self.on_refused()
            _say(f'"{action.command}": not erasing {action.count} characters, another text field has the focus')
        else:
            engine.erase(action.count)

    def focus(self, engine: Any) -> None:
        self.focused = engine
        self._keep_pending(time.monotonic())
        if self.dropped:
            _say(f"{self.dropped} final(s) arrived with no text field focused and were not committed")
            self.dropped = 0
        fresh, self.pending = self.pending, []
        for _, text, utterance in fresh:
            self._commit(engine, text, utterance)

    def blur(self, engine: Any) -> None:
        if self.focused is engine:
            self.focused = None


def make_engine_class(GObject: Any, IBus: Any, router: Router, control: Callable[[str], None]) -> type:
    """The IBus.Engine subclass (made here, after IBus is imported)."""

    class StenodEngine(IBus.Engine):  # type: ignore[misc]
        __gtype_name__ = "StenodEngine"

        def show(self, text: str) -> None:
            if not text:
                self.hide_preedit_text()
                return
            ibus_text = IBus.Text.new_from_string(text)
            ibus_text.append_attribute(IBus.AttrType.UNDERLINE, IBus.AttrUnderline.SINGLE, 0, len(text))
            # CLEAR: a preedit left behind when the focus moves is dropped, never typed
            self.update_preedit_text_with_mode(ibus_text, len(text), True, IBus.PreeditFocusMode.CLEAR)

        def commit(self, text: str) -> None:
            self.hide_preedit_text()
            self.commit_text(IBus.Text.new_from_string(text))

        def erase(self, count: int) -> None:
            """BackSpace ``count`` times, forwarded to the application as keys (works where surrounding text
            is not offered, as in terminals)."""
            for _ in range(count):
                self.forward_key_event(IBus.KEY_BackSpace, BACKSPACE_KEYCODE, 0)
                self.forward_key_event(IBus.KEY_BackSpace, BACKSPACE_KEYCODE, IBus.ModifierType.RELEASE_MASK)

        def property(self) -> Any:
            state = router.state
            label = LABELS.get(state, f"Dictation: {state.replace('_', ' ')}")
            return IBus.Property(key="stenod.state", prop_type=IBus.PropType.NORMAL,
                                 label=IBus.Text.new_from_string(label),
                                 icon="audio-input-microphone" if state == "listening" else "microphone-disabled",
                                 tooltip=IBus.Text.new_from_string("stenod dictation: click to pause or resume"),
                                 sensitive=True, visible=True)

        def do_focus_in(self) -> None:
            props = IBus.PropList()
            props.append(self.property())
            self.register_properties(props)
            router.focus(self)

        def do_focus_out(self) -> None:
            self.hide_preedit_text()
            router.blur(self)

        def do_disable(self) -> None:
            self.do_focus_out()

        def do_reset(self) -> None:
            self.hide_preedit_text()

        def do_process_key_event(self, keyval: int, keycode: int, state: int) -> bool:
            return False  # every key goes to the application as if no input method were there

        def do_property_activate(self, name: str, state: int) -> None:
            if name == "stenod.state":
                control("resume" if router.state == "paused" else "pause")

    GObject.type_register(StenodEngine)
    return StenodEngine


def component(IBus: Any, command: str) -> Any:
    """The component that describes the engine to IBus (also written as XML by the installer)."""
    from stenod import __version__

    comp = IBus.Component(name=BUS_NAME, description="stenod dictation", version=__version__, license="MIT",
                          author="stenod", homepage="", command_line=command, textdomain="stenod")
    comp.add_engine(IBus.EngineDesc(name=ENGINE, longname="Dictation (stenod)",
                                    description="What you say, as you say it", language="other", license="MIT",
                                    author="stenod", icon="audio-input-microphone", layout="default", rank=0))
    return comp


def follow(url: str | None, deliver: Callable[[Event], None], stop: threading.Event) -> threading.Thread:
    """Follow the daemon's events on a thread of its own (reconnecting as every client does)."""
    from stenod_clients.connection import Subscription

    async def run() -> None:
        async for event in Subscription(url, on_status=_say):
            deliver(event)
            if stop.is_set():
                return

    def main() -> None:
        try:
            asyncio.run(run())
        except Exception as exc:
            _say(f"stopped following the daemon: {exc}")

    thread = threading.Thread(target=main, name="stenod-ime-events", daemon=True)
    thread.start()
    return thread


def profile_shaper(shaping: Shaping, focus: Callable[[], Focused] = focused_app) -> Callable[[Event], Event]:
    """Each final shaped by the profile of the focused application, as ``stenod type`` does; other events
    as they are. It asks which window has the focus, so it runs on the events' thread, not GLib's."""
    def shape(event: Event) -> Event:
        return shaping.final(event, shaping.profile(focus().name)) if isinstance(event, Final) else event
    return shape


def run(url: str | None = None, preedit: bool = True, launched_by_ibus: bool = False, command: str = "") -> int:
    GLib, GObject, IBus = load_gi()
    from stenod_clients.connection import control as send_control

    IBus.init()
    bus = IBus.Bus()
    if not bus.is_connected():
        raise StenodError("cannot reach the IBus daemon: is ibus-daemon running? (ibus-daemon -drx, or ibus restart)")
    loop = GLib.MainLoop()
    router = Router()
    dictation = Dictation(preedit=preedit)
    shape = profile_shaper(Shaping.from_config(typing_config("stenod ime")))

    def control(kind: str) -> None:
        def send() -> None:
            try:
                asyncio.run(send_control(kind, url))
            except Exception as exc:  # the daemon is away: say so; the engine goes on
                _say(f"could not {kind} the daemon: {exc or type(exc).__name__}")

        threading.Thread(target=send, daemon=True).start()

    make_engine_class(GObject, IBus, router, control)

    def on_state(state: str) -> None:
        if router.focused is not None:
            router.focused.update_property(router.focused.property())

    router.on_state = on_state
    router.on_refused = dictation.joiner.history.clear
    factory = IBus.Factory.new(bus.get_connection())
    factory.add_engine(ENGINE, GObject.type_from_name("StenodEngine"))
    if launched_by_ibus:
        bus.request_name(BUS_NAME, 0)
    else:
        bus.register_component(component(IBus, command or "stenod ime --ibus"))
    bus.connect("disconnected", lambda *_: loop.quit())
    stop = threading.Event()

    def deliver(event: Event) -> None:
        shaped = shape(event)

        def apply() -> bool:
            router.apply(dictation.feed(shaped))
            return False  # once

        GLib.idle_add(apply)

    follow(url, deliver, stop)
    _say(f"engine '{ENGINE}' ready" + ("" if preedit else " (commits only, no preedit)"))
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
    return 0
