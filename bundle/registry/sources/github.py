"""The ``github`` source: a release asset, named MONAI's way (``--repo OWNER/REPO/TAG``, asset
``NAME_vVERSION.zip``) or taken from the index's GitHub mirror of a version.

``BUNDLE_GITHUB_URL`` replaces ``https://github.com`` (GitHub Enterprise, a mirror); ``GITHUB_TOKEN``
or ``GH_TOKEN`` is sent for private repositories.
"""

from __future__ import annotations

from pathlib import Path

from bundle.errors import ZooError
from bundle.registry.sources.mirrors import asset_mirror


def get(cache, name: str, spec: str | None, *, repo: str | None = None, sha256: str | None = None,
        index: str | None = None, progress: bool | None = None, **_: object) -> Path:
    """The cached folder of a bundle from a GitHub release.

    Without ``repo`` the index's GitHub mirror of ``name@spec`` is used (sha256 from the index).
    With ``repo`` (``OWNER/REPO/TAG``), the asset ``NAME_vVERSION.zip`` of that release; ``spec`` must be
    an exact version then.
    """
    if repo is None:
        from bundle.registry.sources import index as index_source

        return index_source.get(cache, name, spec, index=index, kinds=("github",), progress=progress)
    parts = str(repo).strip("/").split("/")
    if len(parts) != 3 or not all(parts):
        raise ZooError(f"--repo '{repo}' is not OWNER/REPO/TAG", hint="e.g. --repo Project-MONAI/model-zoo/hosting_storage_v1")
    if not spec or not spec[:1].isdigit():
        raise ZooError(f"a GitHub release asset needs an exact version, not '{spec or 'latest'}'",
                       hint="add --version 0.1.0 (the asset is NAME_vVERSION.zip)")
    owner, project, tag = parts
    mirror = asset_mirror(f"{owner}/{project}", tag, f"{name}_v{spec}.zip")
    from bundle.registry.sources.url import archive_by_url

    return archive_by_url(cache, name, spec, mirror, sha256=sha256, progress=progress,
                          origin=f"github:{repo}")
