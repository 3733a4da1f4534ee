"""``verify --app monai-label``: the ids, files and metadata MONAI Label's bundle tasks read are there
and resolve.

Errors (the bundle cannot be served): no ``configs/inference.json``, no ``network_def`` there, no
``models/model.pt`` or ``models/model.ts``, no input ``spatial_shape`` (MONAI Label's dimension), an
``inferer``/``preprocessing``/``postprocessing`` that does not resolve. Warnings: no output
``channel_def`` (no label names), no train config or a train config without the ids MONAI Label's
``BundleTrainTask`` overrides, short ``_target_`` names that only ``bundle`` resolves (MONAI Label's own
``BundleInferTask`` builds configs with ``monai.bundle``; ``bundle label app`` serves them as they are),
and no ``supported_apps`` entry for ``monai-label`` in the metadata (suggested with the line to add).
"""

from __future__ import annotations

from typing import Any

from bundle.errors import BundleError, LabelError, Location
from bundle.format.report import WARNING
from bundle.label import bundles as ids
from bundle.label.bundles import network_format

APP = "monai-label"  # its name in metadata's supported_apps
CHECK = f"app:{APP}"
#: the monailabel release these checks follow (suggested for ``supported_apps``)
MONAI_LABEL_VERSION = "0.8.5"

# ids MONAI Label's BundleTrainTask sets (ours write "::"), and what it uses each for
_TRAIN_IDS = {
    "bundle_root": "the bundle folder",
    "device": "the device",
    "network": "the network the pretrained checkpoint is loaded into",
    "train::trainer::max_epochs": "max_epochs",
    "train::dataset": "the labeled images (train::dataset::data for MONAI Label's own task)",
    "validate::dataset": "the validation split (val_split)",
    "train::handlers": "the pretrained checkpoint loader",
}


def check_monai_label(ctx: Any) -> None:
    """Add every problem MONAI Label would meet with ``ctx.bundle`` to ``ctx.report`` (check ``monai-label``)."""
    bundle = ctx.bundle
    _check_metadata(ctx)
    names = bundle.config_names()
    if "inference" not in names:
        ctx.problem(CHECK, "configs/inference.json is missing: MONAI Label's infer task reads it",
                    location=Location(str(bundle.root / "configs")), hint="add an inference config")
    else:
        _check_inference(ctx, ids)
    if not any(bundle.weights_path(n).is_file() for n in (ids.MODEL_PYTORCH, ids.MODEL_TORCHSCRIPT)):
        ctx.problem(CHECK, f"neither models/{ids.MODEL_PYTORCH} nor models/{ids.MODEL_TORCHSCRIPT} exists: MONAI "
                    "Label loads one of them", hint="train the bundle, or fetch its large files")
    if "train" not in names:
        ctx.problem(CHECK, "configs/train.json is missing: the bundle can label but MONAI Label cannot retrain it",
                    severity=WARNING, hint="add a train config to close the labeling loop")
    else:
        _check_train(ctx)


def _check_metadata(ctx: Any) -> None:
    bundle = ctx.bundle
    try:
        fmt = network_format(bundle.metadata, where=str(bundle.metadata_path))
    except LabelError as err:
        ctx.error(CHECK, err)
        return
    except BundleError:
        return  # unreadable metadata: the metadata check reports it
    if not fmt.labels:
        ctx.problem(CHECK, "network_data_format::outputs has no channel_def naming the classes: MONAI Label shows "
                    "no label names", location=ctx.metadata_location("network_data_format", "outputs"),
                    config_id="network_data_format::outputs", severity=WARNING,
                    hint='add e.g. "channel_def": {"0": "background", "1": "spleen"}')
    apps = bundle.metadata.get("supported_apps")
    if not isinstance(apps, dict) or APP not in apps:
        ctx.problem(CHECK, "metadata's supported_apps does not name monai-label", severity=WARNING,
                    location=ctx.metadata_location("supported_apps"), config_id="supported_apps",
                    hint=f'add "supported_apps": {{"{APP}": "{MONAI_LABEL_VERSION}"}} to configs/metadata.json')


def _load(ctx: Any, name: str) -> Any:
    try:
        return ctx.bundle.load_config(name, locator=ctx.locator)
    except BundleError:
        return None  # the configs check reports why it cannot be read


def _check_inference(ctx: Any, ids: Any) -> None:
    config = _load(ctx, "inference")
    if config is None:
        return
    if ids.KEY_NETWORK_DEF not in config:
        ctx.problem(CHECK, f"configs/inference.json defines no '{ids.KEY_NETWORK_DEF}': MONAI Label builds the network "
                    "from it", location=Location(str(ctx.bundle.config_path("inference"))),
                    config_id=ids.KEY_NETWORK_DEF, hint="define the network under network_def")
    for what, keys in (("preprocessing", ids.KEY_PREPROCESSING), ("inferer", ids.KEY_INFERER),
                       ("postprocessing", ids.KEY_POSTPROCESSING)):
        found = ids.first_id(config, keys)
        if found is None:
            if what != "preprocessing":
                ctx.problem(CHECK, f"configs/inference.json has no {' or '.join(keys)}: MONAI Label runs the network "
                            f"without one", severity=WARNING, config_id=keys[0],
                            location=Location(str(ctx.bundle.config_path("inference"))))
            continue
        try:
            if ctx.bundle.trusted:
                with ctx.bundle.scripts():
                    config.resolve(found)
            else:
                config.resolve(found)
        except BundleError as err:
            ctx.error(CHECK, err, config_id=found)
        except Exception as err:  # noqa: BLE001 - a bundle's component can raise anything when built
            ctx.problem(CHECK, f"'{found}' does not resolve: {type(err).__name__}: {err}", config_id=found,
                        location=config.where(found))
    _check_short_targets(ctx, config, "inference")


def _check_train(ctx: Any) -> None:
    config = _load(ctx, "train")
    if config is None:
        return
    where = Location(str(ctx.bundle.config_path("train")))
    for config_id, use in _TRAIN_IDS.items():
        if config_id not in config:
            ctx.problem(CHECK, f"configs/train.json defines no '{config_id}', which MONAI Label's train task sets "
                        f"({use})", config_id=config_id, location=where, severity=WARNING)
    _check_short_targets(ctx, config, "train")


def _check_short_targets(ctx: Any, config: Any, name: str) -> None:
    short = sorted({str(value) for config_id in config.ids() if config_id.endswith("_target_")
                    for value in [config.get(config_id)]
                    if isinstance(value, str) and "." not in value and not value.startswith(("$", "@"))})
    if short:
        listing = ", ".join(short[:8]) + (", ..." if len(short) > 8 else "")
        ctx.problem(CHECK, f"configs/{name}.json names _target_s by short names only bundle resolves ({listing}): "
                    "MONAI Label's own BundleInferTask/BundleTrainTask cannot build them", severity=WARNING,
                    location=Location(str(ctx.bundle.config_path(name))),
                    hint="serve the bundle with 'bundle label app DIR --bundle NAME', or write full dotted paths "
                         "(bundle.components.networks.CompactUNet)")
