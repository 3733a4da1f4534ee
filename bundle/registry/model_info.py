"""MONAI's model-zoo listing functions, ``get_all_bundles_list``, ``get_bundle_versions`` and
``get_bundle_info``, read from its index (``model_info.json``: ``NAME_vVERSION`` keys, each with a
``source`` URL) through our index cache.

Versions are ordered semantically, so "latest" is the version ``download`` fetches (0.10.0 after
0.9.0, a final release before a newer pre-release); MONAI sorts the strings.

Example:
    >>> get_bundle_versions("spleen_ct_segmentation")
    {'latest_version': '0.10.0', 'all_versions': ['0.9.0', '0.10.0']}
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bundle.errors import ZooError, did_you_mean

__all__ = ["get_all_bundles_list", "get_bundle_versions", "get_bundle_info", "UnknownBundleError"]

DEFAULT_REPO = "Project-MONAI/model-zoo"
DEFAULT_TAG = "dev"
RAW_GITHUB = "https://raw.githubusercontent.com"


class UnknownBundleError(ZooError, ValueError):
    """The index has no such bundle, or no such version of it (a ``ValueError``, as in MONAI)."""


def _index(repo: str, tag: str, auth_token: str | None) -> tuple[dict, str]:
    """``model_info.json`` of ``repo`` at ``tag``: ``BUNDLE_MONAI_INDEX`` stands for MONAI's own."""
    if tag == "hosting_storage_v1":
        raise ZooError("tag 'hosting_storage_v1' (the GitHub releases listing) is not read here",
                       hint="use tag='dev': model_info.json lists the same bundles without GitHub's rate limit")
    if (repo, tag) == (DEFAULT_REPO, DEFAULT_TAG) and auth_token is None:
        from bundle.registry.sources.monai import model_info

        return model_info()
    url = f"{RAW_GITHUB}/{repo}/{tag}/models/model_info.json"
    if auth_token is None:
        from bundle.registry.index import index_text

        text, where = index_text(url)
    else:  # a private index: fetched each time, never cached
        from bundle.registry.fetch import fetch

        with tempfile.TemporaryDirectory(prefix="bundle-model-info-") as scratch:
            path = fetch(url, Path(scratch) / "model_info.json", headers={"Authorization": f"Bearer {auth_token}"},
                         progress=False)
            text, where = path.read_text(encoding="utf-8"), url
    from bundle.registry.sources.monai import parse_model_info

    return parse_model_info(text, where), where


def _bundles(data: dict) -> dict[str, dict[str, dict[str, Any]]]:
    """name -> version -> ``{"name": key, "browser_download_url": source}``, in the index's order."""
    bundles: dict[str, dict[str, dict[str, Any]]] = {}
    for key, entry in data.items():
        name, sep, version = str(key).rpartition("_v")
        if not sep or not name:
            continue
        source = entry.get("source") if isinstance(entry, dict) else None
        bundles.setdefault(name, {})[version] = {"name": key, "browser_download_url": source}
    return bundles


def _ordered(versions: list[str]) -> list[str]:
    """Oldest first by version order; strings that are not versions first, in string order."""
    from bundle.registry.versions import newest_first

    valid = newest_first(versions)[::-1]
    return sorted(set(versions) - set(valid)) + valid


def _latest(versions: list[str]) -> str:
    from bundle.registry.versions import match

    found = match(versions)  # final releases before pre-releases, newest first, as download picks
    return found[0] if found else _ordered(versions)[-1]


def _bundle(bundle_name: str, repo: str, tag: str, auth_token: str | None) -> dict[str, dict[str, Any]]:
    data, where = _index(repo, tag, auth_token)
    bundles = _bundles(data)
    if bundle_name not in bundles:
        raise UnknownBundleError(f"the model zoo index '{where}' has no bundle '{bundle_name}'",
                                 hint=did_you_mean(bundle_name, bundles) or f"it lists {len(bundles)} bundles")
    return bundles[bundle_name]


def get_all_bundles_list(repo: str = DEFAULT_REPO, tag: str = DEFAULT_TAG,
                         auth_token: str | None = None) -> list[tuple[str, str]]:
    """Every bundle of the index with its latest version.

    Args:
        repo: the GitHub repository (``OWNER/NAME``) holding ``models/model_info.json``.
        tag: the branch or tag to read it at.
        auth_token: a GitHub token, for a private repository.

    Returns:
        ``[(name, latest version), ...]`` in the index's order.

    Raises:
        ZooError: the index cannot be downloaded (or ``tag`` is ``hosting_storage_v1``).
        FormatError: it is not a ``model_info.json``.
    """
    data, _ = _index(repo, tag, auth_token)
    return [(name, _latest(list(versions))) for name, versions in _bundles(data).items()]


def get_bundle_versions(bundle_name: str, repo: str = DEFAULT_REPO, tag: str = DEFAULT_TAG,
                        auth_token: str | None = None) -> dict[str, list[str] | str]:
    """The versions of a bundle: ``{"latest_version": ..., "all_versions": [oldest, ..., newest]}``.

    Raises:
        UnknownBundleError: the index has no such bundle. Others: as ``get_all_bundles_list``.
    """
    versions = list(_bundle(bundle_name, repo, tag, auth_token))
    return {"latest_version": _latest(versions), "all_versions": _ordered(versions)}


def get_bundle_info(bundle_name: str, version: str | None = None, repo: str = DEFAULT_REPO, tag: str = DEFAULT_TAG,
                    auth_token: str | None = None) -> dict[str, Any]:
    """What the index says of one version of a bundle: ``{"name": "NAME_vVERSION", "browser_download_url": URL}``.

    Args:
        bundle_name: the bundle.
        version: the version; None for the latest.
        repo, tag, auth_token: as for ``get_all_bundles_list``.

    Raises:
        UnknownBundleError: no such bundle or version. Others: as ``get_all_bundles_list``.
    """
    versions = _bundle(bundle_name, repo, tag, auth_token)
    version = _latest(list(versions)) if version is None else str(version)
    if version not in versions:
        raise UnknownBundleError(f"bundle '{bundle_name}' has no version {version}",
                                 hint=f"versions: {', '.join(_ordered(list(versions)))}")
    return dict(versions[version])
