"""The embedding API: ``bundle.load`` turns a bundle (a folder, or a zoo name fetched through the
verified cache) into a ready network with its weights, an exported model, or a workflow.

A bundle is someone else's code. ``load`` follows the one trust rule (``bundle.trust``): a zoo
name (anything downloaded into the cache) is built in safe mode unless ``trusted=True``: only
``_target_`` classes of the component libraries (torch.nn, bundle.components, monai.networks, ...)
are built, no expression imports anything new, and the bundle's ``scripts/`` are not importable. A
folder you point at is yours: trusted unless ``trusted=False``.

Example:
    >>> import bundle
    >>> net = bundle.load("ellipsoid_segmentation", version="^0.1")       # from the zoo, verified
    >>> net = bundle.load("zoo/ellipsoid_segmentation", device="cuda")   # a local folder
    >>> session = bundle.load("zoo/ellipsoid_segmentation", format="onnx")  # models/model.onnx
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from bundle.errors import FormatError, Location, ZooError, did_you_mean

__all__ = ["load", "locate"]

FORMATS = ("pytorch", "torchscript", "onnx")
_DEFAULT_FILES = {"pytorch": "model.pt", "torchscript": "model.ts", "onnx": "model.onnx"}


def locate(name_or_path: str | os.PathLike, version: str | None = None, *, source: str = "index",
           index: str | None = None, lock: str | os.PathLike | None = None) -> Path:
    """The folder of a bundle: ``name_or_path`` itself when it is a folder, else the zoo bundle
    ``NAME[@SPEC]`` (``version`` also takes a spec) from the cache, downloaded and verified if needed;
    with ``lock``, exactly the version that lock file pins.

    Raises:
        ZooError: unknown bundle or version, download failure, not in the lock, or offline and not cached.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir() or os.sep in text or "/" in text or text.startswith("."):
        if not path.is_dir():
            from bundle.format.bundle import folder_error

            err = folder_error(path)
            if not path.exists() and not err.hint.startswith("did you mean"):
                err.hint = "give a bundle folder, or a zoo name such as ellipsoid_segmentation@^0.1"
            raise err
        return path
    if lock is not None:
        from bundle.registry.lock import locked_bundle, read_lock

        pinned = read_lock(lock)["bundles"]
        if text not in pinned:
            raise ZooError(f"'{text}' is not in the lock file '{lock}'",
                           hint=did_you_mean(text, pinned) or "declare it in bundles.yaml and run 'bundle lock'")
        if version is not None and version != pinned[text]["version"]:
            raise ZooError(f"{text}@{version} was asked for, but '{lock}' pins {pinned[text]['version']}",
                           hint="drop version= to use the lock, or lock again")
        return locked_bundle(text, pinned[text], progress=False)
    from bundle.registry.download import download

    return download(text, version=version, source=source, index=index, progress=False)


def load(
    name_or_path: str | os.PathLike,
    version: str | None = None,
    config: str = "inference",
    *,
    workflow: bool = False,
    format: str = "pytorch",
    net_id: str = "network_def",
    weights: str | None = None,
    key_in_ckpt: str | None = None,
    device: Any = None,
    trusted: bool | None = None,
    overrides: Mapping[str, Any] | None = None,
    source: str = "index",
    index: str | None = None,
    lock: str | os.PathLike | None = None,
) -> Any:
    """Load a bundle's network with its weights (or its exported model, or its workflow).

    Args:
        name_or_path: a bundle folder, or a zoo name (``NAME`` or ``NAME@SPEC``).
        version: a version or range for a zoo name (``1.2.0``, ``^1.2``); default the latest.
        config: the config that defines the network (or the workflow to build).
        workflow: return the config's workflow, initialized (call ``.run()``), instead of the network.
        format: ``pytorch`` (the config's network with ``models/model.pt``), ``torchscript``
            (``models/model.ts`` through ``torch.jit.load``) or ``onnx`` (an onnxruntime
            ``InferenceSession`` of ``models/model.onnx``).
        net_id: the network's config id.
        weights: the file under ``models/`` to load (default by format: model.pt, model.ts, model.onnx).
        key_in_ckpt: the key holding the state dict in a nested checkpoint.
        device: where the network goes (default CPU); for onnx, ``"cuda"`` asks for the CUDA provider.
        trusted: True builds with the bundle's own code and any ``_target_``/import (only for bundles you
            trust), False in safe mode; None (default): safe for a zoo name, trusted for a folder.
        overrides: config overrides ``{id: value}``.
        source, index: where a zoo name is downloaded from (see ``bundle download``).
        lock: a lock file (``bundle lock``): load exactly the version it pins, verified.

    Returns:
        A ``torch.nn.Module`` in eval mode (pytorch, torchscript), an ``onnxruntime.InferenceSession``
        (onnx), or an initialized workflow (``workflow=True``).

    Raises:
        FormatError: the folder, config or weights file is missing, or the weights do not fit.
        UnsafeConfigError: safe mode refused something (the message names it; ``trusted=True`` if you trust it).
        ZooError: a zoo name cannot be found or downloaded.
    """
    if format not in FORMATS:
        raise FormatError(f"unknown format '{format}'", hint=did_you_mean(format, FORMATS) or f"use one of {', '.join(FORMATS)}")
    root = locate(name_or_path, version, source=source, index=index, lock=lock)
    from bundle.format.bundle import Bundle

    bundle = Bundle(root, trusted=trusted)
    if workflow:
        return _workflow(bundle, config, trusted=bundle.trusted, overrides=overrides)
    file = weights or _DEFAULT_FILES[format]
    if format == "torchscript":
        return _torchscript(bundle.weights_path(file), device)
    if format == "onnx":
        return _onnx(bundle.weights_path(file), device)
    return bundle.build_network(config, net_id=net_id, weights=file, key=key_in_ckpt, device=device,
                                overrides=overrides)


def _torchscript(path: Path, device: Any) -> Any:
    import torch

    if not path.is_file():
        raise FormatError(f"'{path}' does not exist", location=Location(str(path)),
                          hint=f"export it first: python -m bundle export {path.parents[1]} --format torchscript")
    try:
        module = torch.jit.load(str(path), map_location=device or "cpu")
    except RuntimeError as err:
        raise FormatError(f"'{path}' is not a TorchScript file torch {torch.__version__} can load: {str(err).splitlines()[0]}",
                          location=Location(str(path))) from None
    return module.eval()


def _onnx(path: Path, device: Any) -> Any:
    if not path.is_file():
        raise FormatError(f"'{path}' does not exist", location=Location(str(path)),
                          hint=f"export it first: python -m bundle export {path.parents[1]} --format onnx")
    try:
        import onnxruntime
    except ImportError:
        from bundle.errors import MissingDependencyError

        raise MissingDependencyError("onnxruntime", extra="onnx", purpose="loading ONNX exports") from None
    providers = ["CPUExecutionProvider"]
    if device is not None and str(device).startswith("cuda"):
        providers.insert(0, "CUDAExecutionProvider")
    return onnxruntime.InferenceSession(str(path), providers=providers)


def _workflow(bundle: Any, config: str, *, trusted: bool, overrides: Mapping[str, Any] | None) -> Any:
    from bundle.workflows.create import create_workflow

    return create_workflow(
        config_file=str(bundle.config_path(config)), meta_file=str(bundle.metadata_path), trusted=trusted,
        bundle_root=str(bundle.root), **dict(overrides or {}),
    )
