"""XDG locations."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$STENOD_CACHE_DIR``, else ``$XDG_CACHE_HOME/stenod``, else ``~/.cache/stenod``."""
    if os.environ.get("STENOD_CACHE_DIR"):
        return Path(os.environ["STENOD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stenod"
