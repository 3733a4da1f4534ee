"""Releasing a zoo's bundles: the zoo's source configuration (``zoo/zoo.json``), the index entry of a
packed bundle, and ``release_zoo``, which packs every bundle of a zoo deterministically and adds the
versions not yet published to ``zoo/index.json``.

A zoo is a git repository with the bundles under ``zoo/NAME/``, the index at ``zoo/index.json`` and
the source configuration at ``zoo/zoo.json``::

    {"github": "bundle-zoo/zoo",          release assets: tag NAME-vVERSION, asset NAME_vVERSION.zip
     "url": "https://example.org/zoo",    optional mirror: URL/NAME_vVERSION.zip
     "hf": "bundle-zoo"}                  optional mirror: Hub repo ORG/NAME, revision vVERSION

Example:
    >>> releases = release_zoo(".", "dist")
    >>> [(r.name, r.version, r.new) for r in releases]
    [('digits_classification', '0.1.0', False), ('ellipsoid_segmentation', '0.2.0', True)]
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bundle.errors import BundleError, FormatError, Location, ZooError, close_matches

__all__ = ["ZOO_CONFIG", "INDEX", "ZooConfig", "IndexEntry", "Release", "read_zoo_config", "read_index_data",
           "bundle_folders", "index_entry", "release_zoo"]

log = logging.getLogger(__name__)

ZOO_CONFIG = "zoo/zoo.json"
INDEX = "zoo/index.json"
_REPO = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
_OWNER = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class ZooConfig:
    """Where a zoo's archives are published.

    Attributes:
        github: ``OWNER/REPO`` whose GitHub releases hold the archives (tag ``NAME-vVERSION``).
        url: a base URL that mirrors the archives as ``URL/NAME_vVERSION.zip`` ("" for none).
        hf: a Hugging Face user or organisation that mirrors them in repo ``HF/NAME`` at revision
            ``vVERSION`` ("" for none).
    """

    github: str
    url: str = ""
    hf: str = ""

    @staticmethod
    def tag(name: str, version: str) -> str:
        """The release tag of ``name@version``: ``NAME-vVERSION``."""
        return f"{name}-v{version}"

    @staticmethod
    def asset(name: str, version: str) -> str:
        """The archive's file name: ``NAME_vVERSION.zip``."""
        return f"{name}_v{version}.zip"

    def sources(self, name: str, version: str) -> list[dict]:
        """The index's ``sources`` of ``name@version``, mirrors in the order clients try them."""
        asset = self.asset(name, version)
        found = [{"url": f"{self.url.rstrip('/')}/{asset}"}] if self.url else []
        found.append({"github": self.github, "tag": self.tag(name, version), "asset": asset})
        if self.hf:
            found.append({"hf": f"{self.hf}/{name}", "revision": f"v{version}", "filename": asset})
        return found


def read_zoo_config(repo: str | os.PathLike) -> ZooConfig:
    """The source configuration of the zoo repository at ``repo`` (its ``zoo/zoo.json``).

    Raises:
        ZooError: the file is missing (the folder is not a zoo).
        FormatError: it is not JSON, has unknown keys or values of the wrong form.
    """
    path = Path(repo) / ZOO_CONFIG
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ZooError(f"'{path}' does not exist: '{Path(repo)}' is not a bundle zoo",
                       hint='a zoo has zoo/zoo.json: {"github": "OWNER/REPO"} names where its archives are '
                            "released (see docs/publishing.md)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise FormatError(f"zoo.json is not valid JSON: {err.msg}", location=Location(str(path), err.lineno, err.colno)) from None
    if not isinstance(data, dict):
        raise FormatError("zoo.json must hold a JSON object", location=Location(str(path), 1, 1))
    known = {"github", "url", "hf"}
    for key in data:
        if key not in known:
            close = close_matches(key, known)
            raise FormatError(f"zoo.json has an unknown key '{key}'", location=Location(str(path)),
                              hint=(f"did you mean '{close[0]}'? " if close else "") + "keys: github, url, hf")
    checks = {"github": (_REPO, "OWNER/REPO"), "hf": (_OWNER, "a user or organisation name"),
              "url": (re.compile(r"^(https?|file)://\S+$"), "an http(s) or file URL")}
    for key, (pattern, form) in checks.items():
        value = data.get(key, "")
        if key == "github" and not value:
            raise FormatError("zoo.json has no \"github\"", location=Location(str(path)),
                              hint='add "github": "OWNER/REPO", the repository whose releases hold the archives')
        if not isinstance(value, str) or (value and not pattern.match(value)):
            raise FormatError(f"zoo.json's \"{key}\" is {value!r}, not {form}", location=Location(str(path)),
                              config_id=key)
    return ZooConfig(github=data["github"], url=data.get("url", ""), hf=data.get("hf", ""))


def read_index_data(path: str | os.PathLike, *, text: str | None = None) -> dict:
    """The data of a zoo index, checked against ``schemas/index.schema.json`` (an empty index when the
    file does not exist and ``text`` is not given).

    Args:
        path: the index file (also the name errors report).
        text: the index's text when it does not come from ``path`` (e.g. ``git show``).

    Raises:
        FormatError: not JSON, or the schema is broken; the message lists every violation.
    """
    from bundle.format.schemas import iter_described, load_schema, validation_errors

    if text is None:
        if not Path(path).is_file():
            return {"format": 1, "bundles": {}}
        text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise FormatError(f"the index is not valid JSON: {err.msg}",
                          location=Location(str(path), err.lineno, err.colno)) from None
    errors = list(iter_described(validation_errors(data, load_schema("index")), str(path), text))
    if errors:
        lines = "".join(f"\n  - {loc}: {msg}" for loc, _, msg, _ in errors)
        raise FormatError(f"the index breaks its schema ({len(errors)} problems):{lines}", location=errors[0][0],
                          hint="fix it by hand, or rebuild the entries with ci/release.py")
    return data


def bundle_folders(repo: str | os.PathLike) -> list[Path]:
    """The bundle folders of a zoo: every folder in ``zoo/`` whose name does not start with ``.`` or ``_``."""
    zoo = Path(repo) / "zoo"
    return sorted(p for p in zoo.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) if zoo.is_dir() else []


@dataclass(frozen=True)
class IndexEntry:
    """What the index records for one packed bundle version (``add_to`` puts it in index data)."""

    name: str
    version: str
    release: dict
    summary: str
    license: str

    def add_to(self, data: dict) -> dict:
        """Index data with this version added (ZooError when it is already there)."""
        from bundle.registry.index import add_version

        return add_version(data, self.name, self.version, self.release, summary=self.summary, license=self.license)


def index_entry(bundle_dir: str | os.PathLike, archive, config: ZooConfig, *,
                published: str | None = None) -> IndexEntry:
    """The index entry of a bundle folder packed as ``archive``.

    Args:
        bundle_dir: the bundle folder (its name is the bundle's name).
        archive: the ``ArchiveInfo`` of ``pack(bundle_dir, ...)``.
        config: the zoo's source configuration (the entry's ``sources``).
        published: the release date (ISO ``YYYY-MM-DD``; default today, UTC).

    Raises:
        FormatError: the metadata cannot be read or has no version.
    """
    from bundle.format.bundle import Bundle

    bundle = Bundle(bundle_dir)
    meta, version = bundle.metadata, bundle.version
    release: dict = {
        "sha256": archive.sha256, "size": archive.size,
        "published": published or datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "sources": config.sources(bundle.name, version),
    }
    changelog = meta.get("changelog", {})
    if isinstance(changelog, dict) and isinstance(changelog.get(version), str):
        release["changelog"] = changelog[version]
    packages = meta.get("required_packages_version")
    if isinstance(packages, dict) and packages:
        release["requires"] = {"packages": {str(k): f">={v}" for k, v in sorted(packages.items())}}
    summary = next((meta[k] for k in ("task", "name") if isinstance(meta.get(k), str) and meta[k].strip()), bundle.name)
    license = meta.get("license")
    if not (isinstance(license, str) and license.strip()):
        license = "see LICENSE"
    return IndexEntry(bundle.name, version, release, summary.strip(), license.strip())


@dataclass(frozen=True)
class Release:
    """One bundle version of a zoo, packed: ``new`` is True when this run added it to the index."""

    name: str
    version: str
    archive: Path
    sha256: str
    size: int
    new: bool
    tag: str
    notes: str = ""
    sources: list = field(default_factory=list)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["archive"] = str(self.archive)
        out["asset"] = self.archive.name
        return out


def release_zoo(repo: str | os.PathLike, dist: str | os.PathLike, *, published: str | None = None) -> list[Release]:
    """Pack every bundle of the zoo at ``repo`` into ``dist`` and add the new versions to the index.

    A version already in the index must pack to the archive recorded there (released archives never
    change); a version not there gets an entry (sha256, size, sources from ``zoo/zoo.json``, date). The
    index is written atomically, in canonical form, and only when something was added: running this twice
    leaves the same bytes. ``dist/release.json`` lists every archive with its release tag, for the upload.

    Args:
        repo: the zoo repository's root.
        dist: where the archives go (created when missing).
        published: the date of new entries (default today, UTC).

    Returns:
        Every bundle's release, sorted by name.

    Raises:
        ZooError: a published version does not pack to its recorded archive, or a bundle cannot be read;
            every such problem is listed and the index is left as it was.
    """
    from bundle.atomic import write_atomic
    from bundle.registry.archive import pack
    from bundle.registry.index import canonical_index, write_index

    repo, dist = Path(repo), Path(dist)
    config = read_zoo_config(repo)
    data = read_index_data(repo / INDEX)
    updated, releases, problems = data, [], []
    dist.mkdir(parents=True, exist_ok=True)
    for folder in bundle_folders(repo):
        try:
            entry = index_entry(folder, pack(folder, dist), config, published=published)
        except BundleError as err:
            problems.append(f"zoo/{folder.name}: {err.message}")
            continue
        recorded = data.get("bundles", {}).get(entry.name, {}).get("versions", {}).get(entry.version)
        if recorded is not None and (recorded["sha256"], recorded["size"]) != (entry.release["sha256"], entry.release["size"]):
            problems.append(f"zoo/{entry.name}: version {entry.version} packs to sha256 {entry.release['sha256']} "
                            f"({entry.release['size']} bytes), but the index records {recorded['sha256']} "
                            f"({recorded['size']} bytes)")
            continue
        if recorded is None:
            updated = entry.add_to(updated)
            log.info("added %s %s to the index (sha256 %s)", entry.name, entry.version, entry.release["sha256"])
        final = recorded or entry.release
        releases.append(Release(entry.name, entry.version, dist / ZooConfig.asset(entry.name, entry.version),
                                final["sha256"], final["size"], recorded is None, ZooConfig.tag(entry.name, entry.version),
                                final.get("changelog", ""), list(final["sources"])))
    if problems:
        raise ZooError("cannot release the zoo:" + "".join(f"\n  - {p}" for p in problems),
                       hint="a published version never changes: bump 'version' (with a changelog entry) in "
                            "every bundle that changed")
    if canonical_index(updated) != canonical_index(data) or not (repo / INDEX).is_file():
        write_index(repo / INDEX, updated)
    manifest = json.dumps([r.as_dict() for r in releases], indent=2, ensure_ascii=False) + "\n"
    write_atomic(dist / "release.json", manifest.encode())
    return releases

