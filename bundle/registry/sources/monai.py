"""The ``monai`` source: MONAI's model zoo, read from its index format (``model_info.json``: keys
``NAME_vVERSION``, each with a ``source`` URL and the archive's sha1 ``checksum``), with each bundle's
``large_files.yml`` fetched and checked into the folder.

Where the index is: ``BUNDLE_MONAI_INDEX`` (a path or URL), default the model zoo's own file on GitHub;
it is cached like our index. Versions are ordered semantically (MONAI sorts the strings). Bundles
hosted on Hugging Face (``https://huggingface.co/OWNER/NAME/tree/VERSION``) download through
huggingface_hub, so ``HF_ENDPOINT`` and ``HF_TOKEN`` apply; archives (NGC, GitHub) are checked against
their sha1 when the index gives one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

from bundle import settings
from bundle.errors import FormatError, IntegrityError, ZooError, close_matches
from bundle.registry.versions import pick

log = logging.getLogger(__name__)

_HF_TREE = re.compile(r"^https?://[^/]+/(?P<repo>[^/]+/[^/]+)/tree/(?P<revision>[^/?#]+)/?$")


def model_info() -> tuple[dict, str]:
    """MONAI's index (key -> {checksum, source}) and where it was read from."""
    from bundle.registry.index import index_text

    text, where = index_text(settings.monai_index())
    return parse_model_info(text, where), where


def parse_model_info(text: str, where: str) -> dict:
    """The content of a ``model_info.json`` read from ``where``.

    Raises:
        FormatError: it is not JSON, or not an object.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise FormatError(f"MONAI's model_info.json ('{where}') is not valid JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise FormatError(f"'{where}' is not a model_info.json (an object of NAME_vVERSION keys)")
    return data


def versions_of(data: dict, name: str) -> list[str]:
    prefix = f"{name}_v"
    return [key[len(prefix):] for key in data if key.startswith(prefix) and key[len(prefix):][:1].isdigit()]


def get(cache, name: str, spec: str | None, *, progress: bool | None = None, **_: object) -> Path:
    """The cached folder of a MONAI model-zoo bundle, large files included."""
    data, where = model_info()
    versions = versions_of(data, name)
    if not versions:
        names = sorted({key.rsplit("_v", 1)[0] for key in data})
        close = close_matches(name, names)
        raise ZooError(f"MONAI's model zoo ({where}) has no bundle named '{name}'",
                       hint=("did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else
                       f"it has {len(names)} bundles, e.g. {', '.join(names[:5])}")
    version = pick(versions, spec, name=f"MONAI bundle '{name}'")
    found = cache.find_tree(name, version)
    if found is not None:
        return found
    entry = data[f"{name}_v{version}"]
    url, checksum = str(entry.get("source", "")), str(entry.get("checksum", "") or "")
    if cache.offline:
        raise ZooError(f"{name}@{version} (MONAI) is not in the cache and BUNDLE_OFFLINE=1 forbids downloading it",
                       hint="download it once on a connected machine")
    tree = _HF_TREE.match(url)
    if tree:
        from bundle.registry.sources.hf import snapshot

        staged, commit = snapshot(cache, tree["repo"], tree["revision"])
        origin = f"monai:hf:{tree['repo']}@{commit}"
    else:
        staged = _archive(cache, name, version, url, checksum, progress)
        origin = f"monai:{url}"
    try:
        root = _bundle_root(staged, name)
        from bundle.registry.large_files import fetch_large_files

        fetch_large_files(root, progress=progress)
        return cache.add_tree(name, version, root, origin=origin)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _archive(cache, name: str, version: str, url: str, checksum: str, progress: bool | None) -> Path:
    from bundle.registry.archive import extract
    from bundle.registry.fetch import fetch, file_digest

    staging = Path(cache.root) / "tmp" / f"monai-{name}-{version}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    archive = staging.with_suffix(".zip")
    try:
        fetch(url, archive, progress=progress)
        if checksum:
            kind = {40: "sha1", 32: "md5"}.get(len(checksum), "sha256")
            digest = file_digest(archive, kind)
            if digest != checksum.lower():
                raise IntegrityError(url, expected=checksum, actual=digest, kind=kind,
                                     hint="MONAI's index names other bytes: the hosted archive changed or is "
                                          "corrupt; nothing was cached")
        else:
            log.warning("MONAI's index gives no checksum for %s@%s; the archive cannot be verified", name, version)
        extract(archive, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        archive.unlink(missing_ok=True)
    return staging


def _bundle_root(folder: Path, name: str) -> Path:
    """The bundle inside an extracted archive (MONAI's zips hold one top folder named after the bundle)."""
    for candidate in (folder, folder / name, *sorted(p for p in folder.iterdir() if p.is_dir())):
        if (candidate / "configs").is_dir():
            return candidate
    raise FormatError(f"the download of '{name}' holds no bundle (no configs/ folder)")
