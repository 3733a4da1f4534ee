"""The ``hf`` source: Hugging Face, through huggingface_hub (so ``HF_ENDPOINT``, ``HF_TOKEN`` and
``HF_HUB_OFFLINE`` apply).

``--repo OWNER/NAME`` downloads a repository that holds the bundle's files (MONAI's layout on the
Hub) at a revision (the version, a tag, a branch or a commit; default ``main``); without ``--repo`` the
index's Hugging Face mirror of the version is used and checked against the index's sha256.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from bundle import settings
from bundle.errors import ZooError
from bundle.registry.sources.mirrors import hub_module

log = logging.getLogger(__name__)


def offline() -> bool:
    """``BUNDLE_OFFLINE`` or huggingface_hub's ``HF_HUB_OFFLINE``."""
    return settings.offline() or settings.hf_hub_offline()


def get(cache, name: str, spec: str | None, *, repo: str | None = None, index: str | None = None,
        progress: bool | None = None, **_: object) -> Path:
    """The cached folder of a bundle from the Hugging Face Hub."""
    if repo is None:
        from bundle.registry.sources import index as index_source

        return index_source.get(cache, name, spec, index=index, kinds=("hf",), progress=progress)
    exact = spec if spec and not any(c in spec for c in "<>,*^~") else None
    if exact:
        found = cache.find_tree(name, exact.lstrip("="))
        if found is not None:
            return found
    if offline():
        raise ZooError(f"{name}@{exact or 'latest'} from hf:{repo} is not in the cache and offline mode is on",
                       hint="download it once on a connected machine (unset HF_HUB_OFFLINE / BUNDLE_OFFLINE)")
    staged, commit = snapshot(cache, str(repo), exact or "main")
    try:
        version = exact or _metadata_version(staged) or commit[:12]
        return cache.add_tree(name, version, staged, origin=f"hf:{repo}@{commit}")
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def snapshot(cache, repo: str, revision: str) -> tuple[Path, str]:
    """Download every file of ``repo`` at ``revision`` into a staging folder of the cache.

    Returns:
        (the folder, the commit it came from).

    Raises:
        ZooError: the repository or revision does not exist, or the Hub cannot be reached.
    """
    hub = hub_module()
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    staging = Path(cache.root) / "tmp" / f"hf-{repo.replace('/', '--')}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        info = hub.HfApi(endpoint=settings.hf_endpoint(), token=settings.hf_token()).model_info(repo, revision=revision)
        hub.snapshot_download(repo_id=repo, revision=info.sha or revision, local_dir=str(staging),
                              endpoint=settings.hf_endpoint(), token=settings.hf_token())
    except RevisionNotFoundError:
        shutil.rmtree(staging, ignore_errors=True)
        raise ZooError(f"hf:{repo} has no revision '{revision}'",
                       hint="pass --version with one of the repository's tags or branches") from None
    except RepositoryNotFoundError:
        shutil.rmtree(staging, ignore_errors=True)
        raise ZooError(f"hf:{repo} does not exist (or needs a token: set HF_TOKEN)") from None
    except (HfHubHTTPError, OSError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise ZooError(f"downloading hf:{repo}@{revision} failed: {str(err).splitlines()[0]}",
                       hint="check HF_ENDPOINT and your connection; HF_HUB_OFFLINE=1 uses what is cached") from None
    shutil.rmtree(staging / ".cache", ignore_errors=True)  # huggingface_hub's own bookkeeping
    return staging, info.sha or revision


def _metadata_version(folder: Path) -> str | None:
    meta = folder / "configs" / "metadata.json"
    try:
        version = json.loads(meta.read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return str(version) if version else None

