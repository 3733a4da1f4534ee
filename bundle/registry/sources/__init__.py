"""Where bundles come from. Each source is one small module, found through ``SOURCES`` and imported only
when used:

- ``index``: the zoo index (sha256 known; mirrors tried in order: URLs, GitHub release assets, Hugging Face files);
- ``url``: an archive at a URL (``--sha256`` checks it; without one the first download's hash is pinned);
- ``github``: a GitHub release asset, ``--repo OWNER/REPO/TAG`` (MONAI's form) or the index's GitHub mirror;
- ``hf``: a Hugging Face repo holding the bundle's files (``--repo OWNER/NAME``, revision = version), or
  the index's Hugging Face mirror;
- ``monai``: MONAI's model zoo (``model_info.json``), large files from ``large_files.yml`` included.

Every source returns the bundle's folder inside the cache, verified.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from bundle.errors import ZooError, did_you_mean

__all__ = ["Mirror", "SOURCES", "MONAI_SOURCE_NAMES", "source_function"]

SOURCES: dict[str, str] = {
    "index": "bundle.registry.sources.index:get",
    "url": "bundle.registry.sources.url:get",
    "github": "bundle.registry.sources.github:get",
    "hf": "bundle.registry.sources.hf:get",
    "monai": "bundle.registry.sources.monai:get",
}

#: MONAI's ``--source`` names -> ours (``monaihosting`` is MONAI's zoo; NGC is not served).
MONAI_SOURCE_NAMES = {"huggingface_hub": "hf", "monaihosting": "monai", "model_zoo": "monai"}


@dataclass(frozen=True)
class Mirror:
    """One place to download an archive from, with the headers it needs (tokens)."""

    url: str
    headers: dict = field(default_factory=dict)
    kind: str = "url"


def source_function(name: str) -> Callable:
    """The ``get`` function of source ``name`` (ours or MONAI's name for it).

    Raises:
        ZooError: no such source.
    """
    key = MONAI_SOURCE_NAMES.get(name, name)
    if key not in SOURCES:
        if name in ("ngc", "ngc_private"):
            raise ZooError(f"source '{name}' (NVIDIA NGC) is not supported",
                           hint="MONAI's bundles are on Hugging Face now: use --source monai or --source hf")
        raise ZooError(f"unknown source '{name}'", hint=did_you_mean(name, [*SOURCES, *MONAI_SOURCE_NAMES])
                       or f"use one of {', '.join(SOURCES)}")
    module, func = SOURCES[key].split(":")
    return getattr(importlib.import_module(module), func)
