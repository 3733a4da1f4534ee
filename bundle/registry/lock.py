"""Lock files: an app declares the bundles it embeds (``bundles.yaml``), ``lock`` pins each to an exact
version, its archive's sha256 and the digest of its files (``bundles.lock``), and ``sync`` fetches exactly
those, verified, from the cache when they are there (so it works offline).

Declaration (YAML or JSON)::

    index: https://example.org/zoo/index.json      # optional: where names are looked up
    bundles:
      ellipsoid_segmentation: "^0.1"               # a range of the index
      spleen_ct_segmentation: {version: "^0.5", source: monai}

The lock (JSON) records, per bundle, the version, the source, the archive's sha256 and size and its
download locations (index bundles), and ``tree``: the sha256 over every file of the bundle folder, which
``sync`` checks whatever the source. Indexes can change after locking; the lock does not need them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundle.errors import FormatError, Location, ZooError
from bundle.registry.manifest import files_digest

__all__ = ["LOCK_FORMAT", "lock", "sync", "locked_bundle", "read_lock"]

log = logging.getLogger(__name__)

LOCK_FORMAT = 1


@dataclass(frozen=True)
class Declared:
    name: str
    spec: str | None
    source: str
    repo: str | None = None
    url: str | None = None


def read_declared(path: str | os.PathLike) -> tuple[list[Declared], str | None]:
    """The bundles a declaration file names, and its ``index`` (None: the default)."""
    from bundle.config.loader import load_file

    path = Path(path)
    if not path.is_file():
        raise FormatError(f"'{path}' does not exist",
                          hint="declare the bundles your app embeds, e.g.\nbundles:\n  ellipsoid_segmentation: \"^0.1\"")
    data = load_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("bundles"), dict):
        raise FormatError(f"'{path}' must hold a mapping with a 'bundles' mapping (name -> version range)",
                          location=Location(str(path)))
    index = data.get("index")
    if index:  # paths are relative to the declaration file, like the app's other files
        locations = index if isinstance(index, list) else str(index).replace(",", " ").split()
        index = ",".join(str(loc) if "://" in str(loc) else str(path.parent / str(loc)) for loc in locations)
    declared = []
    for name, value in data["bundles"].items():
        options = value if isinstance(value, dict) else {"version": value}
        unknown = sorted(set(options) - {"version", "source", "repo", "url"})
        if unknown:
            raise FormatError(f"bundle '{name}' in '{path}' has unknown keys: {', '.join(unknown)}",
                              location=Location(str(path)), hint="use version, source, repo, url")
        version = options.get("version")
        declared.append(Declared(str(name), None if version in (None, "", "*") else str(version),
                                 str(options.get("source", "index")), options.get("repo"), options.get("url")))
    return declared, (str(index) if index else None)


def lock(declared: str | os.PathLike = "bundles.yaml", out: str | os.PathLike | None = None, *,
         progress: bool | None = None) -> dict:
    """Pin every declared bundle: resolve its version, download it into the cache and record its hashes.

    Args:
        declared: the declaration file.
        out: the lock file to write (default: ``bundles.lock`` next to the declaration).
        progress: progress bars for downloads.

    Returns:
        The lock data (also written to ``out``, atomically).

    Raises:
        FormatError: the declaration is malformed.
        ZooError: a bundle or version cannot be resolved or downloaded.
    """
    from bundle.atomic import write_atomic
    from bundle.registry.cache import Cache
    from bundle.registry.sources import source_function

    items, index = read_declared(declared)
    cache = Cache()
    entries: dict[str, Any] = {}
    for item in items:
        entry: dict[str, Any] = {"source": item.source}
        if item.source == "index":
            from bundle.registry.index import Index
            from bundle.registry.sources.index import mirrors_of

            record = Index.load(index).resolve(item.name, item.spec)
            entry.update(version=record.version, sha256=record.sha256, size=record.size,
                         sources=[dict(s) for s in record.sources], index=record.index)
            folder = cache.bundle(record.name, record.version, record.sha256, mirrors_of(record), size=record.size,
                                  progress=progress, origin=f"index:{record.index}")
        else:
            folder = source_function(item.source)(cache, item.name, item.spec, repo=item.repo, url=item.url,
                                                  index=index, progress=progress)
            entry.update(version=folder.name, repo=item.repo, url=item.url, origin=_manifest(folder).get("origin"))
        entry["tree"] = files_digest(_manifest(folder)["files"])
        entries[item.name] = {k: v for k, v in entry.items() if v is not None}
    data = {"lock": LOCK_FORMAT, "declared": Path(declared).name, "bundles": dict(sorted(entries.items()))}
    target = Path(out) if out is not None else Path(declared).with_name("bundles.lock")
    write_atomic(target, (json.dumps(data, indent=2) + "\n").encode())
    return data


def read_lock(path: str | os.PathLike) -> dict:
    """The data of a lock file.

    Raises:
        FormatError: it is missing or not a lock file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FormatError(f"lock file '{path}' does not exist", hint="create it with: bundle lock") from None
    except json.JSONDecodeError as err:
        raise FormatError(f"lock file is not valid JSON: {err.msg}",
                          location=Location(str(path), err.lineno, err.colno)) from None
    if not isinstance(data, dict) or data.get("lock") != LOCK_FORMAT or not isinstance(data.get("bundles"), dict):
        raise FormatError(f"'{path}' is not a bundle lock file (format {LOCK_FORMAT})", hint="recreate it with: bundle lock")
    return data


def locked_bundle(name: str, entry: dict, *, progress: bool | None = None) -> Path:
    """The cached folder of one locked bundle, fetched if needed and checked against the lock.

    Raises:
        IntegrityError: the files differ from the lock's ``tree`` digest.
        ZooError: it cannot be fetched (or offline and not cached).
    """
    from bundle.errors import IntegrityError
    from bundle.registry.cache import Cache
    from bundle.registry.sources import Mirror, source_function

    cache = Cache()
    version = entry["version"]
    if entry.get("source", "index") == "index":
        from bundle.registry.index import VersionRecord
        from bundle.registry.sources.index import mirrors_of

        record = VersionRecord(name=name, version=version, sha256=entry["sha256"], size=entry["size"],
                               sources=tuple(entry.get("sources", ())), published="", license="", summary="",
                               index=entry.get("index", ""))
        mirrors: list[Mirror] = mirrors_of(record)
        folder = cache.bundle(name, version, entry["sha256"], mirrors, size=entry["size"], progress=progress,
                              origin=f"index:{record.index}")
    else:
        folder = source_function(entry["source"])(cache, name, f"=={version}" if entry["source"] != "url" else version,
                                                  repo=entry.get("repo"), url=entry.get("url"), progress=progress)
    actual = files_digest(_manifest(folder)["files"])
    if actual != entry["tree"]:
        raise IntegrityError(f"{name}@{version}", expected=entry["tree"], actual=actual, kind="file tree digest",
                             hint="the bundle's files differ from the ones locked; "
                                  "if the change is intended, run 'bundle lock' again")
    return folder


def _manifest(folder: Path) -> dict:
    """The cache manifest of a folder the cache just verified."""
    from bundle.registry.manifest import read_manifest

    manifest = read_manifest(folder)
    if manifest is None:  # the cache writes one for every folder it hands out
        raise ZooError(f"'{folder}' has no cache manifest", hint="run 'bundle cache prune --all' and sync again")
    return manifest


def sync(lockfile: str | os.PathLike = "bundles.lock", *, dir: str | os.PathLike | None = None,
         progress: bool | None = None) -> dict[str, Path]:
    """Fetch exactly the locked bundles (from the cache when there), each verified.

    Args:
        lockfile: the lock file.
        dir: also copy each bundle to ``DIR/NAME``.

    Returns:
        name -> the bundle's folder.
    """
    from bundle.registry.download import copy_bundle

    data = read_lock(lockfile)
    folders = {}
    for name, entry in data["bundles"].items():
        folder = locked_bundle(name, entry, progress=progress)
        folders[name] = copy_bundle(folder, Path(dir) / name) if dir is not None else folder
    if not folders:
        raise ZooError(f"'{lockfile}' locks no bundles", hint="declare some in bundles.yaml and run 'bundle lock'")
    return folders
