"""The ``url`` source: a bundle archive at a URL (http, https, file, or a path).

With ``--sha256`` the archive is checked like an index download. Without one the download cannot be
checked, so it is pinned instead: the sha256 of the first download is recorded in the cache
(``refs/``) and every later use of that URL must give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from bundle.errors import IntegrityError, ZooError
from bundle.registry.sources import Mirror

log = logging.getLogger(__name__)

_ARCHIVE_NAME = re.compile(r"^(?P<name>.+)_v(?P<version>[0-9][0-9A-Za-z.+-]*?)\.(zip|tar\.gz|tgz|tar)$")


def get(cache, name: str, spec: str | None, *, url: str | None = None, sha256: str | None = None,
        progress: bool | None = None, **_: object) -> Path:
    """The cached folder of the archive at ``url`` (``name`` names it; the version comes from ``spec``
    or the file name ``NAME_vVERSION.zip``)."""
    if not url:
        raise ZooError("--source url needs --url", hint="e.g. --url https://example.org/NAME_v0.1.0.zip")
    return archive_by_url(cache, name, spec, Mirror(str(url)), sha256=sha256, progress=progress,
                          origin=str(url))


def version_from(url: str, name: str, spec: str | None) -> str | None:
    """An exact version: ``spec`` when it is one, else the ``_vVERSION`` of the archive's file name."""
    if spec and spec[:1].isdigit() and not any(c in spec for c in "<>,*^~"):
        return spec
    found = _ARCHIVE_NAME.match(PurePosixPath(urlparse(url).path).name)
    if found and found["name"] == name:
        return found["version"]
    return None


def archive_by_url(cache, name: str, spec: str | None, mirror: Mirror, *, sha256: str | None,
                   progress: bool | None, origin: str) -> Path:
    """Download (or find in the cache) the archive at one URL and return its verified folder."""
    pin = _pin_file(cache, mirror.url)
    if sha256 is None and pin.is_file():
        sha256 = json.loads(pin.read_text())["sha256"]
        log.info("%s: using the sha256 pinned at its first download (%s)", mirror.url, sha256[:12])
    version = version_from(mirror.url, name, spec)
    if sha256 is not None:
        version = version or f"0+sha256.{sha256[:12]}"
        try:
            return cache.bundle(name, version, sha256, [mirror], progress=progress, origin=origin)
        except IntegrityError as err:
            if pin.is_file():
                raise IntegrityError(err.url, expected=err.expected, actual=err.actual, kind=err.kind,
                                     hint=f"the file at {mirror.url} changed since it was first downloaded; if the "
                                          f"new one is right, pass its --sha256 (or delete {pin})") from None
            raise
    if cache.offline:
        raise ZooError(f"{mirror.url} has never been downloaded and BUNDLE_OFFLINE=1 forbids it",
                       hint="download it once on a connected machine")
    from bundle.registry.fetch import fetch, sha256_file

    staged = cache.root / "tmp" / f"url-{hashlib.sha256(mirror.url.encode()).hexdigest()[:16]}"
    try:
        fetch(mirror.url, staged, headers=mirror.headers, progress=progress)
        digest = sha256_file(staged)
        log.warning("%s: no sha256 was given, so the download is not verified; pinned its sha256 %s "
                    "(later downloads must match; pass --sha256 to check)", mirror.url, digest)
        path = cache.bundle(name, version or f"0+sha256.{digest[:12]}", digest, [Mirror(str(staged))],
                            progress=False, origin=origin)
    finally:
        staged.unlink(missing_ok=True)
    from bundle.atomic import write_atomic

    write_atomic(pin, json.dumps({"url": mirror.url, "sha256": digest}).encode())
    return path


def _pin_file(cache, url: str) -> Path:
    return cache.root / "refs" / "url" / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".json")
