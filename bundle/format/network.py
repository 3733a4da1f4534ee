"""From a bundle's configs to a running network, the one way: ``network_def`` built with the bundle's
``scripts/`` importable (when trusted) and ``bundle_root`` set to the bundle folder, checked to be a
``torch.nn.Module``, its weights loaded (``weights_only=True``) and moved to a device.

``Bundle.build_network`` is the public face; ``bundle.load``, export, verify, init, serving, labeling and
federated learning all come through here. Every failure is a ``BundleError``: a ``NetworkBuildError``
for what the builder finds itself (no such id, not a module, the bundle's code raised, weights that do
not fit), the config engine's own errors unchanged (``UnsafeConfigError`` in safe mode, ...). A caller
that reports problems instead of raising (verify) catches ``BundleError``.

Example:
    >>> from bundle import Bundle
    >>> net = Bundle("zoo/digits_classification").build_network()   # network_def + models/model.pt, eval mode
    >>> type(net).__name__, net.training
    ('DigitsCNN', False)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from bundle.errors import BundleError, Location, NetworkBuildError, did_you_mean
from bundle.format.scripts import BundleScripts
from bundle.format.weights import fit_weights, load_state_dict

if TYPE_CHECKING:
    from bundle.config.engine import Config

__all__ = ["build_network", "load_network_config", "load_network_weights", "network_from_config"]


def load_network_config(files: Sequence[os.PathLike | str], *, root: os.PathLike | str,
                        meta: os.PathLike | str | None = None, overrides: Mapping[str, Any] | None = None,
                        trusted: bool = True, **options: Any) -> "Config":
    """Load ``files`` (merged in order) as the bundle at ``root`` sees them: a config that defines
    ``bundle_root`` gets ``root`` there (unless ``overrides`` set it), so relative paths find the bundle.

    Args:
        files: the config files.
        root: the bundle folder (the configs' ``base_dir``).
        meta: the metadata file (``@_meta_``), when there is one.
        overrides: ``{id: value}`` applied after merging.
        trusted: False loads in safe mode.
        options: passed to ``Config.load`` (``locator``, ``policy``, ``strict_overrides``).

    Raises:
        ConfigError: a config cannot be read or an override names no id.
    """
    from bundle.config.engine import Config

    meta = meta if meta is not None and Path(meta).is_file() else None
    overrides = dict(overrides or {})
    options.setdefault("base_dir", root)
    config = Config.load(*files, meta=meta, overrides=overrides, trusted=trusted, **options)
    if "bundle_root" not in overrides and isinstance(config.get("bundle_root", None), str):
        config = Config.load(*files, meta=meta, overrides={**overrides, "bundle_root": str(root)}, trusted=trusted,
                             **options)
    return config


def network_from_config(config: "Config", net_id: str = "network_def", *, root: os.PathLike | str | None = None,
                        trusted: bool = True, where: str = "") -> Any:
    """Resolve ``net_id`` of a loaded config into a ``torch.nn.Module`` in eval mode on the CPU.

    Args:
        config: the loaded config (see ``load_network_config``).
        net_id: the network's config id.
        root: the bundle folder, whose ``scripts/`` is importable while building (only when ``trusted``).
        trusted: False never makes the bundle's own code importable.
        where: how to name the config in messages (default: the config's files).

    Raises:
        NetworkBuildError: ``net_id`` is not defined (close ids named), the bundle's code raised while
            building it (chained), or it is not a ``torch.nn.Module``.
        ConfigError: the config engine's errors while resolving (``UnsafeConfigError`` in safe mode, ...).
    """
    import torch

    where = where or "the config"
    if net_id not in config:
        ids = [i for i in config.ids() if "::" not in i and "#" not in i]
        raise NetworkBuildError(f"{where} defines no network '{net_id}'", config_id=net_id,
                                hint=did_you_mean(net_id, ids) or f"name the network's id with net_id (top-level "
                                     f"ids: {', '.join(ids[:12])})")
    try:
        if trusted and root is not None:
            with BundleScripts(Path(root)):
                network = config.resolve(net_id)
        else:
            network = config.resolve(net_id)
    except BundleError:
        raise
    except Exception as err:  # noqa: BLE001 - a bundle's own code can raise anything while building
        raise NetworkBuildError(f"building '{net_id}' of {where} raised {type(err).__name__}: {err}",
                                location=config.where(net_id), config_id=net_id) from err
    if not isinstance(network, torch.nn.Module):
        raise NetworkBuildError(f"'{net_id}' in {where} is a {type(network).__name__}, not a torch.nn.Module",
                                location=config.where(net_id), config_id=net_id,
                                hint="name the network's id with net_id")
    return network.cpu().eval()


def load_network_weights(network: Any, checkpoint: os.PathLike | str, *, net_id: str = "network_def",
                         key: str | None = None) -> None:
    """Load a state dict from ``checkpoint`` (``torch.load(..., weights_only=True)``) into ``network``.

    Args:
        key: the key that holds the state dict in a nested checkpoint (``{"model": {...}}``).

    Raises:
        NetworkBuildError: the file is missing, or does not fit (missing, unexpected and mismatched keys listed).
        FormatError: it cannot be loaded safely, or is not a state dict.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise NetworkBuildError(f"weights file '{path}' does not exist", location=Location(str(path)),
                                config_id=net_id, hint="train the bundle, or copy the weights there")
    state = load_state_dict(path, key=key or None)
    fit = fit_weights(network, state)
    if not fit.ok:
        raise NetworkBuildError(f"checkpoint '{path}' does not fit '{net_id}': {fit.describe()}",
                                location=Location(str(path)), config_id=net_id, hint=fit.hint())


def build_network(files: Sequence[os.PathLike | str], *, root: os.PathLike | str, meta: os.PathLike | str | None = None,
                  net_id: str = "network_def", overrides: Mapping[str, Any] | None = None, trusted: bool = True,
                  weights: os.PathLike | str | None = None, key: str | None = None, device: Any = None,
                  **options: Any) -> Any:
    """Build ``net_id`` from config files, load ``weights`` into it when given, and move it to ``device``.

    ``Bundle.build_network`` calls this with the bundle's own files; use this for config files that are
    not (yet) a bundle folder (MONAI's ``ckpt_export --config_file ...``).

    Raises:
        NetworkBuildError: as ``network_from_config`` and ``load_network_weights``.
        ConfigError: a config cannot be read, or safe mode refused something.
    """
    config = load_network_config(files, root=root, meta=meta, overrides=overrides, trusted=trusted, **options)
    network = network_from_config(config, net_id, root=root, trusted=trusted)
    if weights is not None:
        load_network_weights(network, weights, net_id=net_id, key=key)
    if device is not None:
        import torch

        network = network.to(torch.device(device))
    return network
