"""A bundle's ``large_files.yml|yaml|json``: files too large for its repository, each fetched from a
URL into the bundle folder (MONAI's format: ``large_files: [{path, url, hash_val, hash_type}]``).

Every ``path`` must stay inside the bundle: absolute paths, drive letters, backslashes and ``..``
are refused, as is a path that leaves the folder through a symlink.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bundle.errors import BundleError, ConfigError, FormatError, Location

__all__ = ["HASH_LENGTHS", "LargeFile", "find_manifest", "read_large_files"]

MANIFEST_NAMES = ("large_files.yml", "large_files.yaml", "large_files.json")

#: Supported hash types and the length of their hex digests.
HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}

#: How a missing large file is fetched (used in hints).
FETCH_HINT = "fetch it with `python -m bundle download_large_files {root}`, or from {url}"

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class LargeFile:
    """One entry of ``large_files``.

    Attributes:
        path: where the file goes, relative to the bundle folder (``/``-separated).
        url: where to fetch it from.
        hash_val: its hex digest ("" when the manifest gives none).
        hash_type: ``md5``, ``sha1``, ``sha256`` or ``sha512`` ("" when there is no digest).
    """

    path: str
    url: str
    hash_val: str = ""
    hash_type: str = ""

    def target(self, root: str | os.PathLike) -> Path:
        """The file's place inside the bundle folder ``root``."""
        return Path(root, *PurePosixPath(self.path).parts)

    def matches(self, root: str | os.PathLike) -> bool | None:
        """Whether the file under ``root`` has the listed digest; None when there is no digest.

        Raises:
            FileNotFoundError: the file is not there.
        """
        if not self.hash_val:
            return None
        digest = hashlib.new(self.hash_type or "md5")
        with open(self.target(root), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest() == self.hash_val.lower()


def find_manifest(root: str | os.PathLike) -> Path | None:
    """The bundle's large-files manifest, or None when it has none.

    Raises:
        FormatError: more than one of ``large_files.yml``, ``.yaml``, ``.json`` exists.
    """
    found = [Path(root, n) for n in MANIFEST_NAMES if Path(root, n).is_file()]
    if len(found) > 1:
        raise FormatError(
            f"the bundle has {len(found)} large-files manifests: {', '.join(p.name for p in found)}",
            location=Location(str(found[1])), hint="keep one of them",
        )
    return found[0] if found else None


def read_large_files(root: str | os.PathLike, *, collect: list[BundleError] | None = None) -> list[LargeFile]:
    """Parse and check the bundle's large-files manifest.

    Args:
        root: the bundle folder.
        collect: when given, every problem is appended to it (as a ``FormatError`` with its
            position) and the valid entries are returned; otherwise the first problem is raised.

    Returns:
        The valid entries, in manifest order ([] when the bundle has no manifest).

    Raises:
        FormatError: the manifest is invalid (only without ``collect``).
        ConfigSyntaxError: it is not valid YAML/JSON (only without ``collect``).
    """
    problems: list[BundleError] = [] if collect is None else collect
    start = len(problems)
    entries: list[LargeFile] = []
    try:
        manifest = find_manifest(root)
        if manifest is not None:
            entries = _parse(Path(root), manifest, problems)
    except ConfigError as err:  # syntax errors, duplicate keys
        problems.append(err)
    except FormatError as err:
        problems.append(err)
    if collect is None and len(problems) > start:
        raise problems[start]
    return entries


def _parse(root: Path, manifest: Path, problems: list[BundleError]) -> list[LargeFile]:
    from bundle.config.loader import load_file_and_text
    from bundle.format.schemas import iter_described, load_schema, validation_errors

    data, text = load_file_and_text(manifest)
    file = str(manifest)
    errors = validation_errors(data, load_schema("large_files"))
    bad_items: set[int] = set()
    for location, path, message, hint in iter_described(errors, file, text):
        problems.append(FormatError(message, location=location, config_id=path or None,
                                    hint=hint or "each entry needs 'path' and 'url'; see docs/format.md#large-files"))
        parts = path.split("::")
        if len(parts) >= 2 and parts[0] == "large_files" and parts[1].isdigit():
            bad_items.add(int(parts[1]))
        else:
            return []
    from bundle.config.loader import positions_of

    positions = positions_of(file, text)
    entries: list[LargeFile] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data.get("large_files") or []):
        if i in bad_items:
            continue
        item_id = f"large_files::{i}"
        where = Location(file, *positions.get(("large_files", str(i), "path"), positions.get(("large_files", str(i)), (0, 0))))
        entry, problem = _entry(root, item, item_id, where)
        if problem is not None:
            problems.append(problem)
            continue
        if entry.path in seen:
            problems.append(FormatError(
                f"'{entry.path}' is listed twice (entries {seen[entry.path]} and {i})", location=where,
                config_id=item_id, hint="remove one of the entries"))
            continue
        seen[entry.path] = i
        entries.append(entry)
    return entries


def _entry(root: Path, item: dict, item_id: str, where: Location) -> tuple[LargeFile, FormatError | None]:
    raw = item["path"]
    hash_val = str(item.get("hash_val") or "")
    hash_type = str(item.get("hash_type") or "").lower() or ("md5" if hash_val else "")
    entry = LargeFile(raw, str(item["url"]), hash_val, hash_type)
    reason = unsafe_reason(root, raw)
    if reason:
        return entry, FormatError(
            f"large file path '{raw}' {reason}", location=where, config_id=f"{item_id}::path",
            hint="write a path relative to the bundle folder, e.g. models/model.pt",
        )
    entry = LargeFile(PurePosixPath(raw).as_posix(), entry.url, hash_val, hash_type)
    if hash_val and len(hash_val) != HASH_LENGTHS[hash_type]:
        return entry, FormatError(
            f"hash_val of '{raw}' has {len(hash_val)} hex digits; a {hash_type} digest has {HASH_LENGTHS[hash_type]}",
            location=where, config_id=f"{item_id}::hash_val", hint="check hash_val and hash_type",
        )
    return entry, None


def unsafe_reason(root: Path, path: str) -> str:
    """Why ``path`` may not name a file inside the bundle folder ``root`` ("" when it may)."""
    if "\\" in path or _DRIVE.match(path):
        return "is not a relative '/'-separated path"
    pure = PurePosixPath(path)
    if pure.is_absolute():
        return "is absolute"
    if ".." in pure.parts:
        return "goes up with '..', out of the bundle folder"
    if not pure.parts or pure.parts == (".",):
        return "names the bundle folder itself, not a file"
    real_root = root.resolve()
    real = Path(os.path.realpath(root.joinpath(*pure.parts)))
    if real != real_root and real_root not in real.parents:
        return f"leads outside the bundle folder (to '{real}') through a symlink"
    return ""
