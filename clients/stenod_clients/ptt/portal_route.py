"""Push-to-talk through the GlobalShortcuts portal (KDE Plasma 5.27+, Hyprland, GNOME 48+).

The desktop owns the key: stenod asks for one shortcut, ``push-to-talk``, suggesting a trigger; the desktop
shows it in its shortcut settings, where the person may change it. ``Activated`` (the key went down) and
``Deactivated`` (it came up) are the hold and the release. No special permission or group is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dbus_fast import Variant

from stenod_clients.portal import Portal, PortalError, token

INTERFACE = "org.freedesktop.portal.GlobalShortcuts"
SHORTCUT_ID = "push-to-talk"


MODIFIERS = {"ctrl": "CTRL", "shift": "SHIFT", "alt": "ALT", "meta": "LOGO"}
KEYSYMS = {"scrolllock": "Scroll_Lock", "pause": "Pause", "capslock": "Caps_Lock", "insert": "Insert",
           "compose": "Menu", "menu": "Menu", "space": "space", "esc": "Escape", "sysrq": "Print"}


def xdg_trigger(spec: str) -> str:
    """``scrolllock`` / ``leftmeta+space`` → the shortcuts spec's ``Scroll_Lock`` / ``LOGO+space``.

    Only a preference: the desktop decides, and the person may change it in its settings.
    """
    parts = []
    for part in spec.lower().replace("key_", "").split("+"):
        bare = part.strip().removeprefix("left").removeprefix("right")
        if bare in MODIFIERS:
            parts.append(MODIFIERS[bare])
        elif part in KEYSYMS:
            parts.append(KEYSYMS[part])
        else:
            parts.append(part.upper() if part[:1] == "f" and part[1:].isdigit() else part)
    return "+".join(parts)


async def available(portal: Portal) -> bool:
    return await portal.version(INTERFACE) > 0


async def bind(portal: Portal, trigger: str) -> tuple[str, str]:
    """Create the session and bind the shortcut; (session handle, the trigger the desktop chose)."""
    session = await portal.request(INTERFACE, "CreateSession", "a{sv}", [],
                                   {"session_handle_token": Variant("s", token())})
    handle = str(session.get("session_handle", ""))
    if not handle:
        raise PortalError("CreateSession: the portal gave no session")
    shortcut = (SHORTCUT_ID, {"description": Variant("s", "stenod: hold to dictate"),
                              "preferred_trigger": Variant("s", trigger)})
    bound = await portal.request(INTERFACE, "BindShortcuts", "oa(sa{sv})sa{sv}", [handle, [shortcut], ""], {})
    chosen = ""
    for shortcut_id, props in bound.get("shortcuts", []):
        if shortcut_id == SHORTCUT_ID:
            value = props.get("trigger_description")
            chosen = str(value.value if isinstance(value, Variant) else value or "")
    return handle, chosen


async def watch(on_action: Callable[[str], None], trigger: str, on_bound: Callable[[str], None],
                address: str | None = None) -> None:
    """Follow the shortcut until cancelled: ``hold`` on Activated, ``release`` on Deactivated."""
    portal = await Portal.connect(address)
    try:
        if not await available(portal):
            raise PortalError("the desktop portal has no GlobalShortcuts (it needs KDE 5.27+, Hyprland or GNOME 48+)")
        handle: list[str] = []

        def on_signal(member: str, body: list[object]) -> None:
            if not handle or len(body) < 2 or body[0] != handle[0] or body[1] != SHORTCUT_ID:
                return
            if member == "Activated":
                on_action("hold")
            elif member == "Deactivated":
                on_action("release")

        await portal.on_signals(INTERFACE, on_signal)
        session, chosen = await bind(portal, trigger)
        handle.append(session)
        on_bound(chosen or trigger)
        await asyncio.Future()  # until cancelled
    finally:
        portal.close()
