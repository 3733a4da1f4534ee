"""The content-addressed cache: archives by sha256, extracted bundles with per-file manifests, all verified on use.

Layout under the root: ``blobs/sha256/<hex>`` (archives, re-hashed on every hit),
``bundles/<name>/<version>/`` (extracted, with ``.bundle-cache.json``), ``tmp/`` (partial downloads,
staging) and ``locks/`` (a file lock per blob and per bundle folder). Every change is made in ``tmp/``
and renamed into place under a lock: concurrent processes download a file once, nobody sees half an entry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from bundle.errors import ZooError
from bundle.registry.archive import bundle_files, extract
from bundle.registry.fetch import check_sha256, fetch, sha256_file
from bundle.registry.manifest import MANIFEST, check_manifest, read_manifest, tree_files, write_manifest
from bundle.settings import cache_root, offline

log = logging.getLogger(__name__)

STALE_TMP_SECONDS = 24 * 3600  # leftovers in tmp/ older than this are removed by prune
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class CacheEntry:
    """One thing in the cache. ``last_used``: seconds since the epoch (a hit refreshes it)."""

    kind: str  # 'blob' | 'bundle'
    name: str | None
    version: str | None
    sha256: str | None
    size: int
    path: Path
    last_used: float

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "version": self.version, "sha256": self.sha256,
                "size": self.size, "path": str(self.path), "last_used": self.last_used}


class Cache:
    """The download cache at ``root`` (default ``BUNDLE_CACHE_DIR``, else ``platformdirs.user_cache_dir("bundle")``).

    Example:
        >>> cache = Cache()
        >>> folder = cache.bundle("digits", "0.1.0", "9f86d0...", ["https://example.org/digits_v0.1.0.zip"])  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = cache_root() if root is None else Path(root).expanduser()

    def __repr__(self) -> str:
        return f"Cache('{self.root}')"

    @property
    def offline(self) -> bool:
        """True when ``BUNDLE_OFFLINE`` is set (1/true/yes/on): nothing is downloaded, only the cache is used."""
        return offline()

    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / "sha256" / check_sha256(sha256)

    def bundle_path(self, name: str, version: str) -> Path:
        return self.root / "bundles" / _check_part(name, "name") / _check_part(version, "version")

    # --- blobs ----------------------------------------------------------------------------------

    def blob(self, sha256: str, urls: str | Iterable[Any], *, size: int | None = None,
             headers: dict[str, str] | None = None, progress: bool | None = None) -> Path:
        """The verified file with this sha256: from the cache, else downloaded from the first url that works.

        Args:
            sha256: the file's hex digest.
            urls: mirrors, tried in order: URLs, or objects with ``url`` and ``headers`` (a
                ``Mirror``: each mirror's own headers, e.g. its token, go to it only).
            size: the expected size in bytes.
            headers: extra request headers.

        Returns:
            The path under ``blobs/sha256/``.

        Raises:
            ZooError: offline and not cached, or every url failed (each failure listed);
                an ``IntegrityError``/``DownloadError`` when there was one url.
        """
        return self._blob(sha256, urls, size=size, headers=headers, progress=progress, what=f"file sha256:{sha256}")

    def _blob(self, sha256, urls, *, size, headers, what: str, progress: bool | None = None) -> Path:
        digest = check_sha256(sha256)
        urls = [urls] if isinstance(urls, str) else list(urls)
        path = self.blob_path(digest)
        with self._locked(digest, what):
            if path.exists():
                actual = sha256_file(path) if size is None or path.stat().st_size == size else "(wrong size)"
                if actual == digest:
                    _touch(path)
                    return path
                log.warning("cached %s is corrupted (sha256 %s); deleting it and downloading it again", what, actual)
                path.unlink()
            if self.offline:
                raise ZooError(
                    f"{what} is not in the cache ({self.root}) and BUNDLE_OFFLINE=1 forbids downloading it",
                    hint="download it on a connected machine and copy the cache folder here (or point "
                         "BUNDLE_CACHE_DIR at a copy), or unset BUNDLE_OFFLINE",
                )
            if not urls:
                raise ZooError(f"{what} is not in the cache and has no source to download it from")
            failures: list[tuple[str, ZooError]] = []
            for source in urls:
                url = getattr(source, "url", source)
                sent = {**(headers or {}), **getattr(source, "headers", {})}
                try:
                    return fetch(url, path, sha256=digest, size=size, headers=sent or None, progress=progress,
                                 part=self.root / "tmp" / f"{digest}.part")
                except ZooError as err:
                    failures.append((url, err))
                    if len(failures) < len(urls):
                        log.warning("%s: %s; trying the next source", url, err.message)
        if len(failures) == 1:
            raise failures[0][1]
        listing = "".join(f"\n    {url}: {err.message}" for url, err in failures)
        error = ZooError(f"could not download {what} from any of its {len(urls)} sources:{listing}",
                         hint=failures[-1][1].hint)
        error.failures = failures
        raise error

    # --- bundles --------------------------------------------------------------------------------

    def bundle(self, name: Any, version: str | None = None, sha256: str | None = None,
               urls: str | Iterable[Any] = (), *, size: int | None = None, origin: str | None = None,
               headers: dict[str, str] | None = None, progress: bool | None = None) -> Path:
        """The verified, extracted bundle folder ``bundles/NAME/VERSION/``.

        A cached folder is checked against its manifest (every file's sha256); a changed, missing or
        extra file gets it extracted again from its (verified) archive.

        Args:
            name: the bundle name, or a record with ``name``, ``version``, ``sha256``, ``size`` and
                ``sources`` (its ``{"url": ...}`` entries become the urls), e.g. an index VersionRecord.
            version: the version.
            sha256: the archive's hex digest.
            urls: where to download the archive, tried in order (URLs or ``Mirror``s, as for ``blob``).
            size: the archive's size in bytes.
            origin: where it came from, recorded in the manifest (default: the first url).
            headers: extra request headers.
            progress: show a progress bar while downloading (default: on a terminal).

        Raises:
            ZooError: offline and not cached, every source failed, or a name/version that is not a folder name.
            UnsafeArchiveError: the archive is unsafe to extract.
        """
        if not isinstance(name, str):
            record = name
            name, version = record.name, record.version
            sha256, size = record.sha256, getattr(record, "size", None) if size is None else size
            urls = urls or [s["url"] for s in getattr(record, "sources", ()) or () if isinstance(s, dict) and "url" in s]
        urls = [urls] if isinstance(urls, str) else list(urls)
        if version is None or sha256 is None:
            raise ZooError(f"bundle '{name}': a version and the archive's sha256 are needed to cache it")
        digest = check_sha256(sha256)
        folder = self.bundle_path(name, version)
        what = f"bundle '{name}' version {version}"
        with self._locked(f"bundle-{name}-{version}", what):
            manifest = read_manifest(folder)
            if manifest is not None and manifest.get("sha256") == digest:
                problems = check_manifest(folder, manifest)
                if not problems:
                    _touch(folder / MANIFEST)
                    return folder
                log.warning("cached %s changed (%s); extracting it again from its archive", what, "; ".join(problems[:5]))
            elif manifest is not None:
                log.warning("cached %s came from another archive (sha256 %s); replacing it", what, manifest.get("sha256"))
            blob = self._blob(digest, urls, size=size, headers=headers, what=what, progress=progress)
            with self._staging(name) as staging:
                root = extract(blob, staging / name)
                self._install(folder, root, name, version, digest, origin or (getattr(urls[0], "url", urls[0]) if urls else None))
        return folder

    def find_tree(self, name: str, version: str) -> Path | None:
        """The cached folder ``bundles/NAME/VERSION/`` when it is there and matches its manifest, else None
        (for sources without an archive hash: a Hugging Face snapshot, MONAI's zoo)."""
        folder = self.bundle_path(name, version)
        with self._locked(f"bundle-{name}-{version}", f"bundle '{name}' version {version}"):
            manifest = read_manifest(folder)
            if manifest is None:
                return None
            problems = check_manifest(folder, manifest)
            if problems:
                log.warning("cached %s %s changed (%s); it will be downloaded again", name, version, "; ".join(problems[:5]))
                return None
            _touch(folder / MANIFEST)
            return folder

    def add_tree(self, name: str, version: str, folder: str | os.PathLike, origin: str | None) -> Path:
        """Copy a bundle folder into the cache as ``bundles/NAME/VERSION/`` (for sources that give folders).

        Links are followed (a Hugging Face snapshot is links into its blob store); excluded files
        (``__pycache__``, ``.git*``, top-level ``eval/``, ``logs/``) stay out. Replaces what was there.

        Example:
            >>> Cache().add_tree("spleen", "0.5.0", snapshot_dir, origin="hf:MONAI/spleen@v0.5.0")  # doctest: +SKIP
        """
        source = Path(folder)
        if not source.is_dir():
            raise ZooError(f"cannot add '{source}' to the cache: it is not a folder")
        target = self.bundle_path(name, version)
        lock = self._locked(f"bundle-{name}-{version}", f"bundle '{name}' version {version}")
        with lock, self._staging(name) as staging:
            root = staging / name
            for rel, path in bundle_files(source):
                dst = root / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dst)
                if path.stat().st_mode & 0o111:
                    dst.chmod(dst.stat().st_mode | 0o111)
            root.mkdir(parents=True, exist_ok=True)
            self._install(target, root, name, version, None, origin)
        return target

    def _install(self, folder: Path, root: Path, name: str, version: str, sha256: str | None, origin) -> None:
        write_manifest(root, name=name, version=version, sha256=sha256, origin=origin)
        folder.parent.mkdir(parents=True, exist_ok=True)
        old = self._trash(folder) if folder.exists() else None
        os.replace(root, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        log.info("cached %s %s at %s", name, version, folder)

    # --- listing and pruning ----------------------------------------------------------------------

    def entries(self) -> list[CacheEntry]:
        """Every blob and bundle in the cache, bundles first, each sorted by name and version."""
        bundles: list[CacheEntry] = []
        for name_dir in _subdirs(self.root / "bundles"):
            for folder in _subdirs(name_dir):
                manifest = read_manifest(folder) or {}
                stamp = folder / MANIFEST if (folder / MANIFEST).exists() else folder
                size = sum(p.stat().st_size for _, p in tree_files(folder, links=False))
                bundles.append(CacheEntry("bundle", name_dir.name, folder.name, manifest.get("sha256"), size,
                                          folder, stamp.stat().st_mtime))
        owner = {e.sha256: e for e in bundles if e.sha256}
        blobs = []
        blob_dir = self.root / "blobs" / "sha256"
        for path in sorted(blob_dir.iterdir()) if blob_dir.is_dir() else ():
            if _SHA256.match(path.name) and path.is_file():
                st, ref = path.stat(), owner.get(path.name)
                blobs.append(CacheEntry("blob", ref.name if ref else None, ref.version if ref else None, path.name,
                                        st.st_size, path, st.st_mtime))
        return bundles + blobs

    def prune(self, *, name: str | None = None, older_than_days: float | None = None, keep: int | None = None,
              everything: bool = False, dry_run: bool = False) -> list[CacheEntry]:
        """Remove bundles (and the archives no remaining bundle needs); returns what was (or would be) removed.

        Bundles go when they match every criterion given: ``name``, last used more than
        ``older_than_days`` ago, beyond the newest ``keep`` versions of their name; ``everything``
        selects all (of ``name``, if given). Archives go with their bundle; archives that no bundle
        refers to go too (when last used more than ``older_than_days`` ago, if given; not when a
        ``name`` narrows the prune). An entry in use by another process is skipped.

        Example:
            >>> Cache().prune(keep=2, dry_run=True)  # doctest: +SKIP
        """
        entries = self.entries()
        bundles = [e for e in entries if e.kind == "bundle" and (name is None or e.name == name)]
        cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
        if everything:
            chosen = list(bundles)
        elif cutoff is None and keep is None:
            chosen = []
        else:
            surplus = _beyond_newest(bundles, keep) if keep is not None else {e.path for e in bundles}
            chosen = [e for e in bundles if e.path in surplus and (cutoff is None or e.last_used < cutoff)]
        if not dry_run:
            chosen = [e for e in chosen if self._remove(e)]
        gone = {e.path for e in chosen}
        kept_refs = {e.sha256 for e in entries if e.kind == "bundle" and e.path not in gone}
        freed_refs = {e.sha256 for e in chosen}
        for blob in (e for e in entries if e.kind == "blob" and e.sha256 not in kept_refs):
            unused = blob.sha256 in freed_refs or (everything and name is None) or (
                name is None and blob.name is None and (cutoff is None or blob.last_used < cutoff)
            )
            if unused and (dry_run or self._remove(blob)):
                chosen.append(blob)
        if not dry_run:
            self._clean_tmp()
        return chosen

    def _remove(self, entry: CacheEntry) -> bool:
        # a blob's sha256 is its file name, never empty
        key = entry.sha256 if entry.kind == "blob" and entry.sha256 else f"bundle-{entry.name}-{entry.version}"
        try:
            with self._locked(key, str(entry.path), wait=False):
                trash = self._trash(entry.path)
                shutil.rmtree(trash) if trash.is_dir() else trash.unlink()
        except _Busy:
            log.warning("%s is in use by another process; not removed", entry.path)
            return False
        if entry.kind == "bundle":
            with contextlib.suppress(OSError):
                entry.path.parent.rmdir()  # the name's folder, once its last version is gone
        log.info("removed %s", entry.path)
        return True

    def _clean_tmp(self) -> None:
        """Remove what interrupted runs left in tmp/: trash, and partial files or staging older than a day."""
        tmp = self.root / "tmp"
        now = time.time()
        for path in list(tmp.iterdir()) if tmp.is_dir() else ():
            try:
                if path.name.startswith(".trash-"):
                    shutil.rmtree(path, ignore_errors=True)
                elif now - path.lstat().st_mtime < STALE_TMP_SECONDS:
                    continue
                elif path.name.endswith(".part") and _SHA256.match(path.name.removesuffix(".part")):
                    with self._locked(path.name.removesuffix(".part"), str(path), wait=False):
                        path.unlink()
                elif path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
            except (_Busy, OSError):
                continue

    # --- locks and staging ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, key: str, what: str, *, wait: bool = True) -> Iterator[None]:
        from filelock import FileLock, Timeout

        locks = self.root / "locks"
        lock = FileLock(locks / f"{key}.lock")
        try:
            locks.mkdir(parents=True, exist_ok=True)
            lock.acquire(timeout=0.05)
        except PermissionError:
            # a read-only cache (shared, offline) cannot be locked; it cannot be changed either
            log.debug("cache %s is read-only: %s used without a lock", self.root, what)
            yield
            return
        except Timeout:
            if not wait:
                raise _Busy(what) from None
            log.info("waiting for another process that is fetching %s", what)
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def _staging(self, name: str) -> Iterator[Path]:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{name}.", suffix=".staging", dir=tmp))
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _trash(self, path: Path) -> Path:
        """Move ``path`` into tmp/ (one rename: it is either whole where it was, or gone from there)."""
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        trash = tmp / f".trash-{uuid.uuid4().hex}"
        os.replace(path, trash)
        return trash


class _Busy(Exception):
    """A lock another process holds, when waiting was not wanted."""


def _beyond_newest(bundles: list[CacheEntry], keep: int) -> set[Path]:
    from packaging.version import InvalidVersion, Version

    def order(entry: CacheEntry):
        try:
            return (1, Version(entry.version or ""), "")
        except InvalidVersion:
            return (0, Version("0"), entry.version or "")

    by_name: dict[str | None, list[CacheEntry]] = {}
    for e in bundles:
        by_name.setdefault(e.name, []).append(e)
    return {e.path for group in by_name.values() for e in sorted(group, key=order, reverse=True)[max(keep, 0):]}


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink()) if path.is_dir() else []


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only cache still serves hits
        os.utime(path)


def _check_part(value: Any, what: str) -> str:
    text = str(value)
    if not text or text in (".", "..") or text.startswith(".") or any(c in text for c in "/\\\x00:"):
        raise ZooError(f"bundle {what} '{text}' cannot be a folder name",
                       hint="use letters, digits, '_', '-' and '.' (not first)")
    return text
