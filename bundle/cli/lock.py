"""``lock`` (pin the bundles an app declares) and ``sync`` (fetch exactly the locked ones, verified)."""

from __future__ import annotations


def lock(declared: str = "bundles.yaml", out: str | None = None, *, progress: bool | None = None) -> int:
    """Pin the bundles DECLARED (default bundles.yaml) to exact versions and hashes in bundles.lock.

    Args:
        declared: the declaration file (YAML/JSON: bundles: {NAME: RANGE or {version, source, repo, url}}).
        out: the lock file (default: bundles.lock next to the declaration).
        progress: progress bars for downloads.
    """
    from bundle.registry.lock import lock as pin

    data = pin(declared, out, progress=progress)
    for name, entry in data["bundles"].items():
        print(f"{name} {entry['version']}  ({entry['source']}, files sha256 {entry['tree'][:12]})")
    return 0


def sync(lockfile: str = "bundles.lock", *, dir: str | None = None, progress: bool | None = None) -> int:
    """Fetch exactly the bundles LOCKFILE pins (from the cache when there: works offline), each verified.

    Args:
        lockfile: the lock file (default bundles.lock).
        dir: also copy each bundle to DIR/NAME.
        progress: progress bars for downloads.
    """
    from bundle.registry.lock import sync as fetch_locked

    for name, folder in fetch_locked(lockfile, dir=dir, progress=progress).items():
        print(f"{name}: {folder}")
    return 0
