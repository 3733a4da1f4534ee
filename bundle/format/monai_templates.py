"""MONAI's ``init_bundle`` templates as data: ``DEFAULT_METADATA`` and ``DEFAULT_INFERENCE``, for code
that reads them from ``monai.bundle.utils``. Our ``init_bundle`` writes from ``templates/`` instead
(a bundle that runs); these dicts only keep MONAI's values importable.

``DEFAULT_INFERENCE`` names MONAI's components by short names and its ``network_def`` target is the
placeholder ``"???"``: it is a skeleton to fill in, not a config that runs.
"""

from __future__ import annotations

from importlib import metadata as importlib_metadata

__all__ = ["DEFAULT_METADATA", "DEFAULT_INFERENCE"]


def _installed(package: str) -> str | None:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:
        return None


def _release(version: str | None) -> str | None:
    """``2.13.0`` of ``2.13.0+cpu`` or ``2.13.0a0+git``: the part MONAI writes as ``pytorch_version``."""
    return version.split("+")[0].split("a")[0] if version else None


def _default_metadata() -> dict:
    versions = {"monai_version": _installed("monai"), "pytorch_version": _release(_installed("torch")),
                "numpy_version": _installed("numpy")}
    return {
        "version": "0.0.1",
        "changelog": {"0.0.1": "Initial version"},
        **{k: v for k, v in versions.items() if v is not None},  # without MONAI there is no monai_version
        "required_packages_version": {},
        "task": "Describe what the network predicts",
        "description": "A longer description of what the network does, use context, inputs, outputs, etc.",
        "authors": "Your Name Here",
        "copyright": "Copyright (c) Your Name Here",
        "network_data_format": {"inputs": {}, "outputs": {}},
    }


#: the metadata MONAI's ``init_bundle`` writes, with the versions installed here
DEFAULT_METADATA = _default_metadata()


#: the inference config MONAI's ``init_bundle`` writes (a skeleton: ``network_def`` is ``"???"``)
DEFAULT_INFERENCE = {
    "imports": ["$import glob"],
    "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
    "ckpt_path": "$@bundle_root + '/models/model.pt'",
    "dataset_dir": "/workspace/data",
    "datalist": "$list(sorted(glob.glob(@dataset_dir + '/*.jpeg')))",
    "network_def": {"_target_": "???", "spatial_dims": 2},
    "network": "$@network_def.to(@device)",
    "preprocessing": {
        "_target_": "Compose",
        "transforms": [
            {"_target_": "LoadImaged", "keys": "image"},
            {"_target_": "EnsureChannelFirstd", "keys": "image"},
            {"_target_": "ScaleIntensityd", "keys": "image"},
            {"_target_": "EnsureTyped", "keys": "image", "device": "@device"},
        ],
    },
    "dataset": {"_target_": "Dataset", "data": "$[{'image': i} for i in @datalist]", "transform": "@preprocessing"},
    "dataloader": {"_target_": "DataLoader", "dataset": "@dataset", "batch_size": 1, "shuffle": False, "num_workers": 0},
    "inferer": {"_target_": "SimpleInferer"},
    "postprocessing": {
        "_target_": "Compose",
        "transforms": [
            {"_target_": "Activationsd", "keys": "pred", "softmax": True},
            {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
        ],
    },
    "handlers": [{
        "_target_": "CheckpointLoader", "_disabled_": "$not os.path.exists(@ckpt_path)", "load_path": "@ckpt_path",
        "load_dict": {"model": "@network"},
    }],
    "evaluator": {
        "_target_": "SupervisedEvaluator", "device": "@device", "val_data_loader": "@dataloader", "network": "@network",
        "inferer": "@inferer", "postprocessing": "@postprocessing", "val_handlers": "@handlers",
    },
    "evaluating": ["$@evaluator.run()"],
}
