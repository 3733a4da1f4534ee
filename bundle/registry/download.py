"""``download``: a bundle from a source into the verified cache, optionally copied to a folder.

MONAI's argument names are accepted (``name``, ``version``, ``bundle_dir``, ``source``, ``repo``,
``url``, ``args_file``; its source names ``monaihosting`` and ``huggingface_hub`` map to ours).

Example:
    >>> download("ellipsoid_segmentation@^0.1")                     # the cached folder
    >>> download("spleen_ct_segmentation", source="monai", dir="models")
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from bundle import settings
from bundle.errors import ZooError

__all__ = ["download"]

log = logging.getLogger(__name__)


def download(
    name: str | None = None,
    version: str | None = None,
    *,
    source: str | None = None,
    dir: str | os.PathLike | None = None,
    bundle_dir: str | os.PathLike | None = None,
    repo: str | None = None,
    url: str | None = None,
    sha256: str | None = None,
    index: str | None = None,
    progress: bool | None = None,
    args_file: str | os.PathLike | None = None,
) -> Path:
    """Download a bundle (verified and cached) and return its folder.

    Args:
        name: ``NAME`` or ``NAME@SPEC`` (``spleen@1.2.0``, ``spleen@^1.2``).
        version: a version or range (instead of ``@SPEC``); default the latest.
        source: ``index`` (default; ``BUNDLE_DOWNLOAD_SOURCE`` changes it), ``url``, ``github``, ``hf``, ``monai``.
        dir: also copy the bundle to ``DIR/NAME`` (``bundle_dir`` is MONAI's name for it).
        repo: ``OWNER/REPO/TAG`` for github, ``OWNER/NAME`` for hf.
        url: the archive's URL; given, it is downloaded directly whatever ``source`` says (as MONAI does).
        sha256: the archive's expected sha256 (url and github sources).
        index: index paths or URLs instead of ``BUNDLE_INDEX``.
        progress: progress bars (default: on a terminal).
        args_file: a JSON/YAML file of these arguments (explicit ones win).

    Returns:
        The bundle folder: ``DIR/NAME`` when a folder is given, else the folder in the cache
        (read-only by convention: copy it before changing anything).

    Raises:
        ZooError: unknown bundle/version/source, a failed or unverifiable download, offline and not
            cached, or ``DIR/NAME`` exists with other content.
    """
    given = {"name": name, "version": version, "source": source, "dir": dir, "bundle_dir": bundle_dir, "repo": repo,
             "url": url, "sha256": sha256, "index": index}
    if args_file is not None:
        given = _with_args_file(given, args_file)
    from bundle.registry.cache import Cache
    from bundle.registry.sources import MONAI_SOURCE_NAMES, source_function
    from bundle.registry.versions import parse_ref

    if not given["name"]:
        raise ZooError("no bundle name given", hint="e.g. bundle download ellipsoid_segmentation (see bundle list)")
    bundle_name, spec = parse_ref(str(given["name"]))
    if given["version"] is not None:
        if spec is not None and str(given["version"]) != spec:
            raise ZooError(f"two versions given: '{given['name']}' and --version {given['version']}", hint="give one")
        spec = str(given["version"])
    source_name = given["source"] or settings.download_source()
    if given["url"] and MONAI_SOURCE_NAMES.get(str(source_name), str(source_name)) != "url":
        # MONAI downloads a given url directly, whatever the source says
        if given["source"]:
            log.info("--url given: downloading %s directly (--source %s is not used)", given["url"], given["source"])
        source_name = "url"
    get = source_function(str(source_name))
    folder = get(Cache(), bundle_name, spec, repo=given["repo"], url=given["url"], sha256=given["sha256"],
                 index=given["index"], progress=progress)
    target = given["dir"] or given["bundle_dir"]
    if target is None:
        return folder
    return copy_bundle(folder, Path(target).expanduser() / bundle_name)


def _with_args_file(given: dict, args_file: str | os.PathLike) -> dict:
    from bundle.config.loader import load_file

    defaults = load_file(Path(args_file))
    if not isinstance(defaults, dict):
        raise ZooError(f"args file '{args_file}' must hold a mapping of argument names to values")
    unknown = sorted(set(defaults) - set(given) - {"remove_prefix", "progress"})
    if unknown:
        raise ZooError(f"args file '{args_file}' has unknown arguments: {', '.join(unknown)}",
                       hint=f"known: {', '.join(given)}")
    return {k: (v if v is not None else defaults.get(k)) for k, v in given.items()}


def copy_bundle(folder: Path, target: Path) -> Path:
    """Copy a cached bundle to ``target`` (staged, then renamed into place).

    A ``target`` that already holds exactly these files is left as it is; one with other content is an
    error, never overwritten.
    """
    from bundle.registry.manifest import tree_digest

    if target.exists():
        if tree_digest(target) == tree_digest(folder):
            log.info("%s already holds this bundle", target)
            return target
        raise ZooError(f"'{target}' exists and holds something else",
                       hint="remove it, or download into another --dir; nothing was changed")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(folder, staging, ignore=shutil.ignore_patterns(".bundle-cache.json"))
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


