"""One file over HTTP(S), file:// or a local path: streamed, hashed as it arrives, retried, resumed, renamed into place.

The destination only ever holds a complete, verified file: bytes go to a partial file next to it
(or where the caller says, e.g. the cache's ``tmp/``), the sha256 is computed while they arrive,
and only a file of the right size and hash is renamed into place. A dropped connection is resumed
with ``Range: bytes=N-``; 5xx/429 replies and connection failures are retried with backoff
(``Retry-After`` honoured) by urllib3.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse
from urllib.request import url2pathname

from bundle import settings
from bundle.errors import DownloadError, IntegrityError, ZooError
from bundle.registry.transfer import CHUNK, RETRIES, download, resolve_timeouts

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    size: int | None = None,
    headers: Mapping[str, str] | None = None,
    progress: bool | None = None,
    timeout: float | tuple[float, float] | None = None,
    retries: int | None = None,
    part: str | os.PathLike | None = None,
) -> Path:
    """Download ``url`` to ``dest``, verified: ``dest`` is either absent or the complete, right file.

    Args:
        url: an http(s) URL, a file:// URL, or a local path (copied, with the same checks).
        dest: the file to create (its folder is created); replaced atomically if it exists.
        sha256: the expected hex digest; a mismatch deletes the partial file and raises.
        size: the expected size in bytes; a transfer that exceeds it is stopped early.
        headers: extra request headers (e.g. ``Authorization``).
        progress: show a tqdm bar on stderr; default: when stderr is a terminal.
            ``BUNDLE_NO_PROGRESS=1`` turns it off either way.
        timeout: seconds, or ``(connect, read)``; default ``BUNDLE_HTTP_TIMEOUT`` (one number, or
            ``CONNECT,READ``), else 10 s to connect and 60 s without a byte.
        retries: how many times a failed request is retried and a dropped transfer resumed (default 5).
        part: where the partial file lives (default ``<dest>.part``); a partial file already there
            (from an interrupted run) is resumed when ``sha256`` or ``size`` can check the result.

    Returns:
        ``dest`` as a Path.

    Raises:
        IntegrityError: the bytes have the wrong sha256 or size (nothing is left at dest or part).
        DownloadError: the file could not be fetched: ``status`` is the HTTP status, if any.

    Example:
        >>> fetch("https://example.org/m_v1.0.zip", "m.zip", sha256="9f86d0...")  # doctest: +SKIP
    """
    dest = Path(dest)
    part_path = Path(part) if part is not None else dest.with_name(dest.name + ".part")
    expected = check_sha256(sha256) if sha256 is not None else None
    retries = RETRIES if retries is None else max(int(retries), 0)
    local = local_path(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part_path.parent.mkdir(parents=True, exist_ok=True)
    for fresh in (False, True):
        # an earlier run's partial file is resumed only when the result can be checked
        if fresh or local is not None or (expected is None and size is None):
            part_path.unlink(missing_ok=True)
        resumed = part_path.exists()
        try:
            with _progress_bar(progress, size, dest.name) as bar:
                if local is not None:
                    digest, count = _copy(url, local, part_path, size, bar)
                else:
                    digest, count = download(url, part_path, headers, resolve_timeouts(timeout), retries, size, bar)
        except IntegrityError:  # too many bytes: what arrived is of no use
            part_path.unlink(missing_ok=True)
            raise
        problem = _verify(url, digest, count, expected, size)
        if problem is None:
            break
        part_path.unlink(missing_ok=True)
        if not resumed:
            raise problem
        # the partial file left by an earlier run may have been of other bytes: once more from zero
        log.warning("%s: resumed download has the wrong %s; downloading it again from the start", url, problem.kind)
    os.replace(part_path, dest)
    log.debug("%s -> %s (%d bytes, sha256 %s)", url, dest, count, digest)
    return dest


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's content, read in large chunks.

    Example:
        >>> sha256_file("m_v1.0.zip")  # doctest: +SKIP
        '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
    """
    return file_digest(path, "sha256")


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    """The hex digest of a file's content under ``algorithm`` (a ``hashlib`` name such as "md5"),
    read in large chunks, on every Python the package supports (``hashlib.file_digest`` is 3.11+)."""
    with open(path, "rb") as f:
        if hasattr(hashlib, "file_digest"):  # Python >= 3.11: reads into one reused buffer
            return hashlib.file_digest(f, algorithm).hexdigest()
        h = hashlib.new(algorithm)
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
        return h.hexdigest()


def local_path(url: str) -> Path | None:
    """The file a ``file://`` URL or a plain path names; None for any other URL scheme."""
    parsed = urlparse(str(url))
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme in ("http", "https"):
        return None
    if len(parsed.scheme) <= 1:  # no scheme, or a Windows drive letter
        return Path(url)
    raise DownloadError(str(url), f"unsupported URL scheme '{parsed.scheme}'", hint="use an http(s):// or file:// URL, or a path")


# --- local files and verification --------------------------------------------------------------


def _copy(url: str, source: Path, part: Path, size: int | None, bar) -> tuple[str, int]:
    try:
        src = open(source, "rb")  # noqa: SIM115 (closed by the with that follows the error handling)
    except FileNotFoundError as err:
        raise DownloadError(url, "no such file", hint="check the path (relative paths start at the current folder)") from err
    except OSError as err:
        raise DownloadError(url, f"cannot read it: {err.strerror or err}") from err
    hasher, have = hashlib.sha256(), 0
    with src, open(part, "wb") as f:
        total = os.fstat(src.fileno()).st_size
        if size is not None and total != size:
            raise IntegrityError(url, expected=size, actual=total, kind="size")
        bar.reset(total)
        for chunk in iter(lambda: src.read(CHUNK), b""):
            f.write(chunk)
            hasher.update(chunk)
            have += len(chunk)
            bar.update(len(chunk))
    return hasher.hexdigest(), have


def _verify(url: str, digest: str, count: int, expected: str | None, size: int | None) -> IntegrityError | None:
    if size is not None and count != size:
        return IntegrityError(url, expected=size, actual=count, kind="size")
    if expected is not None and digest != expected:
        return IntegrityError(url, expected=expected, actual=digest)
    return None


def check_sha256(value: str) -> str:
    """``value`` as a lower-case hex sha256 (a ``sha256:`` prefix is dropped); ZooError when it is not one."""
    digest = str(value).lower().removeprefix("sha256:")
    if not _SHA256.match(digest):
        raise ZooError(f"'{value}' is not a sha256 digest", hint="write 64 hexadecimal digits")
    return digest


class _NoBar:
    total = None

    def update(self, n: int) -> None:
        pass

    def reset(self, total=None) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _progress_bar(progress: bool | None, total: int | None, name: str):
    if settings.no_progress():
        return _NoBar()
    if progress is None:
        progress = sys.stderr is not None and sys.stderr.isatty()
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                leave=False, mininterval=0.2)
