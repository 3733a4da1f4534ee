"""Fetching the files a bundle lists in ``large_files.yml|yaml|json`` (MONAI's ``download_large_files``):
each goes to its path inside the bundle folder (paths that leave it are refused when the manifest is
read), checked against its ``hash_val`` (md5, sha1, sha256 or sha512) before it is renamed into place."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from bundle.errors import BundleFileNotFoundError, IntegrityError, Location, did_you_mean

__all__ = ["fetch_large_files", "require_manifest"]

log = logging.getLogger(__name__)


def fetch_large_files(root: str | os.PathLike, *, names: list[str] | None = None, force: bool = False,
                      progress: bool | None = None) -> list[Path]:
    """Download the bundle's large files that are missing or do not match their hash.

    Args:
        root: the bundle folder.
        names: only these entries (their ``path``); default all. A name the manifest does not list is an
            error.
        force: download even files that are there and match.
        progress: show progress bars (default: on a terminal).

    Returns:
        The files downloaded.

    Raises:
        FormatError: the manifest is invalid or a path leaves the bundle folder.
        BundleFileNotFoundError: a name in ``names`` is not in the manifest.
        IntegrityError: a download does not match its hash (nothing is left in its place).
        DownloadError: a file cannot be downloaded.
    """
    from bundle.format.large_files import find_manifest, read_large_files
    from bundle.registry.fetch import fetch, file_digest

    root = Path(root)
    entries = read_large_files(root)
    listed = [e.path for e in entries]
    unknown = [n for n in names or () if n not in listed]
    if unknown:
        raise BundleFileNotFoundError(
            f"the large-files manifest of '{root}' lists no '{unknown[0]}'",
            location=Location(str(find_manifest(root) or root)),
            hint=did_you_mean(unknown[0], listed) or f"it lists: {', '.join(listed) or 'nothing'}")
    fetched = []
    for entry in entries:
        if names is not None and entry.path not in names:
            continue
        target = entry.target(root)
        if target.is_file() and not force and entry.matches(root) is not False:
            continue
        if not entry.hash_val:
            log.warning("%s has no hash in the large-files manifest; its download cannot be verified", entry.path)
        sha256 = entry.hash_val.lower() if entry.hash_type == "sha256" and entry.hash_val else None
        staged = target.with_name(f".{target.name}.download")
        fetch(entry.url, staged, sha256=sha256, progress=progress)
        if entry.hash_val and sha256 is None:
            digest = file_digest(staged, entry.hash_type or "md5")
            if digest != entry.hash_val.lower():
                staged.unlink(missing_ok=True)
                raise IntegrityError(entry.url, expected=entry.hash_val, actual=digest, kind=entry.hash_type or "md5",
                                     hint=f"nothing was written to {entry.path}; the large-files manifest and the "
                                          "hosted file disagree: tell the bundle's author")
        os.replace(staged, target)
        fetched.append(target)
    return fetched


def require_manifest(root: str | os.PathLike, large_file_name: str | None = None) -> Path:
    """The bundle's large-files manifest, which must be there, and be ``large_file_name`` when that is given
    (the meaning of MONAI's ``download_large_files(bundle_path, large_file_name)``).

    Raises:
        BundleFileNotFoundError: the bundle has no manifest, or not one of that name.
        FormatError: it has more than one.
    """
    from bundle.format.large_files import find_manifest

    manifest = find_manifest(root)
    if manifest is None or (large_file_name is not None and manifest.name != large_file_name):
        wanted = large_file_name or "large_files.yml|yaml|json"
        raise BundleFileNotFoundError(f"'{root}' has no {wanted}", location=Location(str(Path(root, large_file_name or ""))),
                                      hint=f"its manifest is {manifest.name}" if manifest is not None else "")
    return manifest
