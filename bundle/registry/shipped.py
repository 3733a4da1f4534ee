"""Bundles that ship with the package or checkout (``zoo/NAME/``): packed here, used when they are the release.

A zoo name whose index version is also a folder in the shipped ``zoo/`` is packed the way releases are
(``archive.pack``: sorted entries, fixed dates and modes), and the archive goes into the cache only if its
sha256 is the index's. So ``bundle.load('ellipsoid_segmentation')`` works offline, and a shipped folder
that differs from the release (edited, or a run's outputs in it) is never used: the index's sources are.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["shipped_folder", "seed"]


def shipped_folder(name: str, version: str) -> Path | None:
    """The shipped ``zoo/NAME`` folder when its ``configs/metadata.json`` says ``version``, else None."""
    from bundle.registry.index import packaged_zoo

    zoo = packaged_zoo()
    if zoo is None or not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    folder = zoo / name
    try:
        meta = json.loads((folder / "configs" / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return folder if isinstance(meta, dict) and meta.get("version") == version else None


def seed(cache, name: str, version: str, sha256: str) -> bool:
    """Put the shipped folder's archive into ``cache`` as the blob ``sha256``, if it packs to exactly that.

    Returns:
        True when the cache now holds the blob (it was there already, or the shipped folder matched).
    """
    from bundle.errors import BundleError
    from bundle.registry.archive import pack

    blob = cache.blob_path(sha256)
    if blob.exists():
        return True
    folder = shipped_folder(name, version)
    if folder is None:
        return False
    tmp_dir = cache.root / "tmp"
    tmp = tmp_dir / f"{sha256}.shipped-{os.getpid()}-{threading.get_ident()}.zip"
    try:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        info = pack(folder, tmp)
        if info.sha256 != sha256:
            log.info("shipped %s differs from the release %s@%s (sha256 %s, not %s); using the index's sources",
                     folder, name, version, info.sha256, sha256)
            return False
        blob.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, blob)
    except (OSError, BundleError) as err:  # a read-only cache, an unreadable file: the index's sources remain
        log.info("cannot use shipped %s: %s", folder, err)
        return False
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s@%s: using the shipped folder %s (same sha256 as the release)", name, version, folder)
    return True
