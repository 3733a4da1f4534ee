"""The zoo index: every published version of every bundle with its archive's sha256, size and sources.

An index is one JSON file (``zoo/index.json``, schema ``schemas/index.schema.json``) at a path or a URL.
Several indexes combine: a bundle's versions are the union of theirs, and one version published with two
different hashes is an error. Where the indexes are: ``Index.load(locations)``, else ``BUNDLE_INDEX``
(locations separated by whitespace or commas), else the index shipped with the package (the zoo's
``zoo/index.json`` at release time).

Reading an index imports neither jsonschema nor requests once it has been seen: a remote index is kept
in the cache (refreshed after ``BUNDLE_INDEX_TTL`` seconds, default 600), and the schema check of a
given content runs once and is remembered by the content's sha256.

Example:
    >>> index = Index.load()
    >>> record = index.resolve("ellipsoid_segmentation", "^0.1")
    >>> record.version, record.sha256[:12], record.size
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from bundle import settings
from bundle.errors import FormatError, Location, ZooError, close_matches
from bundle.registry.versions import newest_first, pick

__all__ = ["BundleRecord", "Index", "VersionRecord", "default_locations", "index_text", "write_index"]

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class VersionRecord:
    """One published version: what to download, how to check it, and what it needs."""

    name: str
    version: str
    sha256: str
    size: int
    sources: tuple[dict, ...]
    published: str
    license: str
    summary: str
    tags: tuple[str, ...] = ()
    requires: dict = field(default_factory=dict)
    changelog: str = ""
    yanked: str = ""
    index: str = ""  # the location of the index it came from (relative source URLs resolve against it)

    @property
    def archive_name(self) -> str:
        """The archive's file name, ``NAME_vVERSION.zip``."""
        return f"{self.name}_v{self.version}.zip"

    def as_dict(self) -> dict:
        """The record as plain data (for ``--json`` output and lock files)."""
        return {
            "name": self.name, "version": self.version, "sha256": self.sha256, "size": self.size,
            "sources": [dict(s) for s in self.sources], "published": self.published, "license": self.license,
            "summary": self.summary, "tags": list(self.tags), "requires": self.requires,
            "changelog": self.changelog, "yanked": self.yanked, "index": self.index,
        }


@dataclass(frozen=True)
class BundleRecord:
    """A bundle of the index: its description and its versions (version -> the index's entry)."""

    name: str
    summary: str
    license: str
    tags: tuple[str, ...]
    homepage: str
    versions: dict[str, dict]
    index: str

    def latest(self) -> str:
        """The newest version that is not yanked (pre-releases only when there is nothing else)."""
        return pick(self.usable_versions(), name=f"bundle '{self.name}'")

    def usable_versions(self) -> list[str]:
        """Versions that are not yanked, newest first (pre-releases included)."""
        return newest_first(v for v, e in self.versions.items() if not e.get("yanked"))

    def record(self, version: str) -> VersionRecord:
        """The full record of one version (must be one of ``versions``)."""
        entry = self.versions[version]
        return VersionRecord(
            name=self.name, version=version, sha256=entry["sha256"], size=entry["size"],
            sources=tuple(entry["sources"]), published=entry["published"],
            license=entry.get("license", self.license), summary=entry.get("summary", self.summary),
            tags=tuple(entry.get("tags", self.tags)), requires=entry.get("requires", {}),
            changelog=entry.get("changelog", ""), yanked=entry.get("yanked", ""), index=self.index,
        )


class Index:
    """One or more zoo indexes, combined.

    Args:
        bundles: name -> BundleRecord.
        locations: where they were read from, in order.
    """

    def __init__(self, bundles: dict[str, BundleRecord], locations: Sequence[str] = ()):
        self._bundles = dict(sorted(bundles.items()))
        self.locations = list(locations)

    # -- reading --------------------------------------------------------------------------------------
    @classmethod
    def load(cls, locations: str | Sequence[str] | None = None, *, refresh: bool = False) -> "Index":
        """Read and combine the indexes at ``locations`` (default: ``default_locations()``).

        Args:
            locations: paths or URLs (http, https, file); a string may hold several separated by
                whitespace or commas.
            refresh: fetch remote indexes again even when the cached copy is fresh.

        Raises:
            ZooError: an index cannot be read (missing file, download failed with no cached copy).
            FormatError: an index is not valid JSON or breaks the schema (with file:line).
        """
        if locations is None:
            locations = default_locations()
        elif isinstance(locations, (str, os.PathLike)):
            locations = _split(str(locations))
        combined = cls({}, [])
        for location in locations:
            text, where = index_text(str(location), refresh=refresh)
            combined = combined.merged(cls.from_text(text, where))
        return combined

    @classmethod
    def from_text(cls, text: str, where: str) -> "Index":
        """Parse and check the JSON text of one index read from ``where``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise FormatError(f"the index is not valid JSON: {err.msg}",
                              location=Location(where, err.lineno, err.colno)) from None
        _check_schema(data, text, where)
        return cls.from_data(data, where)

    @classmethod
    def from_data(cls, data: dict, where: str = "<index>") -> "Index":
        """An Index of already-validated index data (the schema is not checked here)."""
        bundles = {}
        for name, entry in data.get("bundles", {}).items():
            bundles[name] = BundleRecord(
                name=name, summary=entry["summary"], license=entry["license"], tags=tuple(entry.get("tags", ())),
                homepage=entry.get("homepage", ""), versions=dict(entry["versions"]), index=where,
            )
        return cls(bundles, [where])

    def merged(self, other: "Index") -> "Index":
        """This index with ``other``'s bundles and versions added (this one's descriptions win).

        Raises:
            ZooError: a version is in both with different archives.
        """
        bundles = dict(self._bundles)
        for name, theirs in other._bundles.items():
            ours = bundles.get(name)
            if ours is None:
                bundles[name] = theirs
                continue
            versions = dict(ours.versions)
            for version, entry in theirs.versions.items():
                mine = versions.get(version)
                if mine is not None and mine["sha256"] != entry["sha256"]:
                    raise ZooError(
                        f"{name}@{version} is published with two different archives: sha256 {mine['sha256'][:12]}... "
                        f"in '{ours.index}' and {entry['sha256'][:12]}... in '{theirs.index}'",
                        hint="one of the indexes is wrong or stale; remove it from BUNDLE_INDEX or ask its maintainer",
                    )
                versions.setdefault(version, entry)
            bundles[name] = BundleRecord(ours.name, ours.summary, ours.license, ours.tags, ours.homepage, versions, ours.index)
        return Index(bundles, self.locations + other.locations)

    # -- queries --------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every bundle name, sorted."""
        return list(self._bundles)

    def __contains__(self, name: str) -> bool:
        return name in self._bundles

    def __len__(self) -> int:
        return len(self._bundles)

    def bundle(self, name: str) -> BundleRecord:
        """The bundle called ``name``.

        Raises:
            ZooError: no such bundle; the hint names close matches.
        """
        found = self._bundles.get(name)
        if found is not None:
            return found
        close = close_matches(name, self._bundles) or [n for n in self._bundles if name.lower() in n.lower()][:3]
        hint = ("did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else "run 'bundle list' to see them"
        where = ", ".join(self.locations) or "no index"
        raise ZooError(f"no bundle named '{name}' in the index ({where})", hint=hint)

    def versions(self, name: str) -> list[str]:
        """The versions of ``name`` that are not yanked, newest first (semantic order)."""
        return self.bundle(name).usable_versions()

    def resolve(self, name: str, spec: str | None = None) -> VersionRecord:
        """The newest version of ``name`` satisfying ``spec`` (None: latest release).

        An exact version that was yanked is still returned (with ``yanked`` set); ranges skip yanked ones.

        Raises:
            ZooError: unknown bundle (close matches) or no version matches (the versions there are).
        """
        record = self.bundle(name)
        exact = spec.lstrip("=").strip() if spec else None
        if exact in record.versions:
            return record.record(exact)
        return record.record(pick(record.usable_versions(), spec, name=f"bundle '{name}'"))

    def search(self, text: str = "") -> list[BundleRecord]:
        """Bundles whose name, summary or tags contain every word of ``text`` (case-insensitive)."""
        words = text.lower().split()
        found = []
        for record in self._bundles.values():
            haystack = " ".join((record.name, record.summary, " ".join(record.tags))).lower()
            if all(w in haystack for w in words):
                found.append(record)
        return found


# -- where indexes are --------------------------------------------------------------------------------
def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text.strip()) if part]


def default_locations() -> list[str]:
    """``BUNDLE_INDEX`` if set, else the index shipped with the package."""
    given = settings.index()
    if given:
        return _split(given)
    return [str(_packaged_index())]


def packaged_zoo() -> Path | None:
    """The zoo folder shipped with the package (``bundle/_zoo``) or the checkout (``zoo/``), if any."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_zoo", package.parent / "zoo"):
        if (candidate / "index.json").is_file():
            return candidate
    return None


def _packaged_index() -> Path:
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_zoo" / "index.json", package.parent / "zoo" / "index.json"):
        if candidate.is_file():
            return candidate
    raise ZooError(
        "the package's zoo index is missing",
        hint="set BUNDLE_INDEX to an index path or URL, or reinstall the package",
    )


def index_text(location: str, *, refresh: bool = False) -> tuple[str, str]:
    """The text of the index at ``location`` and the name to report it by.

    Remote indexes are kept in the cache and re-fetched when older than ``BUNDLE_INDEX_TTL`` seconds; when
    a refresh fails (or ``BUNDLE_OFFLINE=1``) the cached copy is used with a warning.
    """
    if not _URL.match(location) or location.startswith("file://"):
        path = Path(_file_path(location)).expanduser()
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except FileNotFoundError:
            raise ZooError(f"the index '{path}' does not exist", hint="check BUNDLE_INDEX / --index") from None
        except OSError as err:
            raise ZooError(f"cannot read the index '{path}': {err.strerror}") from None
    return _remote_index(location, refresh=refresh), location


def _file_path(location: str) -> str:
    if location.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(location).path)
    return location


def _remote_index(url: str, *, refresh: bool) -> str:
    copy = settings.cache_root() / "indexes" / (hashlib.sha256(url.encode()).hexdigest()[:24] + ".json")
    fresh = copy.is_file() and (time.time() - copy.stat().st_mtime) < settings.index_ttl()
    if copy.is_file() and (settings.offline() or (fresh and not refresh)):
        return copy.read_text(encoding="utf-8")
    if settings.offline():
        raise ZooError(
            f"the index '{url}' is not in the cache and BUNDLE_OFFLINE=1 forbids downloading it",
            hint="run once without BUNDLE_OFFLINE=1, or point BUNDLE_INDEX at a local copy",
        )
    from bundle.registry.fetch import fetch

    try:
        copy.parent.mkdir(parents=True, exist_ok=True)
        fetch(url, copy, progress=False)
    except ZooError as err:
        if copy.is_file():
            log.warning("could not refresh the index %s (%s); using the copy cached %s", url, err.message,
                        time.strftime("%Y-%m-%d %H:%M", time.localtime(copy.stat().st_mtime)))
            return copy.read_text(encoding="utf-8")
        raise
    return copy.read_text(encoding="utf-8")


def _check_schema(data: Any, text: str, where: str) -> None:
    """Validate against the index schema once per content (the sha256 of a valid text is remembered)."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    marker = _valid_marker(digest)
    if marker.exists():
        return
    from bundle.format.schemas import iter_described, load_schema, validation_errors

    errors = list(iter_described(validation_errors(data, load_schema("index")), where, text))
    if errors:
        location, path, message, hint = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise FormatError(f"the index is not valid: {message}{more}", location=location, hint=hint or
                          "regenerate it with the zoo's ci/ scripts (python ci/release.py)")
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:  # a read-only cache only costs the check next time
        pass


def _valid_marker(digest: str) -> Path:
    return settings.cache_root() / "indexes" / "valid" / digest


# -- writing ------------------------------------------------------------------------------------------
def write_index(path: str | Path, data: dict) -> None:
    """Write index data to ``path`` atomically, in the canonical form (sorted names and versions).

    Raises:
        FormatError: the data breaks the schema (nothing is written).
    """
    from bundle.atomic import write_atomic
    from bundle.format.schemas import iter_described, load_schema, validation_errors

    canonical = canonical_index(data)
    errors = list(iter_described(validation_errors(canonical, load_schema("index")), str(path), ""))
    if errors:
        location, key, message, hint = errors[0]
        raise FormatError(f"refusing to write an invalid index: {message}", location=Location(str(path)), hint=hint)
    write_atomic(Path(path), (json.dumps(canonical, indent=2, ensure_ascii=False) + "\n").encode())


def canonical_index(data: dict) -> dict:
    """Index data in its canonical form: bundles sorted by name, versions newest first, keys in a fixed
    order (stable, readable diffs)."""
    bundles = {}
    for name in sorted(data.get("bundles", {})):
        entry = data["bundles"][name]
        versions = entry.get("versions", {})
        ordered = newest_first(versions)
        ordered += sorted(set(versions) - set(ordered))
        bundles[name] = _ordered({**entry, "versions": {v: _ordered(versions[v], _RELEASE_KEYS) for v in ordered}},
                                 _BUNDLE_KEYS)
    out = _ordered({k: v for k, v in data.items() if k != "bundles"}, ("$schema", "format", "generated"))
    out.setdefault("format", INDEX_FORMAT)
    out["bundles"] = bundles
    return out


_BUNDLE_KEYS = ("summary", "license", "tags", "homepage", "versions")
_RELEASE_KEYS = ("sha256", "size", "published", "changelog", "summary", "license", "tags", "requires", "yanked", "sources")


def _ordered(mapping: dict, keys: Sequence[str]) -> dict:
    return {**{k: mapping[k] for k in keys if k in mapping}, **{k: v for k, v in mapping.items() if k not in keys}}


def add_version(data: dict, name: str, version: str, release: dict, *, summary: str, license: str,
                tags: Iterable[str] = (), homepage: str = "") -> dict:
    """Index data with ``name@version`` added (the bundle's description updated from its newest metadata).

    Raises:
        ZooError: the version is already published (released archives never change).
    """
    bundles = dict(data.get("bundles", {}))
    entry = dict(bundles.get(name, {"versions": {}}))
    if version in entry["versions"]:
        raise ZooError(
            f"{name}@{version} is already in the index; a published version never changes",
            hint="bump 'version' in configs/metadata.json and add a changelog entry for it",
        )
    entry.update({"summary": summary, "license": license})
    if tags:
        entry["tags"] = sorted(set(tags))
    if homepage:
        entry["homepage"] = homepage
    entry["versions"] = {**entry["versions"], version: release}
    bundles[name] = entry
    return {**data, "format": data.get("format", INDEX_FORMAT), "bundles": bundles}
