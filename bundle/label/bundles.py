"""What MONAI Label reads from a bundle, read the same way: the config ids it looks for (first present
wins), the labels from ``network_data_format``'s output ``channel_def``, the dimension from the
input's ``spatial_shape``, and the bundle itself from a folder or a zoo name (through the cache)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from bundle.errors import LabelError, Location

# MONAI Label's BundleConstants, as config ids (ours write "::"; MONAI's "#" means the same)
KEY_PREPROCESSING: tuple[str, ...] = ("preprocessing", "pre_transforms")
KEY_POSTPROCESSING: tuple[str, ...] = ("postprocessing", "post_transforms")
KEY_INFERER: tuple[str, ...] = ("inferer",)
KEY_NETWORK_DEF = "network_def"
KEY_NETWORK = "network"
KEY_DEVICE = "device"
KEY_BUNDLE_ROOT = "bundle_root"
KEY_MAX_EPOCHS = "train::trainer::max_epochs"
KEY_TRAIN_DATASET = "train::dataset"
KEY_VALIDATE_DATASET = "validate::dataset"
KEY_TRAIN_HANDLERS = "train::handlers"
KEY_TRACKING = "tracking"
INFER_CONFIGS: tuple[str, ...] = ("inference",)
TRAIN_CONFIGS: tuple[str, ...] = ("train",)
MULTI_GPU_CONFIGS: tuple[str, ...] = ("multi_gpu_train",)
MODEL_PYTORCH = "model.pt"
MODEL_TORCHSCRIPT = "model.ts"
CHECKPOINT_KEY = "model"


def open_bundle(bundle: Any, *, trusted: bool | None = None, version: str | None = None) -> Any:
    """A ``Bundle`` from a ``Bundle``, a folder, or a zoo name (``NAME[@SPEC]``, fetched into the cache).

    Raises:
        FormatError: the folder is not a bundle.
        ZooError: a zoo name cannot be found or downloaded.
    """
    from bundle.format.bundle import Bundle

    if isinstance(bundle, Bundle):
        return bundle if trusted is None or trusted == bundle.trusted else Bundle(bundle.root, trusted=trusted)
    from bundle.registry.load import locate

    return Bundle(locate(os.fspath(bundle), version), trusted=trusted)


def bundle_name(given: Any, bundle: Any) -> str:
    """The name to show and serve a bundle under: the zoo name it was asked by (a cached bundle's folder is
    its version), else its folder's name."""
    from bundle.trust import is_download

    if isinstance(given, str) and is_download(bundle.root) and "/" not in given and os.sep not in given:
        return given.split("@", 1)[0]
    return bundle.name


def first_id(config: Any, ids: Sequence[str]) -> str | None:
    """The first of ``ids`` the config defines (MONAI Label tries its keys in order)."""
    return next((i for i in ids if i in config), None)


def find_config(bundle: Any, names: Sequence[str], *, purpose: str) -> str:
    """The first of the config ``names`` the bundle has.

    Raises:
        LabelError: it has none of them.
    """
    have = bundle.config_names()
    for name in names:
        if name in have:
            return name
    raise LabelError(f"bundle '{bundle.name}' has no {' or '.join(n + '.json' for n in names)} config, which "
                     f"{purpose} needs", location=Location(str(bundle.root / "configs")),
                     hint=f"its configs are: {', '.join(have) or 'none'}")


@dataclass(frozen=True)
class NetworkFormat:
    """The facts of ``network_data_format`` a labeling task needs."""

    dimension: int  # spatial axes of the input
    channels: int  # input channels
    labels: dict[str, int]  # output channel name -> index, background left out (MONAI Label's "labels")
    output_format: str  # "segmentation", "classes", ...
    output_channels: int
    output_spatial: int  # spatial axes of the output (0 for class scores)

    @property
    def is_segmentation(self) -> bool:
        """A label map per image (MONAI Label's "segmentation"), not class scores."""
        return self.output_format == "segmentation" or self.output_spatial > 0


def _first(section: Any) -> Mapping:
    if isinstance(section, Mapping):
        for value in section.values():
            if isinstance(value, Mapping):
                return value
    return {}


def network_format(metadata: Mapping[str, Any], *, where: str) -> NetworkFormat:
    """Read ``network_data_format`` (its first input and output), as MONAI Label's bundle tasks do.

    Raises:
        LabelError: there is no input with a ``spatial_shape``.
    """
    ndf = metadata.get("network_data_format") if isinstance(metadata, Mapping) else None
    inputs = _first(ndf.get("inputs")) if isinstance(ndf, Mapping) else {}
    outputs = _first(ndf.get("outputs")) if isinstance(ndf, Mapping) else {}
    shape = inputs.get("spatial_shape")
    if not isinstance(shape, list) or not shape:
        raise LabelError("metadata has no network_data_format::inputs::<name>::spatial_shape, from which MONAI "
                         "Label reads the image dimension", location=Location(where),
                         config_id="network_data_format::inputs",
                         hint='describe the input, e.g. "spatial_shape": ["16*n", "16*n", "16*n"]')
    channel_def = outputs.get("channel_def")
    if not isinstance(channel_def, Mapping):
        channel_def = {}
    labels = {}
    for key, name in channel_def.items():
        if isinstance(name, str) and name.lower() != "background":
            try:
                labels[name] = int(key)
            except (TypeError, ValueError):
                continue
    return NetworkFormat(
        dimension=len(shape), channels=int(inputs.get("num_channels", 1) or 1), labels=labels,
        output_format=str(outputs.get("format", "")), output_channels=int(outputs.get("num_channels", 0) or 0),
        output_spatial=len(outputs.get("spatial_shape") or []),
    )
