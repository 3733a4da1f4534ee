"""Where a run's outputs go: a zoo bundle (the checkout's ``zoo/`` or the download cache) writes into a
user folder, not into itself; a user's own bundle folder writes where its config says.

Outputs are the config ids ``output_dir`` (predictions, metrics) and ``log_dir`` (logs), the names the
zoo's and MONAI's bundles use; ``log_dir`` goes to ``OUTPUT_DIR/logs``. Checkpoints (``ckpt_dir``) are
also read by inference, so they stay where the config says (``--ckpt_dir`` moves them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from bundle import settings

__all__ = ["default_output_dir", "is_zoo_bundle", "output_overrides", "OUTPUT_IDS"]

OUTPUT_IDS = ("output_dir", "log_dir")


def default_output_dir(name: str) -> Path:
    """``$BUNDLE_OUTPUT_DIR/NAME``, else ``<user data folder>/bundle/outputs/NAME``
    (``~/.local/share/bundle/outputs/NAME`` on Linux)."""
    return settings.output_root() / name


def is_zoo_bundle(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a bundle of the shipped zoo (``zoo/NAME``) or in the download cache."""
    from bundle.registry.index import packaged_zoo

    path = Path(folder).resolve()
    zoo = packaged_zoo()
    places = [settings.cache_root().resolve()] + ([zoo.resolve()] if zoo is not None else [])
    return any(path.is_relative_to(place) for place in places)


def output_overrides(folder: str | os.PathLike | None, has_id, given: Mapping[str, Any],
                     output_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """The config overrides that send a run's outputs to ``output_dir`` (or a zoo bundle's default).

    Args:
        folder: the bundle folder (None: MONAI's ``--config_file`` form, only ``output_dir`` applies).
        has_id: ``has_id(id)``: whether the merged config defines the id.
        given: the overrides the user gave (an id set there is left to them).
        output_dir: ``--output_dir``; None: the default for a zoo bundle, nothing for other folders.
    """
    if output_dir is None:
        if folder is None or not is_zoo_bundle(folder):
            return {}
        output_dir = default_output_dir(Path(folder).resolve().name)
    out = Path(output_dir).expanduser().absolute()
    targets = {"output_dir": out, "log_dir": out / "logs"}
    return {key: str(path) for key, path in targets.items() if key not in given and has_id(key)}
