"""Which config files a bundle folder's named configs are: ``zoo/NAME`` + ``inference`` ->
``zoo/NAME/configs/inference.json``; a config that extends another (``evaluate`` on ``train``)
loaded after its base; and under ``torchrun`` the bundle's ``multi_gpu_<name>`` layered on top."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping, Sequence

from bundle.errors import BundleFileNotFoundError, FormatError
from bundle.format.bundle import CONFIG_SUFFIXES, config_names, find_config

__all__ = [
    "CONFIG_SUFFIXES", "MULTI_PROCESS_PREFIX", "config_names", "find_config", "bundle_config_files", "world_size",
]  # fmt: skip

logger = logging.getLogger(__name__)

MULTI_PROCESS_PREFIX = "multi_gpu_"


def world_size(environ: Mapping[str, str] | None = None) -> int:
    """The number of processes ``torchrun`` started (``WORLD_SIZE``), 1 outside ``torchrun``."""
    value = (os.environ if environ is None else environ).get("WORLD_SIZE", "1")
    try:
        return max(int(value), 1)
    except ValueError:
        return 1


def bundle_config_files(bundle_dir: str | os.PathLike, names: Sequence[str], *, processes: int = 1) -> list[str]:
    """The config files to merge for ``names`` of a bundle folder, in order.

    A config that extends another (a *layer*: it sets nested ids such as ``validate::dataset::split``
    whose top-level id it does not define, as MONAI's ``evaluate.json`` does on ``train.json``) is
    preceded by its base when the base is not named before it: ``X`` for ``multi_gpu_X`` and
    ``X_suffix`` (``inference_trt`` on ``inference``), else ``train``. So ``evaluate`` alone runs
    as MONAI users write ``--config_file "['configs/train.json','configs/evaluate.json']"``.

    With more than one process (``torchrun``), each config ``<name>`` is followed by the bundle's
    ``multi_gpu_<name>`` config when there is one (and it is not named already), as MONAI users
    write ``--config_file "['configs/train.json','configs/multi_gpu_train.json']"`` by hand.

    Args:
        bundle_dir: the bundle folder (holding ``configs/``).
        names: config names (``train``) or file names (``train.yaml``), merged in order.
        processes: the number of processes (``world_size()``).

    Raises:
        BundleFileNotFoundError: the folder or a config does not exist (with the configs there).
        FormatError: the folder is not a bundle, or no config is named.

    Example:
        >>> bundle_config_files("zoo/digits_classification", ["train"], processes=2)
        ['zoo/digits_classification/configs/train.json', 'zoo/digits_classification/configs/multi_gpu_train.json']
        >>> bundle_config_files("zoo/digits_classification", ["evaluate"])
        ['zoo/digits_classification/configs/train.json', 'zoo/digits_classification/configs/evaluate.json']
    """
    folder = Path(bundle_dir)
    if not folder.is_dir():
        from bundle.format.bundle import folder_error

        raise folder_error(bundle_dir)
    if not (folder / "configs").is_dir():
        raise FormatError(
            f"'{bundle_dir}' is not a bundle: it has no configs/ folder", hint="give the bundle's top folder"
        )
    if not names:
        there = config_names(folder)
        raise FormatError(
            f"no config named to run in bundle '{bundle_dir}'",
            hint=f"name one or more after the folder, e.g. '{there[0]}'; configs there: {', '.join(there)}"
            if there else "the bundle has no configs",
        )
    files: list[Path] = []
    for name in names:
        found = find_config(folder, name)
        for base in _bases(folder, found):
            if base not in files:
                logger.info("'%s' extends '%s': loading that first", found, base)
                files.append(base)
        files.append(found)
    if processes > 1:
        layered: list[Path] = []
        for f in files:
            layered.append(f)
            if f.stem.startswith(MULTI_PROCESS_PREFIX):
                continue
            extra = _multi_process_config(folder, f.stem)
            if extra is not None and extra not in files:
                logger.info("%d processes: layering '%s' on top of '%s'", processes, extra, f)
                layered.append(extra)
        files = layered
    return [str(f) for f in files]


def _layer_roots(path: Path) -> set[str]:
    """Top-level ids that the nested-id keys of a config file set but the file does not define."""
    from bundle.config.loader import load_file
    from bundle.config.syntax import MERGE, split_id

    data = load_file(path)
    if not isinstance(data, dict):
        return set()
    roots = {split_id(str(k).lstrip(MERGE))[0] for k in data if len(split_id(str(k).lstrip(MERGE))) > 1}
    return roots - {str(k).lstrip(MERGE) for k in data}


def _bases(folder: Path, path: Path, seen: tuple[Path, ...] = ()) -> list[Path]:
    """The configs ``path`` extends, deepest first (empty unless it is a layer)."""
    if not _layer_roots(path):
        return []
    stem = path.stem
    names = [stem[len(MULTI_PROCESS_PREFIX):]] if stem.startswith(MULTI_PROCESS_PREFIX) else []
    parts = stem.split("_")
    names += ["_".join(parts[:k]) for k in range(len(parts) - 1, 0, -1)] + ["train"]
    for name in dict.fromkeys(names):
        if not name or name == stem:
            continue
        try:
            base = find_config(folder, name)
        except BundleFileNotFoundError:
            continue
        if base == path or base in seen:
            return []
        return _bases(folder, base, (*seen, path)) + [base]
    return []


def _multi_process_config(folder: Path, stem: str) -> Path | None:
    try:
        return find_config(folder, MULTI_PROCESS_PREFIX + stem)
    except BundleFileNotFoundError:
        return None
