"""Zoo bundles copied into tmp_path (never written in zoo/), and a bundle whose networks cannot be exported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ZOO = Path(__file__).resolve().parents[2] / "zoo"

BAD_NETS = '''
import torch
from torch import nn


class KeywordsNet(nn.Module):
    """Takes **kwargs in forward: torch.jit.script cannot compile it (torch.jit.trace can)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 10, 3, padding=1)

    def forward(self, x, **kwargs):
        return self.conv(x).mean(dim=(2, 3))


class CumMaxNet(nn.Module):
    """Uses torch.cummax, which the TorchScript-based ONNX exporter has no conversion for."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 10, 3, padding=1)

    def forward(self, x):
        return torch.cummax(self.conv(x), dim=2)[0].mean(dim=(2, 3))
'''


@pytest.fixture
def zoo_copy(tmp_path):
    """copy('digits_classification') -> a copy of that zoo bundle under tmp_path."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(ZOO / name, target, ignore=shutil.ignore_patterns("eval", "__pycache__"))
        return target

    return copy


@pytest.fixture
def bad_bundle(zoo_copy):
    """The digits bundle with scripts/nets.py and configs bad_script.json / bad_onnx.json using its networks."""
    import torch

    root = zoo_copy("digits_classification")
    (root / "scripts").mkdir()
    (root / "scripts" / "__init__.py").write_text("")
    (root / "scripts" / "nets.py").write_text(BAD_NETS)
    for name, target in (("bad_script", "KeywordsNet"), ("bad_onnx", "CumMaxNet")):
        (root / "configs" / f"{name}.json").write_text(json.dumps({"network_def": {"_target_": f"scripts.nets.{target}"}}))
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 10, 3, padding=1)
    torch.save({f"conv.{k}": v for k, v in conv.state_dict().items()}, root / "models" / "small.pt")
    return root
