"""``/captions``: the live captions page, one HTML file with its scripts inline, talking only to this daemon."""

from __future__ import annotations

import functools
from importlib import resources

from stenod.net.http11 import HttpResponse

CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"


@functools.cache
def _page() -> bytes:
    return (resources.files("stenod") / "data" / "captions.html").read_bytes()


def captions_page(token: str) -> HttpResponse:
    """The page, carrying ``token`` (the read token, for a peer that showed a token or runs as this user; else
    "") so that a page the browser fetched as this user can subscribe without anyone copying a token."""
    page = _page().replace(b'data-token=""', f'data-token="{token}"'.encode(), 1)
    return HttpResponse(200, page, "text/html; charset=utf-8", [
        ("Cache-Control", "no-store"), ("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff")])
