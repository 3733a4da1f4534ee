"""Checking what is submitted to a zoo: one bundle (``check_submission``, run by ``bundle publish``
before it opens a pull request and by the zoo's CI on every changed bundle), the bundles a branch
changes (``changed_bundles``) and a whole pull request (``review_changes``: every changed bundle, and
the index against the base branch's).

Example:
    >>> review = review_changes(".", base="origin/main")
    >>> print(review.format())
    >>> review.ok
    False
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bundle.errors import BundleError, Location
from bundle.format.report import Problem, VerifyReport

__all__ = ["check_submission", "changed_bundles", "review_changes", "Review"]

log = logging.getLogger(__name__)

INDEX_KEY = "zoo/index.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_VERSION = re.compile(r"^[0-9]+(\.[0-9]+){0,2}((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?$")
_BUMP = "bump \"version\" in configs/metadata.json and add a changelog entry for the new version"


def check_submission(bundle_dir: str | os.PathLike, index_data: dict, *, net: bool = True,
                     weights: bool = True) -> VerifyReport:
    """Check a bundle folder as a new version for a zoo whose index holds ``index_data``.

    Everything ``verify_bundle`` checks (layout, metadata schema, changelog entry for the version, LICENSE,
    configs, files, network inputs and outputs, weights), and the ``version`` check: the bundle's name
    and version can be published, the version is not published yet and is newer than every one that is.

    Args:
        bundle_dir: the bundle folder (its name is the bundle's name in the zoo).
        index_data: the zoo's index as data (``read_index_data``); the versions already published.
        net: build and run the network (imports torch).
        weights: load the weights into it.

    Returns:
        The report; ``report.ok`` is False when anything stops the bundle from being published.
    """
    from bundle.format.verify import verify_bundle
    from bundle.registry.versions import parse_version

    report = verify_bundle(bundle_dir, net=net, weights=weights)
    report.checked.append("version")
    root = Path(bundle_dir).resolve()
    meta_file = Location("configs/metadata.json")
    if not _NAME.match(root.name):
        report.add(Problem("version", f"'{root.name}' cannot be a bundle name in a zoo", None, None,
                           "rename the folder: letters, digits, '_', '-' and '.', starting with a letter or digit"))
    version = _metadata_version(root)
    if version is None:
        return report  # the metadata check reports it
    if not _VERSION.match(version):
        report.add(Problem("version", f"version '{version}' cannot be published", meta_file, "version",
                           "write a version such as 1.2.3 (or 1.2.3rc1 for a pre-release)"))
        return report
    published = index_data.get("bundles", {}).get(root.name, {}).get("versions", {})
    if version in published:
        archive = f" (sha256 {published[version]['sha256'][:12]}...)" if published[version].get("sha256") else ""
        report.add(Problem("version", f"{root.name} {version} is already published{archive}; a published version "
                           "never changes", meta_file, "version", _BUMP))
    else:
        newer = [v for v in published if _VERSION.match(v) and parse_version(v) > parse_version(version)]
        if newer:
            newest = max(newer, key=parse_version)
            report.add(Problem("version", f"version {version} is older than the published {newest}", meta_file,
                               "version", f"a new version must be newer than every published one: {_BUMP}"))
    return report


def _metadata_version(root: Path) -> str | None:
    from bundle.format.bundle import Bundle

    try:
        return Bundle(root).version
    except BundleError:
        return None


def changed_bundles(repo: str | os.PathLike, base: str, head: str = "HEAD") -> list[str]:
    """The bundles whose files ``head`` changes since it left ``base`` (``git diff base...head``).

    Bundles deleted in ``head`` are left out, and so are files directly in ``zoo/`` (the index).

    Args:
        repo: the zoo repository.
        base: the base branch or commit (in CI, ``origin/main``).
        head: the branch or commit under review.

    Returns:
        Bundle names, sorted.

    Raises:
        ZooError: git failed (e.g. ``base`` is not fetched).
    """
    from bundle.registry.git import run_git

    hint = "fetch the base branch first (git fetch origin; in CI: actions/checkout with fetch-depth: 0)"
    out = run_git(["diff", "--name-only", "-z", f"{base}...{head}", "--", "zoo/"], cwd=repo, hint=hint)
    touched = {path.split("/")[1] for path in out.split("\0") if path.count("/") >= 2}
    present = set(run_git(["ls-tree", "-d", "--name-only", "-z", head, "zoo/"], cwd=repo).split("\0"))
    return sorted(name for name in touched if f"zoo/{name}" in present)


@dataclass
class Review:
    """What ``review_changes`` found: problems per subject (a bundle name, or ``zoo/index.json``)."""

    base: str
    changed: list[str] = field(default_factory=list)
    reports: dict[str, VerifyReport] = field(default_factory=dict)
    index_problems: dict[str, list[Problem]] = field(default_factory=dict)

    def problems(self) -> dict[str, list[Problem]]:
        """Subject -> its errors (verification, version, index), subjects with none left out."""
        found: dict[str, list[Problem]] = {}
        for name, report in self.reports.items():
            found.setdefault(name, []).extend(report.errors)
        for subject, problems in self.index_problems.items():
            found.setdefault(subject, []).extend(problems)
        return {k: v for k, v in sorted(found.items()) if v}

    @property
    def ok(self) -> bool:
        return not self.problems()

    def format(self) -> str:
        """The report for a person: each changed bundle and the index, with every problem and its hint."""
        problems = self.problems()
        lines = [f"changed bundles against {self.base}: {', '.join(self.changed) or 'none'}"]
        for subject in sorted(set(self.changed) | set(problems) | {INDEX_KEY}):
            found = problems.get(subject, [])
            where = subject if subject == INDEX_KEY else f"zoo/{subject}"
            lines.append(f"{where}: {'ok' if not found else f'{len(found)} problem' + 's' * (len(found) != 1)}")
            for p in found:
                lines.append(f"  [{p.check}] " + str(p).replace("\n", "\n  "))
        n = sum(len(v) for v in problems.values())
        lines.append("all checks passed" if not n else f"FAILED: {n} problem{'s' * (n != 1)} in {len(problems)} "
                     f"subject{'s' * (len(problems) != 1)}")
        return "\n".join(lines)


def review_changes(repo: str | os.PathLike, base: str, *, head: str = "HEAD", net: bool = True,
                   weights: bool = True) -> Review:
    """Check a zoo pull request: every bundle it changes, and the index.

    Each changed bundle must pass ``check_submission`` against the base branch's index. The index
    (``zoo/index.json`` of the working tree) must follow its schema; versions published on the base
    branch must be unchanged in it (only ``yanked`` may be added); every bundle whose version it lists
    must pack to the recorded sha256 and size (archives are deterministic); a version it adds must be the
    version of that bundle in ``zoo/`` with the sources ``zoo/zoo.json`` gives.

    Args:
        repo: the zoo repository, checked out at ``head``.
        base: the base branch or commit.
        head: the commit under review (its changes are listed with ``git diff base...head``).
        net: build and run each changed bundle's network.
        weights: load each changed bundle's weights.

    Raises:
        ZooError: git failed, or the repository is not a zoo (no ``zoo/zoo.json``).
    """
    from bundle.registry.git import git_show
    from bundle.registry.release import INDEX, read_index_data, read_zoo_config

    repo = Path(repo)
    config = read_zoo_config(repo)
    review = Review(base=base, changed=changed_bundles(repo, base, head))
    base_text = git_show(repo, base, INDEX)
    base_data = {"format": 1, "bundles": {}}
    if base_text is not None:
        try:
            base_data = read_index_data(f"{base}:{INDEX}", text=base_text)
        except BundleError as err:
            log.warning("the base branch's index is not valid (%s); checking against an empty one", err.message)
    for name in review.changed:
        log.info("checking zoo/%s", name)
        review.reports[name] = check_submission(repo / "zoo" / name, base_data, net=net, weights=weights)
    try:
        head_data = read_index_data(repo / INDEX)
    except BundleError as err:
        review.index_problems[INDEX_KEY] = [Problem("index", err.message, Location(INDEX_KEY), None, err.hint)]
        return review
    _check_index(repo, review, base_data, head_data, config)
    return review


def _check_index(repo: Path, review: Review, base_data: dict, head_data: dict, config) -> None:
    """The index checks of ``review_changes``; problems go to ``review.index_problems``."""
    from bundle.registry.archive import pack
    from bundle.registry.release import bundle_folders

    def add(subject: str, message: str, hint: str = "") -> None:
        review.index_problems.setdefault(subject, []).append(Problem("index", message, Location(INDEX_KEY), None, hint))

    base_versions = _versions(base_data)
    head_versions = _versions(head_data)
    for (name, version), entry in base_versions.items():
        now = head_versions.get((name, version))
        if now is None:
            add(INDEX_KEY, f"{name} {version} was removed from the index", "published versions stay; to withdraw "
                "one, add \"yanked\": \"why\" to its entry")
        elif _without_yanked(now) != _without_yanked(entry):
            changed = sorted(k for k in set(now) | set(entry) if k != "yanked" and now.get(k) != entry.get(k))
            add(INDEX_KEY, f"{name} {version} is changed in the index ({', '.join(changed)}); published entries never "
                "change", "only \"yanked\" may be added to a published version")
    in_tree: dict[str, str | None] = {folder.name: _metadata_version(folder) for folder in bundle_folders(repo)}
    for (name, version), entry in head_versions.items():
        if (name, version) in base_versions:
            continue
        if in_tree.get(name) != version:
            there = f"zoo/{name} is at version {in_tree[name]}" if in_tree.get(name) else f"there is no zoo/{name}"
            add(INDEX_KEY, f"the index adds {name} {version}, but {there}",
                "an entry is added for the version in zoo/ (bundle publish, or ci/release.py on merge)")
        elif entry["sources"] != config.sources(name, version):
            add(name, f"the index's sources of {name} {version} are not the ones zoo/zoo.json gives",
                f"use {config.sources(name, version)}")
    with tempfile.TemporaryDirectory(prefix="zoo-pack-") as scratch:
        for name, at_version in sorted(in_tree.items()):
            listed = head_versions.get((name, at_version)) if at_version is not None else None
            if listed is None or (name in review.changed and (name, at_version) in base_versions):
                continue  # not listed yet, or changed without a version bump (check_submission says so)
            info = pack(repo / "zoo" / name, scratch)
            if (info.sha256, info.size) != (listed["sha256"], listed["size"]):
                add(name, f"zoo/{name} packs to sha256 {info.sha256} ({info.size} bytes), but the index records "
                    f"{listed['sha256']} ({listed['size']} bytes) for {at_version}",
                    "record the archive of the bundle as it is now (bundle publish does)" if name in review.changed
                    else f"zoo/{name} is unchanged here, so its archive must be the recorded one: check that the "
                         "entry was not edited and that packing (bundle.registry.archive) is still deterministic")
            Path(info.path).unlink(missing_ok=True)


def _versions(data: dict) -> dict[tuple[str, str], dict]:
    return {(name, version): entry for name, bundle in data.get("bundles", {}).items()
            for version, entry in bundle.get("versions", {}).items()}


def _without_yanked(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k != "yanked"}
