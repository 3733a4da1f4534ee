"""A small valid bundle, written into tmp_path by each test that asks for it, and helpers to break it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

METADATA: dict[str, Any] = {
    "schema": "urn:bundle:schemas:metadata:1",
    "version": "0.2.0",
    "changelog": {"0.2.0": "two output channels", "0.1.0": "first version"},
    "license": "Apache-2.0",
    "pytorch_version": "2.4.0",
    "name": "Tiny segmentation",
    "task": "Segment a tiny volume",
    "description": "A one-layer network for tests",
    "authors": "Tests",
    "copyright": "Copyright (c) Tests",
    "network_data_format": {
        "inputs": {
            "image": {
                "type": "image", "format": "magnitude", "modality": "CT", "num_channels": 1,
                "spatial_shape": ["8*n", "2**p", 8], "dtype": "float32", "value_range": [0, 1],
                "is_patch_data": False, "channel_def": {"0": "image"},
            }
        },
        "outputs": {
            "pred": {
                "type": "image", "format": "segmentation", "num_channels": 2, "spatial_shape": [8, 8, 8],
                "dtype": "float32", "value_range": [0, 1], "channel_def": {"0": "background", "1": "organ"},
            }
        },
    },
}

INFERENCE: dict[str, Any] = {
    "bundle_root": ".",
    "device": "$torch.device('cpu')",
    "ckpt_path": "$@bundle_root + '/models/model.pt'",
    "network_def": {
        "_target_": "torch.nn.Conv3d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1,
    },
    "network": "$@network_def.to(@device)",
    "activation": {"_target_": "Softmax", "dim": 1},
}

TRAIN_YAML = """\
bundle_root: .
network_def:
  _target_: torch.nn.Conv3d
  in_channels: 1
  out_channels: 2
  kernel_size: 3
  padding: 1
max_epochs: 2
optimizer:
  _target_: torch.optim.SGD
  params: $@network_def.parameters()
  lr: 0.1
"""

# a layer on train: uses ids it does not define, as MONAI's evaluate.json does
EVALUATE: dict[str, Any] = {
    "evaluator": {"_target_": "torch.nn.Identity", "_requires_": "@network_def"},
    "epochs": "@max_epochs",
}


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4) + "\n")
    return path


def save_weights(path: Path, module: Any = None) -> Path:
    import torch

    module = module if module is not None else torch.nn.Conv3d(1, 2, kernel_size=3, padding=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(module.state_dict(), path)
    return path


@pytest.fixture
def metadata() -> dict:
    return copy.deepcopy(METADATA)


@pytest.fixture
def make_bundle(tmp_path) -> Callable[..., Path]:
    """Write a valid bundle; keyword arguments replace parts of it (None leaves a part out)."""

    def make(
        name: str = "tiny_bundle",
        *,
        metadata: Any = METADATA,
        inference: Any = INFERENCE,
        train: str | None = TRAIN_YAML,
        evaluate: Any = EVALUATE,
        license: str | None = "Apache License 2.0\n",
        readme: str | None = "# Tiny segmentation\n",
        weights: bool = True,
    ) -> Path:
        root = tmp_path / name
        (root / "configs").mkdir(parents=True)
        if metadata is not None:
            write_json(root / "configs" / "metadata.json", copy.deepcopy(metadata))
        if inference is not None:
            write_json(root / "configs" / "inference.json", copy.deepcopy(inference))
        if train is not None:
            (root / "configs" / "train.yaml").write_text(train)
        if evaluate is not None:
            write_json(root / "configs" / "evaluate.json", copy.deepcopy(evaluate))
        if license is not None:
            (root / "LICENSE").write_text(license)
        if readme is not None:
            (root / "docs").mkdir()
            (root / "docs" / "README.md").write_text(readme)
        (root / "models").mkdir()
        if weights:
            save_weights(root / "models" / "model.pt")
        return root

    return make


@pytest.fixture
def bundle_dir(make_bundle) -> Path:
    return make_bundle()
