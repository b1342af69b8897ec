"""Where nasnet keeps downloaded datasets and decoded caches."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$NASNET_CACHE``, else ``$XDG_CACHE_HOME/nasnet``, else ``~/.cache/nasnet``."""
    if explicit := os.environ.get("NASNET_CACHE"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "nasnet"


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data location: ``--data PATH``, else ``$NASNET_DATA``, else ``<cache>/data``."""
    if explicit:
        return Path(explicit).expanduser()
    if env := os.environ.get("NASNET_DATA"):
        return Path(env).expanduser()
    return cache_root() / "data"
