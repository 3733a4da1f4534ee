"""What publishing to GitHub and to the Hugging Face Hub share: the copy of a bundle's published files,
checked as the zoo's CI checks it and packed (``prepare_submission``), and what publishing returns
(``PublishResult``).

Example:
    >>> archive = prepare_submission(Bundle("my_bundle"), scratch / "my_bundle", scratch / "dist", index_data,
    ...                              target="hf:my-org/my_bundle")
    >>> archive.path.name
    'my_bundle_v0.1.0.zip'
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from bundle.format.bundle import Bundle
from bundle.format.report import VerificationError
from bundle.registry.archive import ArchiveInfo, bundle_files, pack
from bundle.registry.review import check_submission

__all__ = ["CI_CHECKS", "PublishResult", "copy_published_files", "prepare_submission"]

CI_CHECKS = ("the bundle verifies (metadata schema, layout, configs resolve, network inputs and outputs, weights load), "
             "its version is new and has a changelog entry, LICENSE is present, and the index entry matches the "
             "archive packed from the branch")


@dataclass(frozen=True)
class PublishResult:
    """What ``publish`` did.

    Attributes:
        target: ``github:OWNER/REPO`` or ``hf:OWNER/NAME``.
        name, version: the bundle published.
        sha256, size: its archive's.
        branch: the pushed branch (GitHub) or the pull request's revision (Hub, ``refs/pr/N``).
        url: the pull request's page (None on a dry run).
        files: the files of the commit, relative to the repository's root.
        dry_run: nothing was pushed.
    """

    target: str
    name: str
    version: str
    sha256: str
    size: int
    branch: str
    url: str | None
    files: tuple[str, ...] = ()
    dry_run: bool = False


def copy_published_files(bundle_dir: Path, dest: Path) -> Path:
    """Copy the files of a bundle that are published (those its archive holds: no ``eval/``, ``logs/``,
    caches or ``.git*``) to ``dest``, replacing what is there; returns ``dest``. Publishing checks, packs
    and uploads this copy, so what is checked is exactly what is published."""
    if dest.exists():
        shutil.rmtree(dest)
    for rel, path in bundle_files(bundle_dir):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / rel)
    return dest


def prepare_submission(bundle: Bundle, dest: Path, dist: Path, index_data: dict, *, target: str, net: bool = True,
                       weights: bool = True) -> ArchiveInfo:
    """Copy a bundle's published files to ``dest``, check the copy as a new version of a zoo whose index
    holds ``index_data`` (``check_submission``), and pack it into ``dist``.

    Args:
        bundle: the bundle to publish.
        dest: where the copy goes (its name is the bundle's name in the zoo); replaced when it exists.
        dist: the folder the archive is written to (created when missing).
        index_data: the zoo's index as data: the versions already published.
        target: where it is published, as the error names it (``OWNER/REPO``, ``hf:OWNER/NAME``).
        net, weights: as for ``check_submission``.

    Returns:
        The archive of the copy.

    Raises:
        VerificationError: the copy fails a check (every problem is listed).
    """
    copy = copy_published_files(bundle.root, dest)
    report = check_submission(copy, index_data, net=net, weights=weights)
    if not report.ok:
        raise VerificationError(report.errors, subject=f"cannot publish {bundle.name} {bundle.version} to {target}")
    dist.mkdir(parents=True, exist_ok=True)
    return pack(copy, dist)
