"""The ``index`` source: a version from the zoo index, its archive fetched from the first mirror that
answers and checked against the index's sha256 and size."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urljoin

from bundle.errors import ZooError
from bundle.registry.sources import Mirror
from bundle.registry.sources.mirrors import asset_mirror, file_mirror

log = logging.getLogger(__name__)

_SCHEMES = ("http://", "https://", "file://")


def get(cache, name: str, spec: str | None, *, index: str | None = None, kinds: tuple[str, ...] | None = None,
        progress: bool | None = None, **_: object) -> Path:
    """The cached folder of ``name@spec`` from the index, downloaded if needed.

    Args:
        kinds: only mirrors of these kinds (``url``, ``github``, ``hf``); default all, in index order.
    """
    from bundle.registry.index import Index

    record = Index.load(index).resolve(name, spec)
    if record.yanked:
        log.warning("%s@%s is yanked: %s", record.name, record.version, record.yanked)
    mirrors = [m for m in mirrors_of(record) if kinds is None or m.kind in kinds]
    if not mirrors:
        raise ZooError(f"{record.name}@{record.version} has no {' or '.join(kinds or ())} source in the index",
                       hint="use --source index to try every mirror")
    from bundle.registry.shipped import seed

    seed(cache, record.name, record.version, record.sha256)  # a shipped zoo/NAME that is this release
    return cache.bundle(record.name, record.version, record.sha256, mirrors, size=record.size, progress=progress,
                        origin=f"index:{record.index}")


def mirrors_of(record) -> list[Mirror]:
    """The download locations of an index record, in the index's order."""
    return [_mirror(source, record.index) for source in record.sources]


def _mirror(source: dict, index_location: str) -> Mirror:
    if "url" in source:
        return Mirror(_absolute(source["url"], index_location), kind="url")
    if "github" in source:
        return asset_mirror(source["github"], source["tag"], source["asset"])
    return file_mirror(source["hf"], source["revision"], source["filename"])


def _absolute(url: str, index_location: str) -> str:
    """A source URL relative to its index resolved against the index's own location."""
    if url.startswith(_SCHEMES):
        return url
    if index_location.startswith(_SCHEMES):
        return urljoin(index_location, url)
    return Path(os.path.dirname(os.path.abspath(index_location)), url).as_uri()
