"""MONAI's registry functions with MONAI's signatures, on our registry: ``download`` (arguments in
MONAI's order), ``download_large_files``, ``load`` (a zoo bundle's network, weights or TorchScript module, downloaded into
``bundle_dir`` when missing) and ``push_to_hf_hub`` (as a Hub pull request).

``bundle.load`` is our own embedding API (``bundle.registry.load``); this ``load`` is the one
``monai.bundle.load`` callers get from ``bundle.scripts``.

Trust: ``load`` takes a zoo name, so the network is built from the bundle's config in safe mode (only
component libraries' classes, no new imports, no ``scripts/``) unless ``trusted=True``, whether the
bundle was downloaded now or lies in ``bundle_dir`` from before (MONAI runs the config's code).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

from bundle import settings
from bundle.errors import FormatError, Location, NetworkBuildError, ZooError

__all__ = ["download", "download_large_files", "load", "push_to_hf_hub"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def download(
    name: str | None = None,
    version: str | None = None,
    bundle_dir: PathLike | None = None,
    source: str | None = None,
    repo: str | None = None,
    url: str | None = None,
    remove_prefix: str | None = "monai_",
    progress: bool = True,
    args_file: PathLike | None = None,
    *,
    sha256: str | None = None,
    index: str | None = None,
) -> Path:
    """Download a bundle, verified, into the cache and, given ``bundle_dir``, to ``bundle_dir/NAME``
    (MONAI's ``download``, arguments in its order).

    Args:
        name, version, bundle_dir, source, repo, url, args_file: as for ``bundle.registry.download.download``
            (``source`` None: ``BUNDLE_DOWNLOAD_SOURCE``/``BUNDLE_DOWNLOAD_SRC``, else our index;
            MONAI's ``monaihosting`` and ``huggingface_hub`` are accepted).
        remove_prefix: MONAI's NGC option; NGC is not a source here, so it has no effect.
        progress: progress bars on a terminal.
        sha256, index: ours: the archive's expected sha256, other indexes.

    Returns:
        The bundle folder (MONAI returns None).

    Raises:
        ZooError: see ``bundle.registry.download.download``.
    """
    from bundle.registry.download import download as fetch_bundle

    return fetch_bundle(name, version, source=source, bundle_dir=bundle_dir, repo=repo, url=url, sha256=sha256,
                        index=index, progress=progress, args_file=args_file)


def download_large_files(bundle_path: PathLike | None = None, large_file_name: str | None = None) -> list[Path]:
    """Fetch the files the bundle's ``large_files.yml|yaml|json`` lists, each checked against its hash
    before it is put in place (MONAI's ``download_large_files``).

    Args:
        bundle_path: the bundle folder (default the current one).
        large_file_name: the manifest's file name; it must be the one the bundle has (a bundle has one).

    Returns:
        The files downloaded (those already there and matching are skipped).

    Raises:
        BundleFileNotFoundError: the bundle has no manifest, or not ``large_file_name``.
        FormatError, IntegrityError, DownloadError: see ``bundle.registry.large_files.fetch_large_files``.
    """
    from bundle.registry.large_files import fetch_large_files, require_manifest

    root = Path(os.getcwd() if bundle_path is None else bundle_path).expanduser()
    require_manifest(root, large_file_name)
    return fetch_large_files(root)


def load(
    name: str,
    model: Any = None,
    version: str | None = None,
    workflow_type: str = "train",
    model_file: str | None = None,
    load_ts_module: bool = False,
    bundle_dir: PathLike | None = None,
    source: str | None = None,
    repo: str | None = None,
    remove_prefix: str | None = "monai_",
    progress: bool = True,
    device: Any = None,
    key_in_ckpt: str | None = None,
    config_files: Sequence[str] = (),
    workflow_name: Any = None,
    args_file: PathLike | None = None,
    copy_model_args: Mapping[str, Any] | None = None,
    net_override: Mapping[str, Any] | None = None,
    *,
    trusted: bool | None = None,
) -> Any:
    """A zoo bundle's network with its weights (MONAI's ``load``, same arguments and meaning).

    The bundle is ``bundle_dir/NAME`` when it holds ``model_file``, else it is downloaded (verified) into
    ``bundle_dir/NAME``, or only into our cache when ``bundle_dir`` is None. Weights are read with
    ``torch.load(weights_only=True)``.

    Args:
        name: the bundle's name in the zoo.
        model: a network to load the weights into; None builds ``network_def`` of ``configs/{workflow_type}.json``.
        version: the version (default the latest).
        workflow_type: the config that defines the network: ``"train"`` reads ``configs/train.json``.
        model_file: the weights (or TorchScript) file in the bundle (default ``models/model.pt``, or
            ``models/model.ts`` with ``load_ts_module``).
        load_ts_module: return ``(module, metadata, extra_files)`` of the TorchScript file instead.
        bundle_dir: the folder that holds (or gets) ``NAME/``; None: our cache.
        source, repo, remove_prefix, progress, args_file: as for ``download``.
        device: where the network goes (default ``cuda:0`` when there is CUDA, else the CPU).
        key_in_ckpt: the key of the state dict in a nested checkpoint.
        config_files: extra files of the TorchScript file to return (``load_ts_module``).
        workflow_name: a workflow class (or its name) whose ``network_def`` is the network; None builds
            ``network_def`` alone (the config's other ids, ``initialize`` included, are not run).
        copy_model_args: arguments of MONAI's ``copy_model_state``, which then copies the weights (the
            ``monai`` extra); without them the weights must fit the network exactly.
        net_override: ``{arg: value}`` overrides of ``network_def``'s arguments.
        trusted: ours: True builds the network with the bundle's own code and any import; None and
            False build it in safe mode.

    Returns:
        The network (in training mode, as built), the state dict when the bundle has no
        ``configs/{workflow_type}.json`` or it has no ``network_def`` (with a warning), or with
        ``load_ts_module`` the triple ``(module, metadata dict, {name: content} of config_files)``.

    Raises:
        ZooError: the bundle cannot be downloaded.
        FormatError: the bundle has no ``model_file``; the weights cannot be loaded safely.
        NetworkBuildError: the weights do not fit the network (keys listed).
        UnsafeConfigError: safe mode refused something in the network's config (``trusted=True`` if you trust it).

    Example:
        >>> net = load("ellipsoid_segmentation", bundle_dir="models", device="cpu")
    """
    import torch

    device = torch.device(device if device is not None else ("cuda:0" if torch.cuda.is_available() else "cpu"))
    model_file = model_file or os.path.join("models", "model.ts" if load_ts_module else "model.pt")
    folder = _local_bundle(name, bundle_dir, model_file)
    if folder is None:
        folder = download(name, version, bundle_dir, source, repo, url=None, remove_prefix=remove_prefix,
                          progress=progress, args_file=args_file)
    path = folder / model_file
    if not path.is_file():
        raise FormatError(f"bundle '{name}' has no '{model_file}'", location=Location(str(path)),
                          hint="export it first (python -m bundle ckpt_export ...)" if load_ts_module else "")
    if load_ts_module:
        return _torchscript(path, device, config_files)
    from bundle.format.weights import load_state_dict

    state = load_state_dict(path, map_location=device, key=key_in_ckpt)
    if model is None:
        model = _network(folder, workflow_type, workflow_name, net_override, trusted, args_file)
        if model is None:
            return state
    model.to(device)
    if copy_model_args is not None:
        _copy_model_state(model, state, copy_model_args)
    else:
        from bundle.format.weights import fit_weights

        fit = fit_weights(model, state)
        if not fit.ok:
            raise NetworkBuildError(f"the weights do not fit the network: {fit.describe()}",
                                    location=Location(str(path)), config_id="network_def", hint=fit.hint())
    return model


def _local_bundle(name: str, bundle_dir: PathLike | None, model_file: str) -> Path | None:
    """``bundle_dir/NAME`` when it holds ``model_file`` already (MONAI's test for downloading)."""
    if bundle_dir is None:
        return None
    folder = Path(bundle_dir).expanduser() / name
    return folder if (folder / model_file).is_file() else None


def _torchscript(path: Path, device: Any, config_files: Sequence[str]) -> tuple[Any, dict, dict]:
    import json

    import torch

    extra = dict.fromkeys(config_files, "")
    extra["metadata.json"] = ""
    try:
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except RuntimeError as err:
        raise FormatError(f"'{path}' is not a TorchScript file torch {torch.__version__} can load: "
                          f"{str(err).splitlines()[0]}", location=Location(str(path))) from None
    extra = dict(extra.items())
    metadata = extra.pop("metadata.json", "") or "{}"
    return module, json.loads(metadata), extra


def _network(folder: Path, workflow_type: str, workflow_name: Any, net_override: Mapping[str, Any] | None,
             trusted: bool | None, args_file: PathLike | None) -> Any:
    """``network_def`` of ``configs/{workflow_type}.json``, or None (with a warning) when there is none."""
    config_file = folder / "configs" / f"{workflow_type}.json"
    if not config_file.is_file():
        warnings.warn(f"'{config_file}' does not exist: returning the state dict", stacklevel=3)
        return None
    trusted = bool(trusted)
    overrides = {f"network_def::{key}": value for key, value in (net_override or {}).items()}
    if workflow_name is not None:
        from bundle.workflows.create import make_workflow

        workflow = make_workflow(workflow_name, args_file, config_file=str(config_file), workflow_type=workflow_type,
                                 trusted=trusted, **overrides)
        workflow.initialize()
        network = getattr(workflow, "network_def", None)
        if network is None:
            warnings.warn(f"workflow {type(workflow).__qualname__} has no network_def: returning the state dict",
                          stacklevel=3)
        return network
    from bundle.format.network import load_network_config, network_from_config

    meta = folder / "configs" / "metadata.json"
    config = load_network_config([config_file], root=folder, meta=meta, overrides=overrides, trusted=trusted)
    if "network_def" not in config:
        warnings.warn(f"'{config_file}' defines no network_def: returning the state dict", stacklevel=3)
        return None
    return network_from_config(config, root=folder, trusted=trusted, where=f"'{config_file}'").train()


def _copy_model_state(model: Any, state: dict, copy_model_args: Mapping[str, Any]) -> None:
    try:
        from monai.networks.utils import copy_model_state
    except ImportError:
        from bundle.errors import MissingDependencyError

        raise MissingDependencyError("monai", extra="monai", purpose="load(copy_model_args=...)") from None
    copy_model_state(dst=model, src=state, **dict(copy_model_args))


def push_to_hf_hub(
    repo: str,
    name: str,
    bundle_dir: PathLike,
    token: str | None = None,
    private: bool | None = True,
    version: str | None = None,
    tag_as_latest_version: bool | None = False,
    **upload_folder_kwargs: Any,
) -> str:
    """Publish the bundle ``bundle_dir/NAME`` to the Hugging Face repository ``repo`` as a pull request
    (MONAI's ``push_to_hf_hub``; MONAI pushes to ``main`` and tags it).

    The bundle is checked first (``bundle publish``'s checks): when it fails, nothing is created or
    uploaded.
    Tags are made by whoever merges the pull request: ``vVERSION`` (the version our index and
    ``download --source hf --version`` name).

    Args:
        repo: ``OWNER/NAME`` on the Hub.
        name: the bundle's folder name under ``bundle_dir``.
        bundle_dir: the folder that holds the bundle.
        token: a token with write access (default ``HF_TOKEN``).
        private: a repository that does not exist yet is created private (True) or public.
        version: when given, it must be the bundle's version (``configs/metadata.json``).
        tag_as_latest_version: MONAI tags ``latest_version``; here the merger tags, so a warning says so.
        upload_folder_kwargs: MONAI's ``HfApi.upload_folder`` arguments: not taken (a pull request
            holds exactly the bundle's published files).

    Returns:
        The pull request's URL (MONAI: the commit's URL).

    Raises:
        ZooError: a ``version`` that is not the bundle's, ``upload_folder_kwargs`` given, no token,
            or the Hub refused.
        VerificationError: the bundle fails a check (every problem listed).
    """
    from bundle.format.bundle import Bundle
    from bundle.registry.hub import publish_to_hub

    if upload_folder_kwargs:
        raise ZooError(f"push_to_hf_hub does not take upload_folder arguments ({', '.join(sorted(upload_folder_kwargs))})",
                       hint="the pull request holds the bundle's published files; leave them out")
    folder = Path(bundle_dir).expanduser() / name
    bundle = Bundle(folder)
    if version is not None and str(version) != bundle.version:
        raise ZooError(f"version {version} was given, but {name} is version {bundle.version}",
                       location=Location(str(bundle.metadata_path)), hint="bump the version in configs/metadata.json")
    if tag_as_latest_version:
        warnings.warn("tag_as_latest_version: the pull request is not tagged; tag the merged commit "
                      f"v{bundle.version} (download picks the newest version)", stacklevel=2)
    publish_to_hub(folder, repo, token=token, dry_run=True)  # every check first: a failure creates nothing
    _create_repo(repo, token, private=bool(private))
    return publish_to_hub(folder, repo, token=token).url


def _create_repo(repo: str, token: str | None, *, private: bool) -> None:
    """Create ``repo`` with the visibility asked for; ``publish_to_hub`` uses it as it is."""
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:
        from bundle.errors import MissingDependencyError

        raise MissingDependencyError("huggingface_hub", purpose="publishing to the Hugging Face Hub") from None
    token = token or settings.hf_token()
    if not token:
        return  # publish_to_hub says what is missing
    try:
        HfApi(endpoint=settings.hf_endpoint(), token=token).create_repo(repo, private=private, exist_ok=True)
    except (HfHubHTTPError, OSError) as err:
        raise ZooError(f"cannot create hf:{repo} ({str(err).splitlines()[0] if str(err) else type(err).__name__})",
                       hint="check HF_TOKEN: it must be a token with write access") from None
