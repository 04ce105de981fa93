"""``stenod captions``' options, shared by the Qt overlay (X11) and the layer-shell overlay (Wayland).

They are the captions page's query options (``daemon/stenod/data/captions.html``) under the same names,
values and units, and clamped to the same ranges: ``--size`` (font size in CSS pixels), ``--lines``,
``--position top|middle|bottom``, ``--theme dark|light|outline``, ``--fade`` (seconds; 0 never fades),
``--width`` (% of the screen) and ``--no-partials`` (the page's ``partials=0``). Older spellings still
parse but are not shown in ``--help``: ``--position centre`` (now ``middle``) and ``--font-size`` in
points (now ``--size`` in pixels, at 96 pixels to 72 points).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

POSITIONS = ("top", "middle", "bottom")
THEMES = ("dark", "light", "outline")
POSITION_ALIASES = {"centre": "middle"}
PX_PER_PT = 96 / 72  # CSS's reference pixel: 1pt = 4/3 px


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


@dataclass(frozen=True)
class Options:
    """How the overlay looks and behaves; ``from_args`` clamps as the page does."""

    lines: int = 2  # finals kept on screen, 1 to 500
    size: float = 44.0  # font size in pixels, 8 to 400
    fade: float = 8.0  # seconds before a final fades out, up to 3600; 0 keeps them
    position: str = "bottom"  # one of POSITIONS
    theme: str = "dark"  # one of THEMES
    width: float = 70.0  # width of the caption area, % of the screen, 10 to 100
    partials: bool = True  # show the utterance being spoken
    click_through: bool = True

    def __post_init__(self) -> None:
        if self.position not in POSITIONS:
            raise ValueError(f"position must be one of {', '.join(POSITIONS)}, not {self.position!r}")
        if self.theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)}, not {self.theme!r}")

    @property
    def fades(self) -> bool:
        """Whether finals fade out at all (``fade`` 0: they stay until newer ones push them off)."""
        return self.fade > 0

    @property
    def model_fade(self) -> float:
        """``fade`` for :class:`CaptionModel`: seconds before a final fades, infinite when it never does."""
        return self.fade if self.fades else math.inf

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        return cls(lines=round(_clamp(args.lines, 1, 500)), size=_clamp(args.size, 8, 400),
                   fade=_clamp(args.fade, 0, 3600), position=args.position, theme=args.theme,
                   width=_clamp(args.width, 10, 100), partials=args.partials,
                   click_through=getattr(args, "click_through", True))


def position(value: str) -> str:
    """``--position``'s value, with the old spelling ``centre`` read as ``middle``."""
    return POSITION_ALIASES.get(value, value)


class PointsToPixels(argparse.Action):
    """``--font-size POINTS``, deprecated: stores ``size`` in pixels and says so on stderr."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        pixels = cast(float, values) * PX_PER_PT
        print(f"stenod captions: {option_string} is deprecated; use --size {pixels:g} (pixels)", file=sys.stderr)
        setattr(namespace, self.dest, pixels)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The look of the captions, as flags named like the captions page's query options."""
    defaults = Options()
    parser.add_argument("--size", type=float, default=defaults.size,
                        help=f"font size in pixels, as the page's size= (default {defaults.size:g})")
    parser.add_argument("--font-size", dest="size", type=float, action=PointsToPixels, help=argparse.SUPPRESS)
    parser.add_argument("--lines", type=int, default=defaults.lines,
                        help=f"finals kept on screen (default {defaults.lines})")
    parser.add_argument("--position", type=position, choices=POSITIONS, default=defaults.position,
                        help=f"where the captions sit (default {defaults.position})")
    parser.add_argument("--theme", choices=THEMES, default=defaults.theme,
                        help="dark (light text on a dark box, the default), light, or outline (outlined text, "
                        "no box)")
    parser.add_argument("--fade", type=float, default=defaults.fade,
                        help=f"seconds before a final fades out; 0 keeps them (default {defaults.fade:g})")
    parser.add_argument("--width", type=float, default=defaults.width,
                        help=f"width of the caption area, %% of the screen (default {defaults.width:g})")
    parser.add_argument("--no-partials", dest="partials", action="store_false",
                        help="show finals only, not the words being spoken")
