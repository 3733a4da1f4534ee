"""``verify --app monai-label``: the zoo bundle passes with warnings (supported_apps suggested, short
targets), a bundle missing what MONAI Label reads fails with each problem, an unknown app is named."""

from __future__ import annotations

import json
import shutil

import pytest

from bundle.errors import FormatError
from bundle.format.verify import verify_bundle
from tests.label.conftest import SEGMENTATION


def _messages(report):
    return [p.message for p in report.problems if p.check == "app:monai-label"]


def test_the_zoo_bundle_passes_and_supported_apps_is_suggested():
    report = verify_bundle(SEGMENTATION, net=False, weights=False, apps=["monai-label"])
    assert report.ok and "app:monai-label" in report.checked
    hints = [p.hint for p in report.warnings if p.config_id == "supported_apps"]
    assert hints == ['add "supported_apps": {"monai-label": "0.8.5"} to configs/metadata.json']


def test_missing_ids_files_and_metadata_are_errors(tmp_path):
    copy = shutil.copytree(SEGMENTATION, tmp_path / "b")
    (copy / "models" / "model.pt").unlink()
    meta = json.loads((copy / "configs" / "metadata.json").read_text())
    meta["supported_apps"] = {"monai-label": "0.8.5"}
    del meta["network_data_format"]["inputs"]["image"]["spatial_shape"]
    (copy / "configs" / "metadata.json").write_text(json.dumps(meta))
    inference = json.loads((copy / "configs" / "inference.json").read_text())
    inference["postprocessing"] = {"_target_": "NoSuchPostprocessing"}
    (copy / "configs" / "inference.json").write_text(json.dumps(inference))
    report = verify_bundle(copy, net=False, weights=False, apps=["monai-label"])
    errors = [p.message for p in report.errors if p.check == "app:monai-label"]
    assert any("spatial_shape" in m for m in errors)
    assert any("neither models/model.pt nor models/model.ts" in m for m in errors)
    assert any("NoSuchPostprocessing" in m for m in errors)
    assert not any("supported_apps" in m for m in _messages(report))


def test_an_unknown_app_is_named():
    with pytest.raises(FormatError, match="unknown app 'monai-lable' for verify --app"):
        verify_bundle(SEGMENTATION, net=False, weights=False, apps=["monai-lable"])
