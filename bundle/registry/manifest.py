"""The manifest of a cached bundle folder: ``.bundle-cache.json`` with the sha256 of every file.

The cache writes it when a bundle is extracted or copied in, and checks the folder against it on
every use: a changed, missing or extra file means the folder is no longer what was verified.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bundle.atomic import write_atomic
from bundle.registry.fetch import sha256_file

MANIFEST = ".bundle-cache.json"


def write_manifest(folder: Path, *, name: str, version: str, sha256: str | None, origin: str | None) -> dict:
    """Hash every file under ``folder`` and write its manifest there (atomically); returns the manifest.

    Args:
        folder: the bundle folder.
        name: the bundle name.
        version: the bundle version.
        sha256: the archive it was extracted from (None for a folder copied in).
        origin: where it came from (a URL, ``hf:OWNER/NAME@REV``, ...).
    """
    files = {rel: sha256_file(path) for rel, path in tree_files(Path(folder))}
    manifest = {"name": name, "version": version, "sha256": sha256, "origin": origin, "files": files}
    write_atomic(Path(folder) / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def read_manifest(folder: Path) -> dict | None:
    """The ``.bundle-cache.json`` of a cached bundle folder, or None when there is none or it is unreadable."""
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None


def check_manifest(folder: Path, manifest: dict) -> list[str]:
    """Every difference between a cached bundle folder and its manifest (changed, missing, extra files)."""
    expected: dict[str, str] = manifest["files"]
    actual = dict(tree_files(Path(folder)))
    problems = [f"'{rel}' is missing" for rel in sorted(set(expected) - set(actual))]
    problems += [f"'{rel}' was added" for rel in sorted(set(actual) - set(expected))]
    for rel in sorted(set(expected) & set(actual)):
        if sha256_file(actual[rel]) != expected[rel]:
            problems.append(f"'{rel}' changed")
    return problems


def tree_files(root: Path, links: bool = True) -> list[tuple[str, Path]]:
    """Every file under ``root`` but the manifest: ``(posix relpath, path)``, sorted; links to files included."""
    found = []
    for folder, _dirs, files in os.walk(root):
        for f in files:
            path = Path(folder) / f
            rel = path.relative_to(root).as_posix()
            if rel != MANIFEST and (links or not path.is_symlink()) and path.exists():
                found.append((rel, path))
    return sorted(found)


def files_digest(files: dict[str, str]) -> str:
    """One sha256 over a folder's files (relpath -> sha256): what a lock file pins."""
    import hashlib

    lines = "".join(f"{rel}\0{files[rel]}\n" for rel in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def tree_digest(folder: str | os.PathLike) -> str:
    """``files_digest`` of every file under ``folder`` (the cache's manifest excluded), hashing each file."""
    return files_digest({rel: sha256_file(path) for rel, path in tree_files(Path(folder))})
