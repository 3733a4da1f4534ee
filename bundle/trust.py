"""The one trust rule, for ``Bundle``, ``Config``, ``ConfigWorkflow``, ``bundle.load`` and the CLI alike.

- A bundle that came from a download (a zoo name, a URL, Hugging Face, MONAI's zoo: anything that lives
  in the bundle cache) is **untrusted** unless the caller says ``trusted=True`` (``--trusted``): it is
  built in safe mode and its ``scripts/`` are not importable.
- A folder the user points at (or config files outside the cache) is **trusted** unless the caller says
  ``trusted=False`` (``--safe``): the user chose to run it, as with ``monai.bundle``.

``trusted=None`` (every default) means "by that rule"; True or False always wins.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_trusted", "is_download", "resolve_trusted"]


def is_download(path: str | os.PathLike | None) -> bool:
    """True when ``path`` (a bundle folder or a file in one) lies inside the bundle cache."""
    if path is None:
        return False
    from bundle.settings import cache_root

    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(cache_root()))
    except ValueError:
        return False
    return True


def default_trusted(path: str | os.PathLike | None) -> bool:
    """The trust a bundle at ``path`` gets when the caller does not say: False for a download, else True."""
    return not is_download(path)


def resolve_trusted(trusted: bool | None, path: str | os.PathLike | None) -> bool:
    """``trusted`` when it is given, else ``default_trusted(path)``."""
    return default_trusted(path) if trusted is None else bool(trusted)
