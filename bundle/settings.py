"""Settings read from the environment (on every call, so tests and users can change them): where the cache is,
whether downloads are allowed. Cheap to import: no module here imports anything heavy."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["allow_missing_reference", "cache_root", "duplicate_keys", "offline"]


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


def duplicate_keys() -> str:
    """What a duplicate key in a config file does: ``BUNDLE_DUPLICATE_KEYS`` (``warn`` or ``error``), else
    ``error`` when MONAI's ``MONAI_FAIL_ON_DUPLICATE_CONFIG`` is ``1`` (MONAI's test), else ``warn``."""
    value = os.environ.get("BUNDLE_DUPLICATE_KEYS", "").strip().lower()
    if value in ("warn", "error"):
        return value
    if value:
        from bundle.errors import ConfigError

        raise ConfigError(f"BUNDLE_DUPLICATE_KEYS='{value}' is not a choice", hint="set it to warn or error")
    return "error" if os.environ.get("MONAI_FAIL_ON_DUPLICATE_CONFIG", "0") == "1" else "warn"


def allow_missing_reference() -> bool:
    """MONAI's ``MONAI_ALLOW_MISSING_REFERENCE`` (anything but ``0`` allows, as in MONAI): the default of
    ``ReferenceResolver.allow_missing_reference``, read once when ``bundle.config.items`` is imported."""
    return os.environ.get("MONAI_ALLOW_MISSING_REFERENCE", "0") != "0"
