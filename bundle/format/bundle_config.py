"""``load_bundle_config`` (MONAI's name): a bundle's metadata and configs, read from a folder, a zip of
a bundle folder or a TorchScript export's ``extra/`` files, into a ``ConfigParser`` without building
anything."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from bundle.errors import BundleFileNotFoundError, FormatError, Location

__all__ = ["load_bundle_config"]

_METADATA = "metadata.json"


def load_bundle_config(bundle_path: str | os.PathLike, *config_names: str, **load_kw_args: Any) -> Any:
    """The metadata (as ``_meta_``) and the named configs of a bundle, merged in order, unresolved.

    Nothing is built or evaluated. The parser follows the trust rule (``bundle.trust``): one read
    from the download cache is in safe mode when it is resolved later.

    Args:
        bundle_path: a bundle folder, a zip holding one (``NAME/configs/...``), or a TorchScript
            file whose extra files hold the configs (``NAME/extra/metadata.json``, as ``ckpt_export``
            writes them).
        config_names: file names under ``configs/`` (or ``extra/``), with their suffix: ``"inference.json"``.
        load_kw_args: passed to ``ConfigParser.read_meta``/``read_config`` for a folder.

    Returns:
        A ``ConfigParser``.

    Raises:
        BundleFileNotFoundError: ``bundle_path``, its metadata or a named config does not exist.
        FormatError: a zip that holds no bundle.

    Example:
        >>> parser = load_bundle_config("zoo/ellipsoid_segmentation", "inference.json")
        >>> parser["_meta_::version"], parser["network_def::_target_"]
        ('0.1.1', 'bundle.components.networks.CompactUNet')
    """
    from bundle.config.parser import ConfigParser
    from bundle.trust import default_trusted

    path = Path(bundle_path)
    if not path.exists():
        raise BundleFileNotFoundError(f"'{bundle_path}' does not exist",
                                      hint="give a bundle folder, a zip of one, or a TorchScript export")
    parser = ConfigParser(trusted=default_trusted(path))
    if path.is_dir():
        files = [path / "configs" / name for name in config_names]
        for file in [path / "configs" / _METADATA, *files]:
            if not file.is_file():
                raise BundleFileNotFoundError(f"'{file}' does not exist", location=Location(str(file)))
        parser.read_meta(f=str(path / "configs" / _METADATA), **load_kw_args)
        parser.read_config(f=[str(f) for f in files], **load_kw_args)
        return parser
    from bundle.config.expand import merge_file_data
    from bundle.config.sources import Sources

    meta, configs = _read_archive(path, config_names)
    parser.read_meta(f=meta)
    merged: dict = {}
    for member, data in configs:
        merge_file_data(merged, data, member, Sources())  # later configs override, "+key" merges
    parser.read_config(f=merged)
    return parser


def _read_archive(path: Path, config_names: tuple[str, ...]) -> tuple[dict, list[tuple[str, Any]]]:
    """The metadata and configs of a zipped bundle or a TorchScript file, found under any top folder."""
    from bundle.config.loader import load_text

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            folder = _config_folder(names)
            if folder is None:
                raise FormatError(f"'{path}' holds no bundle: no NAME/configs/metadata.json or NAME/extra/metadata.json",
                                  location=Location(str(path)))
            wanted = [f"{folder}/{name}" for name in (_METADATA, *config_names)]
            for member in wanted:
                if member not in names:
                    raise BundleFileNotFoundError(f"'{path}' has no '{member}'", location=Location(str(path)))
            texts = [archive.read(member).decode("utf-8") for member in wanted]
    except zipfile.BadZipFile:
        raise FormatError(f"'{path}' is neither a bundle folder nor a zip or TorchScript file",
                          location=Location(str(path))) from None
    meta = json.loads(texts[0])
    configs = [(f"{path}:{member}", load_text(text, f"{path}:{member}", yaml_syntax=not member.lower().endswith(".json")))
               for member, text in zip(wanted[1:], texts[1:])]
    return meta, configs


def _config_folder(names: list[str]) -> str | None:
    """``TOP/configs`` of a zipped bundle, else ``TOP/extra`` of a TorchScript file."""
    for kind in ("configs", "extra"):
        for name in names:
            parts = PurePosixPath(name).parts
            if len(parts) == 3 and parts[1:] == (kind, _METADATA):
                return f"{parts[0]}/{kind}"
    return None
