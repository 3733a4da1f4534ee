"""Commands that read the zoo index: ``list``, ``search``, ``info``, ``versions``. None imports torch,
jsonschema or requests once the index has been seen (see ``bundle.registry.index``)."""

from __future__ import annotations

import json as _json
import sys
from typing import Any


def _index(index: str | None, refresh: bool = False) -> Any:
    from bundle.registry.index import Index

    return Index.load(index, refresh=refresh)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _table(records: list, as_json: bool) -> int:
    rows = []
    for record in records:
        versions = record.usable_versions()
        rows.append({"name": record.name, "latest": record.latest() if versions else "",
                     "versions": len(versions), "license": record.license, "tags": list(record.tags),
                     "summary": record.summary})
    if as_json:
        print(_json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no bundles", file=sys.stderr)
        return 0
    name_w = max(4, *(len(r["name"]) for r in rows))
    ver_w = max(6, *(len(r["latest"]) for r in rows))
    print(f"{'NAME':<{name_w}}  {'LATEST':<{ver_w}}  SUMMARY")
    for r in rows:
        tags = f"  [{', '.join(r['tags'])}]" if r["tags"] else ""
        print(f"{r['name']:<{name_w}}  {r['latest']:<{ver_w}}  {r['summary']}{tags}")
    return 0


def list_bundles(*, index: str | None = None, refresh: bool = False, json: bool = False) -> int:
    """List the bundles of the index: name, latest version, summary and tags.

    Args:
        index: index paths or URLs (several separated by commas); default BUNDLE_INDEX or the packaged one.
        refresh: fetch remote indexes again even if the cached copy is fresh.
        json: print JSON instead of a table.
    """
    found = _index(index, refresh)
    return _table([found.bundle(n) for n in found.names()], json)


def search(*words: str, index: str | None = None, refresh: bool = False, json: bool = False) -> int:
    """Bundles whose name, summary or tags contain every word (case-insensitive).

    Args:
        words: the words to look for.
        index, refresh, json: as for ``list``.
    """
    return _table(_index(index, refresh).search(" ".join(str(w) for w in words)), json)


def info(ref: str, *, index: str | None = None, refresh: bool = False, json: bool = False) -> int:
    """Show one version of a bundle (default the latest): summary, license, size, sha256, sources, needs.

    Args:
        ref: ``NAME``, ``NAME@1.2.3`` or ``NAME@^1.2``.
        index, refresh, json: as for ``list``.
    """
    from bundle.registry.versions import parse_ref

    name, spec = parse_ref(str(ref))
    found = _index(index, refresh)
    record = found.resolve(name, spec)
    others = found.bundle(name).usable_versions()
    if json:
        print(_json.dumps({**record.as_dict(), "versions": others}, indent=2))
        return 0
    lines = [
        f"{record.name} {record.version}" + (f"  (YANKED: {record.yanked})" if record.yanked else ""),
        f"  summary:   {record.summary}",
        f"  license:   {record.license}",
        f"  tags:      {', '.join(record.tags) or '-'}",
        f"  published: {record.published}",
        f"  archive:   {record.archive_name}, {_size(record.size)} ({record.size} bytes)",
        f"  sha256:    {record.sha256}",
    ]
    if record.changelog:
        lines.append(f"  changes:   {record.changelog}")
    requires = record.requires or {}
    needs = [f"python {requires['python']}"] if requires.get("python") else []
    needs += [f"{pkg}{spec if spec[:1] in '<>=!~' else ' ' + spec}" for pkg, spec in sorted(requires.get("packages", {}).items())]
    lines.append(f"  requires:  {', '.join(needs) or '-'}")
    lines.append("  sources:")
    for source in record.sources:
        lines.append("    - " + ", ".join(f"{k}: {v}" for k, v in source.items()))
    lines.append(f"  versions:  {', '.join(others)}")
    lines.append(f"  index:     {record.index}")
    print("\n".join(lines))
    return 0


def versions(name: str, *, index: str | None = None, refresh: bool = False, json: bool = False) -> int:
    """List a bundle's versions, newest first (semantic order), with their dates; yanked ones marked.

    Args:
        name: the bundle name.
        index, refresh, json: as for ``list``.
    """
    from bundle.registry.versions import newest_first

    record = _index(index, refresh).bundle(str(name))
    ordered = newest_first(record.versions)
    rows = [{"version": v, "published": record.versions[v]["published"], "size": record.versions[v]["size"],
             "yanked": record.versions[v].get("yanked", "")} for v in ordered]
    if json:
        print(_json.dumps(rows, indent=2))
        return 0
    for row in rows:
        mark = f"  yanked: {row['yanked']}" if row["yanked"] else ""
        print(f"{row['version']:<12} {row['published']}  {_size(row['size']):>9}{mark}")
    return 0
