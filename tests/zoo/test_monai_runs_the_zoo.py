"""The zoo's bundles are MONAI bundles too: MONAI's own `python -m monai.bundle run` runs their inference
and a one-epoch training (their configs name components by dotted paths), with the outputs of `bundle run`."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytest.importorskip("monai")

BUNDLES = ("digits_classification", "ellipsoid_segmentation")


def _copy(name, tmp_path):
    folder = tmp_path / name
    shutil.copytree(REPO / "zoo" / name, folder, ignore=shutil.ignore_patterns("eval", "logs", "__pycache__"))
    return folder


def _run(argv, cwd):
    done = subprocess.run([sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.integration
@pytest.mark.parametrize("name", BUNDLES)
def test_monai_runs_the_inference_with_our_outputs(name, tmp_path):
    folder = _copy(name, tmp_path)
    _run(["monai.bundle", "run", "--config_file", str(folder / "configs/inference.json"), "--bundle_root", str(folder),
          "--output_dir", str(tmp_path / "monai")], tmp_path)
    _run(["bundle", "run", str(folder), "inference", "--output_dir", str(tmp_path / "ours")], tmp_path)
    files = sorted(p.name for p in (tmp_path / "monai").iterdir())
    assert files and files == sorted(p.name for p in (tmp_path / "ours").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "monai", tmp_path / "ours", files, shallow=False)
    assert not mismatch and not errors


@pytest.mark.integration
def test_monai_trains_a_zoo_bundle_for_one_epoch(tmp_path):
    import torch

    folder = _copy("digits_classification", tmp_path)
    common = ["--train#trainer#max_epochs", "1"]
    _run(["monai.bundle", "run", "--config_file", str(folder / "configs/train.json"), "--bundle_root", str(folder),
          "--ckpt_dir", str(tmp_path / "monai"), *common], tmp_path)
    _run(["bundle", "run", str(folder), "train", "--ckpt_dir", str(tmp_path / "ours"), *common], tmp_path)
    theirs = torch.load(tmp_path / "monai" / "model.pt", weights_only=True)
    ours = torch.load(tmp_path / "ours" / "model.pt", weights_only=True)
    theirs, ours = (d.get("model", d) for d in (theirs, ours))
    assert theirs.keys() == ours.keys()
    for key in ours:
        torch.testing.assert_close(theirs[key], ours[key], msg=f"{key} differs after one epoch")
