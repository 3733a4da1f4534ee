"""Settings read from the environment (on every call, so tests and users can change them): where the cache is,
whether downloads are allowed. Cheap to import: no module here imports anything heavy."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root", "offline"]


def cache_root() -> Path:
    """``BUNDLE_CACHE_DIR``, else the platform's cache folder for ``bundle`` (``~/.cache/bundle`` on Linux)."""
    root = os.environ.get("BUNDLE_CACHE_DIR") or None
    if root is None:
        import platformdirs

        root = platformdirs.user_cache_dir("bundle")
    return Path(root).expanduser()


def offline() -> bool:
    """True when ``BUNDLE_OFFLINE`` is set (1/true/yes/on): nothing is downloaded, only the cache is used."""
    return os.environ.get("BUNDLE_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
