"""verify --app triton / monai-deploy: the zoo bundles pass; what each app needs is reported when missing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from bundle.errors import FormatError
from bundle.format.verify import verify_bundle

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["digits_classification", "ellipsoid_segmentation"])
def test_zoo_bundles_pass_both_apps(name):
    report = verify_bundle(ROOT / "zoo" / name, net=False, weights=False, apps="triton,monai-deploy")
    assert report.ok, report.format()
    assert {"app:triton", "app:monai-deploy"} <= set(report.checked)


def test_missing_outputs_and_unreadable_postprocessing_are_problems(tmp_path):
    root = tmp_path / "b"
    shutil.copytree(ROOT / "zoo" / "digits_classification", root)
    meta = json.loads((root / "configs" / "metadata.json").read_text())
    del meta["network_data_format"]["outputs"]
    (root / "configs" / "metadata.json").write_text(json.dumps(meta))
    report = verify_bundle(root, net=False, weights=False, apps=["triton"])
    assert [p.message for p in report.problems if p.check == "app:triton"] == ["network_data_format has no outputs"]
    shutil.copy(ROOT / "zoo" / "digits_classification" / "configs" / "metadata.json", root / "configs" / "metadata.json")
    cfg = json.loads((root / "configs" / "inference.json").read_text())
    cfg["postprocessing"] = {"_target_": "torch.nn.Identity"}
    (root / "configs" / "inference.json").write_text(json.dumps(cfg))
    out = subprocess.run([sys.executable, "-m", "bundle", "verify", str(root), "--no_net", "--app", "monai-deploy"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 1 and "[app:monai-deploy]" in out.stdout
    assert "postprocessing 'torch.nn.Identity' has no MONAI form" in out.stdout


def test_unknown_app_is_named():
    with pytest.raises(FormatError, match="did you mean 'triton'"):
        verify_bundle(ROOT / "zoo" / "digits_classification", net=False, weights=False, apps="trito")
