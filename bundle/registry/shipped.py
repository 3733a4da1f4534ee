"""Bundles that ship beside their index: a zoo checkout (``zoo/NAME/`` next to ``zoo/index.json``) or an
installed package (``bundle/_zoo/NAME/``) holds the very bundles its index lists.

Such a folder is packed (deterministically, as a release packs it) and used as the first mirror of its
version, but only when the packed archive has exactly the sha256 the index records: a folder edited
since its release, or of another version, is never taken for the published bundle. So
``bundle.load("ellipsoid_segmentation")`` works offline, with no download, from a checkout or a wheel.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from bundle.registry.archive import archive_name, pack
from bundle.registry.sources import Mirror

log = logging.getLogger(__name__)

__all__ = ["shipped_folder", "shipped_mirror"]


def shipped_folder(record) -> Path | None:
    """The folder beside ``record``'s index that holds this bundle at this version, or None.

    Only a local index (a path) has folders beside it; the version in the folder's
    ``configs/metadata.json`` must be the record's.
    """
    location = str(getattr(record, "index", "") or "")
    if not location or "://" in location:
        return None
    folder = Path(location).resolve().parent / record.name
    try:
        meta = json.loads((folder / "configs" / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return folder if isinstance(meta, dict) and str(meta.get("version")) == record.version else None


def shipped_mirror(record, workdir: Path) -> Mirror | None:
    """A ``file://`` mirror of ``record``'s archive packed from its shipped folder, or None.

    Args:
        record: an index ``VersionRecord`` (name, version, sha256, index).
        workdir: where the packed archive is written (the cache's ``tmp/``).

    None when there is no shipped folder or its archive is not the published one (logged at debug
    level: the index's other sources are then used).
    """
    folder = shipped_folder(record)
    if folder is None:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    info = pack(folder, workdir / f"shipped-{archive_name(record.name, record.version)}")
    if info.sha256 != record.sha256:
        log.debug("%s differs from the published %s@%s (sha256 %s, index has %s); not using it",
                  folder, record.name, record.version, info.sha256, record.sha256)
        info.path.unlink(missing_ok=True)
        return None
    log.info("%s@%s: using the copy shipped at %s", record.name, record.version, folder)
    return Mirror(info.path.as_uri(), kind="shipped")
