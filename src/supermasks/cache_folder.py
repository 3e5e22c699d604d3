"""Where supermasks keeps what it can rebuild (compiled loops, decoded data sets): one cache folder per user."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "SUPERMASKS_CACHE"  # a folder to use instead of the platform's cache folder


def cache_root() -> Path:
    """`$SUPERMASKS_CACHE`, else the platform's cache folder for supermasks (`~/.cache/supermasks` on Linux, as
    downloads use)."""
    base = os.environ.get(ENV_CACHE)
    if not base:
        import pooch  # only where something is cached or looked up

        base = str(pooch.os_cache("supermasks"))
    return Path(base).expanduser()


__all__ = ["ENV_CACHE", "cache_root"]
