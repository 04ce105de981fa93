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


def config_path() -> Path:
    """``$STENOD_CONFIG``, else ``$XDG_CONFIG_HOME/stenod/config.toml``, else ``~/.config/stenod/config.toml``."""
    if os.environ.get("STENOD_CONFIG"):
        return Path(os.environ["STENOD_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "stenod" / "config.toml"


def runtime_dir() -> Path:
    """``$XDG_RUNTIME_DIR/stenod`` (the Unix socket's home), else a per-user directory under /tmp."""
    base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/stenod-{os.getuid()}"
    return Path(base) / "stenod"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/stenod``, else ``~/.local/state/stenod``: what stenod keeps between runs."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "stenod"
