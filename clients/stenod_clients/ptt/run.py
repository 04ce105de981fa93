"""``stenod ptt``: hold a key to dictate. The daemon is paused, listens while the key is down, and on its
release ends the utterance at once (no waiting for silence) and pauses again."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Coroutine
from typing import Any

from stenod.errors import StenodError
from stenod_clients.connection import check_url, control, daemon_url, unreachable
from stenod_clients.portal import Portal, PortalError
from stenod_clients.ptt import evdev_route, portal_route
from stenod_clients.ptt.keys import KeyNameError, parse_chord


def _say(message: str) -> None:
    print(f"stenod ptt: {message}", file=sys.stderr, flush=True)


class Sender:
    """Sends hold and release to the daemon in the order they happened, one at a time."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.sent = ""  # the last action the daemon took: a "hold" here means it is listening

    def __call__(self, action: str) -> None:
        self.queue.put_nowait(action)

    async def run(self) -> None:
        while True:
            action = await self.queue.get()
            try:
                await control(action, self.url)
                self.sent = action
            except (OSError, TimeoutError, StenodError) as exc:  # the daemon is away: say so, go on
                _say(f"could not send {action} to the daemon: {exc or type(exc).__name__}")
            except Exception as exc:  # a refused or broken exchange
                _say(f"the daemon did not take {action}: {exc}")


async def _portal_usable(address: str | None) -> str:
    """'' when the GlobalShortcuts portal is there, else why not."""
    try:
        portal = await Portal.connect(address)
    except PortalError as exc:
        return str(exc)
    try:
        return "" if await portal_route.available(portal) else "the desktop portal has no GlobalShortcuts"
    finally:
        portal.close()


async def choose_route(route: str, key: str, allow: tuple[str, ...], address: str | None = None) -> str:
    """The route to use: the portal when it is there, else /dev/input; StenodError when neither works."""
    if route != "auto":
        return route
    why_portal = await _portal_usable(address)
    if not why_portal:
        return "portal"
    chord = parse_chord(key)
    if evdev_route.keyboards(chord, allow):
        return "evdev"
    raise StenodError(f"no push-to-talk route here: portal: {why_portal}; /dev/input: "
                      f"{evdev_route.unreadable_reason()}. Bind `stenod hold` to the key's press and "
                      "`stenod release` to its release in your compositor instead (docs/clients.md)")


async def run(key: str, route: str = "auto", allow: tuple[str, ...] = (), url: str | None = None,
              address: str | None = None) -> None:
    try:
        chord = parse_chord(key)
    except KeyNameError as exc:
        raise StenodError(str(exc)) from None
    route = await choose_route(route, key, allow, address)
    url = check_url(url or daemon_url())
    sender = Sender(url)
    try:
        state = await control("pause", url)
    except Exception as exc:
        raise StenodError(unreachable(url, exc)) from None
    _say(f"the daemon is {state}; it listens while the key is held")
    watcher: Coroutine[Any, Any, None]
    if route == "portal":
        def bound(trigger: str) -> None:
            _say(f"hold {trigger} to dictate (change it in your desktop's shortcut settings)")
        watcher = portal_route.watch(sender, portal_route.xdg_trigger(key), bound, address)
    else:
        if not evdev_route.keyboards(chord, allow):
            raise StenodError(f"/dev/input: {evdev_route.unreadable_reason()}")
        _say(f"hold {key} to dictate (read from /dev/input)")
        watcher = evdev_route.watch(chord, sender, allow)
    await _until_done(watcher, sender)


async def _until_done(watcher: Coroutine[Any, Any, None], sender: Sender) -> None:
    tasks = [asyncio.create_task(watcher), asyncio.create_task(sender.run())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a route that failed: its one-line error
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if sender.sent == "hold":  # stopped with the key down: what was said still gets its final
            with contextlib.suppress(Exception):
                await control("release", sender.url)

