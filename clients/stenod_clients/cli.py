"""The client subcommands of ``stenod``: status, tail, type, paste-last, ptt, ime, captions, pause, resume, toggle,
hold, release, end."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING

from stenod.errors import StenodError
from stenod_clients.captions import options as captions_options

if TYPE_CHECKING:
    from stenod.config import Config

URL_HELP = "the daemon: HOST:PORT (or ws://HOST:PORT) or unix:///PATH (default: $STENOD_URL, else the daemon's config)"


def cmd_status(args: argparse.Namespace) -> int:
    from stenod_clients.status import run

    return run(args.url, args.json)


def cmd_tail(args: argparse.Namespace) -> int:
    from stenod_clients.tail import tail

    style = "json" if args.json else "finals" if args.finals else "text"
    asyncio.run(tail(style, args.url))
    return 0


def _config() -> Config:
    """The daemon's configuration file, as the typing client reads it (defaults when it is unusable)."""
    from stenod_clients.typing.shaping import typing_config

    return typing_config("stenod type")


def _paste_keys(args: argparse.Namespace, config: Config | None = None) -> tuple[str, dict[str, str] | None]:
    """The paste chord, and the chords by application (None when --paste-keys fixes one for all)."""
    if args.paste_keys:
        return args.paste_keys, None
    from stenod_clients.typing.shaping import Shaping

    config = config or _config()
    return config.typing.paste_keys, Shaping.from_config(config).paste_keys(dict(config.typing.app_paste_keys))


def _check_typing(args: argparse.Namespace) -> int:
    from stenod_clients.typing import backends
    from stenod_clients.typing.focus import focused_app, paste_chord

    for name, why in backends.check():
        print(f"{name:<8} {'works' if not why else 'no: ' + why}")
    from stenod_clients.typing.shaping import Shaping

    config = _config()
    chord, per_app = _paste_keys(args, config)
    try:
        picked = backends.choose("auto", chord, per_app).name
    except backends.TypingError:
        picked = "none"
    print(f"auto picks: {picked}")
    app = focused_app()
    shown = app.name or f"unknown ({app.why})"
    print(f"focused app: {shown}; paste chord there: {paste_chord(app.name, chord, per_app)}")
    profile = Shaping.from_config(config).profile(app.name)
    print(f"profile there: {profile.describe() if profile else 'none (the daemon’s clean-up as it is)'}")
    return 0 if picked != "none" else 1


def cmd_type(args: argparse.Namespace) -> int:
    from stenod_clients.typing import backends, typer

    if args.check:
        return _check_typing(args)
    from stenod_clients.typing.shaping import Shaping

    config = _config()
    try:
        backend = backends.choose(args.backend, *_paste_keys(args, config))
    except backends.TypingError as exc:
        raise StenodError(str(exc)) from None
    asyncio.run(typer.run(backend, live=args.live, url=args.url, shaping=Shaping.from_config(config)))
    return 0


def cmd_paste_last(args: argparse.Namespace) -> int:
    """Type the newest final of the history that was not retracted again; read from the file, no daemon needed."""
    from stenod.history.store import HistoryStore, history_path
    from stenod_clients.typing import backends

    store = HistoryStore.open_readonly(history_path())
    entry = None
    if store is not None:
        with store:
            entry = store.last()
    if entry is None:
        print(f"stenod paste-last: nothing to paste: no dictation in the history ({history_path()})", file=sys.stderr)
        return 1
    try:
        backends.choose(args.backend, *_paste_keys(args)).type(entry.text)
    except backends.TypingError as exc:
        raise StenodError(str(exc)) from None
    return 0


def cmd_control(args: argparse.Namespace) -> int:
    from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

    from stenod.core.events import ProtocolError
    from stenod_clients.connection import check_url, control, daemon_url, unreachable

    url = check_url(args.url or daemon_url())
    try:
        state = asyncio.run(control(args.command, url))
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        raise StenodError(unreachable(url, exc)) from None
    except (WebSocketException, ProtocolError) as exc:
        raise StenodError(f"the daemon did not answer {args.command!r}: {exc}") from None
    print(state)
    return 0


def cmd_ptt(args: argparse.Namespace) -> int:
    try:
        from stenod_clients.ptt.run import run
    except ImportError as exc:
        raise StenodError(f"push-to-talk needs dbus-fast and evdev: pip install 'stenod[desktop]' ({exc})") from None

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.key, args.route, tuple(args.device), args.url))
    return 0


def cmd_ime(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from stenod_clients.ime.engine import run

    command = shlex.join([sys.executable, "-m", "stenod", "ime", "--ibus",
                          *(["--no-preedit"] if not args.preedit else []), *(["--url", args.url] if args.url else [])])
    return run(args.url, preedit=args.preedit, launched_by_ibus=args.ibus, command=command)


def cmd_captions(args: argparse.Namespace) -> int:
    import os

    if args.backend == "layer-shell" or (args.backend == "auto" and os.environ.get("WAYLAND_DISPLAY")):
        from stenod_clients.captions import layer

        why = layer.supported()
        if not why:
            return layer.main(captions_options.Options.from_args(args), args.url)
        if args.backend == "layer-shell":
            raise StenodError(why)
        print(f"stenod captions: no layer-shell overlay ({why}); using the Qt window", file=sys.stderr)
    try:
        from stenod_clients.captions.overlay import main as overlay_main
    except ModuleNotFoundError as exc:
        raise StenodError(f"the captions overlay needs PySide6: pip install 'stenod[overlay]' ({exc})") from None
    except ImportError as exc:  # a Qt library missing, or unusable bindings
        raise StenodError(f"the captions overlay cannot start: {exc}") from None
    return overlay_main(args)


def cmd_hotkeys(args: argparse.Namespace) -> int:
    from stenod_clients.hotkeys import snippets

    print(snippets(args.desktop), end="")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="where the daemon stands: state, model, input device, subscribers, uptime, "
                       "the last final's latency")
    p.add_argument("--json", action="store_true", help="the daemon's /health object as it is")
    p.add_argument("--url", default=None, help=URL_HELP)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("tail", help="print the daemon's events (readable, --json lines, or --finals text)")
    style = p.add_mutually_exclusive_group()
    style.add_argument("--json", action="store_true", help="every event as a JSON line")
    style.add_argument("--finals", action="store_true", help="final text only, one line per utterance")
    p.add_argument("--url", default=None, help=URL_HELP)
    p.set_defaults(func=cmd_tail)

    p = sub.add_parser("type", help="type dictation into the focused window")
    p.add_argument("--backend", default="auto",
                   help="auto (default), xdotool, wtype, portal (GNOME/KDE Wayland), dotool, ydotool, paste or stdout")
    p.add_argument("--live", action="store_true",
                   help="also type committed words as they are committed (never the unstable tail)")
    p.add_argument("--paste-keys", default=None, help="the paste chord for --backend paste, for every window "
                   "(default: [typing] paste_keys, ctrl+v, and ctrl+shift+v in terminals)")
    p.add_argument("--check", action="store_true", help="report which backends work here and why not")
    p.add_argument("--url", default=None, help=URL_HELP)
    p.set_defaults(func=cmd_type)

    p = sub.add_parser("paste-last", help="type the last dictated final again (from the history; bind it to a "
                       "shortcut)")
    p.add_argument("--backend", default="auto",
                   help="auto (default), xdotool, wtype, portal (GNOME/KDE Wayland), dotool, ydotool, paste or stdout")
    p.add_argument("--paste-keys", default=None, help="the paste chord for --backend paste, for every window "
                   "(default: [typing] paste_keys, ctrl+v, and ctrl+shift+v in terminals)")
    p.set_defaults(func=cmd_paste_last)

    for name, what in (("pause", "stop dictation (audio is dropped until resume)"), ("resume", "start dictation"),
                       ("toggle", "pause if listening, resume if paused (bind it to a shortcut)"),
                       ("hold", "push-to-talk key down: start dictation (bind to the key's press)"),
                       ("release", "push-to-talk key up: end the utterance now, then pause (bind to the release)"),
                       ("end", "end the utterance in progress now (its final comes at once) and go on")):
        p = sub.add_parser(name, help=what)
        p.add_argument("--url", default=None, help=URL_HELP)
        p.set_defaults(func=cmd_control, command="end_utterance" if name == "end" else name)

    p = sub.add_parser("ptt", help="push-to-talk: dictate while a key is held (the daemon pauses otherwise)")
    p.add_argument("--key", default="scrolllock",
                   help="the key or chord, as kernel key names: scrolllock (default), f9, rightctrl, leftmeta+space")
    p.add_argument("--route", choices=["auto", "portal", "evdev"], default="auto",
                   help="portal: the desktop's GlobalShortcuts (KDE, Hyprland, GNOME 48+); evdev: /dev/input (the "
                   "'input' group); auto (default): the portal when there is one")
    p.add_argument("--device", action="append", default=[],
                   help="evdev: only keyboards whose name contains this (repeatable)")
    p.add_argument("--url", default=None, help=URL_HELP)
    p.set_defaults(func=cmd_ptt)

    p = sub.add_parser("ime", help="an IBus input method: partials as preedit in the focused field, finals committed")
    p.add_argument("--no-preedit", dest="preedit", action="store_false",
                   help="commit finals only; show nothing while speaking")
    p.add_argument("--ibus", action="store_true", help=argparse.SUPPRESS)  # launched by ibus-daemon
    p.add_argument("--url", default=None, help=URL_HELP)
    p.set_defaults(func=cmd_ime)

    p = sub.add_parser("captions", help="live captions in an always-on-top overlay window (needs stenod[overlay])")
    p.add_argument("--url", default=None, help=URL_HELP)
    captions_options.add_arguments(p)
    p.add_argument("--backend", choices=["auto", "layer-shell", "qt"], default="auto",
                   help="layer-shell: a Wayland overlay surface (sway, Hyprland, river…); qt: a window (X11, "
                   "XWayland, GNOME); auto (default): layer-shell on Wayland when the compositor has it")
    p.add_argument("--no-click-through", dest="click_through", action="store_false",
                   help="take the mouse: drag the overlay at any time (by default clicks pass through it, and "
                   "holding Alt or Super lets you drag it; on Wayland only this option does)")
    p.set_defaults(func=cmd_captions)

    p = sub.add_parser("hotkeys", help="keyboard shortcuts for this desktop (toggle, push-to-talk, paste-last), "
                       "with this stenod's absolute path, to paste into its settings")
    p.add_argument("--desktop", choices=["gnome", "kde", "sway", "hyprland"], default="",
                   help="the desktop to write them for (default: this session's; every one when unknown)")
    p.set_defaults(func=cmd_hotkeys)
