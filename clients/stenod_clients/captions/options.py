"""``stenod captions``' options, shared by the Qt overlay (X11) and the layer-shell overlay (Wayland)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    """How the overlay looks and behaves."""

    lines: int = 2
    font_size: int = 28
    fade: float = 8.0
    position: str = "bottom"  # bottom, top or centre
    theme: str = "dark"
    click_through: bool = True

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        return cls(lines=max(1, args.lines), font_size=max(6, args.font_size), fade=args.fade, position=args.position,
                   theme=args.theme, click_through=getattr(args, "click_through", True))
