"""HTTP(S) transfers: a retrying session, resumable streaming with the hash computed on the way, errors with hints.

``fetch`` (in ``fetch.py``) is the public entry point; this module moves the bytes of one URL into
a partial file and says what went wrong when it cannot.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import queue
import re
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bundle import settings
from bundle.errors import DownloadError, IntegrityError

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes per read: per-chunk Python work is noise next to the I/O (4 MiB reads were slower:
# buffers that large are fresh mmaps, page-faulted in on every read)
RETRIES = 5  # retries of a failed request, and resumes of a dropped transfer
BACKOFF = 0.5  # seconds before the second retry, doubled for each further one
BACKOFF_MAX = 30.0
RETRY_AFTER_MAX = 120.0  # a server's Retry-After is honoured up to this many seconds
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def download(url: str, part: Path, headers, timeouts: tuple[float, float], retries: int, size: int | None,
             bar) -> tuple[str, int]:
    """Bring ``url``'s bytes into ``part`` (resuming what is there); returns (sha256 hex, byte count).

    Raises:
        DownloadError: an HTTP error status, or the connection failed more than ``retries`` times.
        IntegrityError: the server announces or sends more bytes than ``size``.
    """
    with _session(retries) as session:
        return _download(session, url, part, headers, timeouts, retries, size, bar)


def _download(session, url, part: Path, headers, timeouts, retries: int, size, bar) -> tuple[str, int]:
    import requests
    import urllib3

    hasher, have = _hash_existing(part)
    if have:
        log.info("%s: resuming at byte %d", url, have)
        bar.update(have)
    failures = 0
    while True:
        request_headers = {"User-Agent": _user_agent(), **(headers or {}), "Accept-Encoding": "identity"}
        if have:
            request_headers["Range"] = f"bytes={have}-"
        try:
            resp = session.get(url, headers=request_headers, stream=True, timeout=timeouts)
        except requests.RequestException as err:  # urllib3 has already retried it
            raise _request_error(url, err, timeouts) from None  # the cause is in the message; urllib3's chain is noise
        with resp:
            if resp.status_code == 416 and have and _range_total(resp) == have:
                return hasher.hexdigest(), have  # an earlier run got every byte but did not rename the file
            if resp.status_code == 416 and have:
                log.warning("%s: the server refused to resume at byte %d; starting again", url, have)
                hasher, have = _restart(part, bar)
                failures += 1
                if failures > retries:
                    raise DownloadError(url, "the server refused every Range request (416)", status=416)
                continue
            if resp.status_code not in (200, 206):
                raise _status_error(url, resp)
            if have and (resp.status_code == 200 or _range_start(resp) != have):
                log.info("%s: the server sent the whole file, not the rest; starting again", url)
                hasher, have = _restart(part, bar)
            total = _total_size(resp, have)
            if size is not None and total is not None and total != size:
                part.unlink(missing_ok=True)
                raise IntegrityError(url, expected=size, actual=total, kind="size")
            if total is not None and bar.total is None:
                bar.reset(total)
                bar.update(have)
            decode = resp.headers.get("Content-Encoding", "identity").lower() not in ("identity", "")
            try:
                with open(part, "ab" if have else "wb") as f:
                    have = _stream(resp.raw, f, hasher, have, size, decode, bar, url)
                return hasher.hexdigest(), have
            except (urllib3.exceptions.HTTPError, requests.RequestException) as err:
                have = part.stat().st_size if part.exists() else 0
                failures += 1
                if failures > retries:
                    raise _request_error(url, err, timeouts, got=have) from None
                wait = _backoff(failures)
                log.warning("%s: connection lost after %d bytes (%s); resuming in %.1f s (attempt %d of %d)",
                            url, have, type(err).__name__, wait, failures, retries)
                time.sleep(wait)


def _stream(raw, f, hasher, have: int, size: int | None, decode: bool, bar, url: str) -> int:
    # the hot loop: one read, one write, one queue put per CHUNK bytes; the hash runs in a helper
    # thread (hashlib and file writes release the GIL), so hashing overlaps receiving and writing
    read, write = raw.read, f.write
    background = _BackgroundHash(hasher)
    try:
        while True:
            chunk = read(CHUNK, decode_content=decode)
            if not chunk:
                return have
            write(chunk)
            background.update(chunk)
            have += len(chunk)
            if size is not None and have > size:
                raise IntegrityError(url, expected=size, actual=f"more than {have}", kind="size")
            bar.update(len(chunk))
    finally:
        background.finish()  # the hasher has seen exactly the bytes written, also after an error


class _BackgroundHash:
    """Feeds chunks to a hasher in a helper thread, in order; ``finish()`` waits until all are hashed."""

    def __init__(self, hasher) -> None:
        self._hasher = hasher
        self._queue: queue.Queue = queue.Queue(maxsize=4)  # at most 4 chunks in memory
        self._thread = threading.Thread(target=self._run, name="bundle-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        update = self._hasher.update
        while (chunk := self._queue.get()) is not None:
            update(chunk)

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()


def _session(retries: int):
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class CappedRetry(Retry):
        # a Retry-After of hours would look like a hang: wait at most RETRY_AFTER_MAX
        def parse_retry_after(self, retry_after: str) -> float:
            return min(super().parse_retry_after(retry_after), RETRY_AFTER_MAX)

        # a host name that does not resolve (no network, a typo) will not resolve in a second either
        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            if error is not None and is_name_resolution_error(error):
                from urllib3.exceptions import MaxRetryError

                raise MaxRetryError(_pool, url, error) from None
            return super().increment(method, url, response, error, _pool, _stacktrace)

    make_retry = functools.partial(
        CappedRetry,
        total=retries, connect=retries, read=retries, status=retries, other=0,
        allowed_methods=frozenset({"GET", "HEAD"}), status_forcelist=RETRY_STATUSES,
        backoff_factor=BACKOFF, respect_retry_after_header=True, raise_on_status=False,
    )
    try:
        retry = make_retry(backoff_max=BACKOFF_MAX)
    except TypeError:  # urllib3 < 2 caps the backoff with a class attribute instead
        retry = make_retry()
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def _hash_existing(part: Path):
    hasher = hashlib.sha256()
    if not part.exists():
        return hasher, 0
    have = 0
    with open(part, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            hasher.update(chunk)
            have += len(chunk)
    return hasher, have


def _restart(part: Path, bar):
    part.unlink(missing_ok=True)
    bar.reset(bar.total)
    return hashlib.sha256(), 0


def _range_start(resp) -> int | None:
    m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
    return int(m.group(1)) if m and resp.status_code == 206 else None


def _total_size(resp, have: int) -> int | None:
    m = re.match(r"bytes \d+-\d+/(\d+)", resp.headers.get("Content-Range", ""))
    if m:
        return int(m.group(1))
    length = resp.headers.get("Content-Length")
    encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("identity", "")
    return int(length) + have if length and length.isdigit() and not encoded else None


def _range_total(resp) -> int | None:
    m = re.search(r"/(\d+)\s*$", resp.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _backoff(failures: int) -> float:
    return min(BACKOFF * 2 ** (failures - 1), BACKOFF_MAX)


def resolve_timeouts(timeout: float | tuple[float, float] | None) -> tuple[float, float]:
    """(connect, read) seconds: from ``timeout`` (one number is both), else ``BUNDLE_HTTP_TIMEOUT``, else 10 and 60."""
    if timeout is None:
        return settings.http_timeout()
    if isinstance(timeout, (tuple, list)):
        return float(timeout[0]), float(timeout[1])
    return float(timeout), float(timeout)


def _user_agent() -> str:
    from bundle import __version__

    return f"bundle/{__version__}"


def _status_error(url: str, resp) -> DownloadError:
    status = resp.status_code
    reason = f"HTTP {status} {resp.reason or ''}".strip()
    if status == 404 or status == 410:
        hint = "the source does not have this file: check the name and version, or use another source"
    elif status in (401, 403):
        hint = "the server refused access: set a token (GITHUB_TOKEN, HF_TOKEN) or check its permissions"
    elif status == 429:
        hint = "the server limits requests: wait and try again, or use a token"
    elif status >= 500:
        hint = "the server failed (after retries): try again later, or use a mirror"
    else:
        hint = ""
    return DownloadError(url, reason, status=status, hint=hint)


def is_name_resolution_error(err: BaseException | None) -> bool:
    """Whether ``err`` (or what it wraps) is a failed DNS look-up: not retried, as it is not transient."""
    import socket

    import urllib3

    name_error = getattr(urllib3.exceptions, "NameResolutionError", ())  # urllib3 >= 2
    for _ in range(8):
        if err is None:
            return False
        if isinstance(err, socket.gaierror) or (name_error and isinstance(err, name_error)):
            return True
        err = (getattr(err, "reason", None) or err.__cause__ or err.__context__
               or (err.args[0] if err.args and isinstance(err.args[0], BaseException) else None))
    return False


def _request_error(url: str, err: BaseException, timeouts, got: int = 0) -> DownloadError:
    after = f" after {got} bytes" if got else ""
    if is_name_resolution_error(err):
        host = urlparse(url).hostname or url
        return DownloadError(
            url, f"cannot resolve the host name '{host}' (no network, or no DNS)",
            hint="connect to the network, or work offline: BUNDLE_OFFLINE=1 uses only the cache and the "
                 "bundles shipped in zoo/, or give a local bundle folder or archive path instead of a name",
        )
    if _is_timeout(err):
        return DownloadError(
            url, f"timed out{after} (connect {timeouts[0]:g} s, read {timeouts[1]:g} s)",
            hint="the server is slow or unreachable: try again, or allow more time with BUNDLE_HTTP_TIMEOUT=SECONDS",
        )
    return DownloadError(
        url, f"connection failed{after}: {_root_cause(err)}",
        hint="check the network (and proxy settings); BUNDLE_OFFLINE=1 uses only what is in the cache",
    )


def _is_timeout(err: BaseException | None) -> bool:
    import requests
    import urllib3

    seen = 0
    while err is not None and seen < 8:
        if isinstance(err, urllib3.exceptions.NewConnectionError):  # a subclass of ConnectTimeoutError, but a refusal
            return False
        if isinstance(err, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return True
        err = getattr(err, "reason", None) or (err.args[0] if err.args and isinstance(err.args[0], BaseException) else None)
        seen += 1
    return False


def _root_cause(err: BaseException) -> str:
    inner: Any = err
    for _ in range(8):
        first = inner.args[0] if inner.args else None
        nxt = getattr(inner, "reason", None) or (first if isinstance(first, BaseException) else None)
        if nxt is None or not isinstance(nxt, BaseException):
            break
        inner = nxt
    return str(inner) or type(inner).__name__
