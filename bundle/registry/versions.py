"""Semantic versions and version ranges of zoo bundles: ``NAME@SPEC`` references, ``^``/``~`` ranges,
and "latest" by version order (MONAI sorts version strings, so its "latest" of 0.9.0 and 0.10.0 is 0.9.0;
ours is 0.10.0).

Example:
    >>> parse_ref("spleen_ct_segmentation@^0.5")
    ('spleen_ct_segmentation', '^0.5')
    >>> pick(["0.9.0", "0.10.0", "1.0.0rc1"])
    '0.10.0'
    >>> pick(["0.9.0", "0.10.0", "1.0.0"], "~0.9")
    '0.9.0'
"""

from __future__ import annotations

import re
from typing import Iterable

from bundle.errors import ZooError

__all__ = ["parse_ref", "parse_version", "to_specifier", "match", "newest_first", "pick"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_PARTIAL = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


def parse_ref(ref: str) -> tuple[str, str | None]:
    """Split ``NAME[@SPEC]`` into the bundle name and the version spec (None: latest).

    Raises:
        ZooError: the name holds characters a bundle name cannot have.
    """
    name, _, spec = str(ref).strip().partition("@")
    if not _NAME.match(name):
        raise ZooError(
            f"'{ref}' is not a bundle name",
            hint="names are letters, digits, '_', '-' and '.', optionally followed by @VERSION "
                 "(e.g. spleen@1.2.0 or spleen@^1.2)",
        )
    return name, (spec.strip() or None)


def parse_version(text: str):
    """The ``packaging`` Version of ``text``.

    Raises:
        ZooError: ``text`` is not a version.
    """
    from packaging.version import InvalidVersion, Version

    try:
        return Version(str(text))
    except InvalidVersion:
        raise ZooError(f"'{text}' is not a version", hint="write a semantic version such as 1.2.3") from None


def _partial(text: str, where: str) -> tuple[int, int | None, int | None]:
    found = _PARTIAL.match(text.strip())
    if not found:
        raise ZooError(f"'{where}' is not a version range", hint=_SPEC_HINT)
    major, minor, patch = found.groups()
    return int(major), (int(minor) if minor is not None else None), (int(patch) if patch is not None else None)


_SPEC_HINT = "write 1.2.3 (exact), ^1.2 (compatible: >=1.2,<2), ~1.2 (>=1.2,<1.3), >=1.0,<2 or * (latest)"


def to_specifier(spec: str):
    """The ``packaging`` SpecifierSet a spec stands for (``1.2.3``, ``^1.2``, ``~1.2``, ``>=1,<2``).

    A bare version is exact; ``^`` allows changes that do not modify the left-most non-zero part
    (npm/cargo meaning: ``^0.2.3`` is ``>=0.2.3,<0.3.0``); ``~`` allows patch changes (``~1.2`` is
    ``>=1.2,<1.3``; ``~1`` is ``>=1,<2``).

    Raises:
        ZooError: the spec is not one of these forms.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    text = str(spec).strip()
    if text.startswith("^"):
        major, minor, patch = _partial(text[1:], text)
        low = ".".join(str(p) for p in (major, minor, patch) if p is not None)
        if major > 0 or minor is None:
            high = f"{major + 1}"
        elif minor > 0 or patch is None:
            high = f"0.{minor + 1}"
        else:
            high = f"0.0.{patch + 1}"
        return SpecifierSet(f">={low},<{high}")
    if text.startswith("~") and not text.startswith("~="):
        major, minor, patch = _partial(text[1:], text)
        low = ".".join(str(p) for p in (major, minor, patch) if p is not None)
        high = f"{major + 1}" if minor is None else f"{major}.{minor + 1}"
        return SpecifierSet(f">={low},<{high}")
    if _PARTIAL.match(text) or text[:1].isdigit():
        text = f"=={text}"
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ZooError(f"'{spec}' is not a version range", hint=_SPEC_HINT) from None


def _parsed(versions: Iterable[str]) -> list:
    """(Version, text) of every string that is a version, newest first."""
    from packaging.version import InvalidVersion, Version

    parsed = []
    for text in versions:
        try:
            parsed.append((Version(str(text)), str(text)))
        except InvalidVersion:
            continue
    return sorted(parsed, reverse=True)


def newest_first(versions: Iterable[str]) -> list[str]:
    """Every version (pre-releases too), newest first; strings that are not versions are left out."""
    return [text for _, text in _parsed(versions)]


def match(versions: Iterable[str], spec: str | None = None) -> list[str]:
    """The versions that satisfy ``spec`` (None or ``*``: all), newest first.

    Pre-releases only match a spec that names one (or when they are all there is), as pip does.
    Strings that are not versions are skipped.
    """
    parsed = _parsed(versions)
    if spec is None or str(spec).strip() in ("", "*", "latest"):
        final = [text for version, text in parsed if not version.is_prerelease]
        return final or [text for _, text in parsed]
    specifier = to_specifier(spec)
    kept = list(specifier.filter([v for v, _ in parsed]))
    return [text for version, text in parsed if version in kept]


def pick(versions: Iterable[str], spec: str | None = None, *, name: str = "the bundle") -> str:
    """The newest version that satisfies ``spec``.

    Raises:
        ZooError: none does; the message lists the versions there are.
    """
    versions = list(versions)
    found = match(versions, spec)
    if found:
        return found[0]
    there = ", ".join(newest_first(versions)) or "none"
    raise ZooError(
        f"{name} has no version matching '{spec}'" if spec else f"{name} has no released version",
        hint=f"versions there: {there}",
    )
