"""Where an archive downloads from on GitHub (a release asset) and on the Hugging Face Hub (a file of a
repository), with the token each host needs: the ``index`` source builds its mirrors here, and so do the
``github`` and ``hf`` sources for MONAI's ``--repo`` forms."""

from __future__ import annotations

from typing import Any

from bundle import settings
from bundle.errors import MissingDependencyError
from bundle.registry.sources import Mirror

__all__ = ["asset_mirror", "file_mirror", "hub_module"]


def asset_mirror(repo: str, tag: str, asset: str) -> Mirror:
    """Where a release asset downloads from (with the token, when one is set)."""
    token = settings.github_token()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/octet-stream"} if token else {}
    return Mirror(f"{settings.github_url()}/{repo}/releases/download/{tag}/{asset}", headers, kind="github")


def file_mirror(repo: str, revision: str, filename: str) -> Mirror:
    """Where one file of a Hub repository downloads from, with the token when one is set."""
    hub = hub_module()
    url = hub.hf_hub_url(repo, filename, revision=revision, endpoint=settings.hf_endpoint())
    return Mirror(url, dict(hub.utils.build_hf_headers(token=settings.hf_token())), kind="hf")


def hub_module() -> Any:
    """``huggingface_hub`` (imported on first use: it is slow to import)."""
    try:
        import huggingface_hub
        import huggingface_hub.utils
    except ImportError:  # a dependency of the package; only a broken install lacks it
        raise MissingDependencyError("huggingface_hub", purpose="Hugging Face downloads") from None
    return huggingface_hub
