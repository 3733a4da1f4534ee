"""The ``cache`` command: list what the download cache holds, prune it, or print where it is."""

from __future__ import annotations

import time

from bundle.errors import BundleError, did_you_mean

ACTIONS = ("list", "prune", "dir")


def cache(
    action: str = "list",
    *,
    name: str | None = None,
    older_than_days: float | None = None,
    keep: int | None = None,
    all: bool = False,
    dry_run: bool = False,
    json: bool = False,
) -> int:
    """List, prune or locate the download cache (BUNDLE_CACHE_DIR).

    Actions: list (every bundle and archive, with size and when it was last used), prune (remove
    bundles matching every option given, and the archives no remaining bundle needs; with no
    option, only archives no bundle refers to), dir (print the cache folder).

    Args:
        action: list, prune or dir.
        name: only this bundle.
        older_than_days: prune what was last used more than this many days ago.
        keep: prune all but the newest KEEP versions of each bundle.
        all: prune everything (of NAME, if given).
        dry_run: show what prune would remove, remove nothing.
        json: print JSON instead of a table.

    Example:
        bundle cache prune --keep 1 --dry_run
    """
    import json as json_module

    from bundle.registry.cache import Cache

    store = Cache()
    if action not in ACTIONS:
        hint = did_you_mean(action, ACTIONS) or f"use one of: {', '.join(ACTIONS)}"
        raise BundleError(f"unknown cache action '{action}'", hint=hint)
    if action == "dir":
        print(json_module.dumps({"root": str(store.root)}) if json else store.root)
        return 0
    if action == "list":
        entries = [e for e in store.entries() if name is None or e.name == name]
        if json:
            print(json_module.dumps({"root": str(store.root), "entries": [e.as_dict() for e in entries]}, indent=2))
        else:
            print(f"cache: {store.root}")
            print(_table(entries) if entries else "(empty)")
        return 0
    if keep is not None and int(keep) < 0:
        raise BundleError(f"--keep {keep} is negative", hint="keep the newest N versions: N >= 0")
    removed = store.prune(name=name, older_than_days=older_than_days, keep=keep, everything=all, dry_run=dry_run)
    if json:
        print(json_module.dumps({"dry_run": dry_run, "removed": [e.as_dict() for e in removed]}, indent=2))
        return 0
    verb = "would remove" if dry_run else "removed"
    if removed:
        print(_table(removed))
    print(f"{verb} {len(removed)} entr{'y' if len(removed) == 1 else 'ies'}, {_size(sum(e.size for e in removed))}")
    return 0


def _table(entries) -> str:
    rows = [("KIND", "NAME", "VERSION", "SIZE", "LAST USED", "SHA256")]
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used))
        rows.append((e.kind, e.name or "-", e.version or "-", _size(e.size), used, (e.sha256 or "-")[:12]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    total = sum(e.size for e in entries)
    return "\n".join(lines + [f"total: {_size(total)}"])


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
