"""Real MONAI model-zoo bundles run end to end under ``python -m bundle run`` and write the same
predictions as ``python -m monai.bundle run`` for the same input and weights.

The corpus holds configs only: the test writes a synthetic NIfTI volume (nibabel), saves the
network's randomly initialised weights as the bundle's checkpoint, then runs the bundle's
``inference`` config with both engines in subprocesses and compares the saved predictions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import COMPAT, REPO

pytestmark = [pytest.mark.integration, pytest.mark.monai]

# bundle -> (its run id, the checkpoint override id or None for models/model.pt, where the volume
# goes, its shape and voxel size); the older bundle names its run id "evaluating", as MONAI's did
CASES = {
    "spleen_ct_segmentation": ("run", None, "imagesTs/case_0001.nii.gz", (48, 48, 24), (1.5, 1.5, 2.0)),
    "ventricular_short_axis_3label": ("evaluating", "ckpt_path", "case_0001.nii.gz", (80, 80, 6), (1.25, 1.25, 8.0)),
}


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("BUNDLE_DEBUG", "WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    return env


def _prepare(tmp_path: Path, name: str) -> tuple[Path, Path, list[str]]:
    np = pytest.importorskip("numpy")
    nib = pytest.importorskip("nibabel")
    pytest.importorskip("monai")
    pytest.importorskip("ignite")
    import torch

    from bundle.config.parser import ConfigParser

    run_id, ckpt_id, image, shape, spacing = CASES[name]
    root = tmp_path / name
    shutil.copytree(COMPAT / "bundles" / name, root)
    data = tmp_path / "data"
    (data / image).parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    volume = rng.normal(0.0, 50.0, shape).astype(np.float32)
    centre = tuple(slice(s // 4, 3 * s // 4) for s in shape)
    volume[centre] += 200.0
    nib.save(nib.Nifti1Image(volume, np.diag([*spacing, 1.0])), str(data / image))

    parser = ConfigParser()
    parser.read_config(root / "configs" / "inference.json")
    parser.parse()
    torch.manual_seed(0)
    weights = root / "models" / "model.pt"
    weights.parent.mkdir(exist_ok=True)
    torch.save(parser.get_parsed_content("network_def").state_dict(), weights)
    args = [
        "--config_file", str(root / "configs" / "inference.json"),
        "--meta_file", str(root / "configs" / "metadata.json"),
        "--logging_file", str(root / "configs" / "logging.conf"),
        "--bundle_root", str(root), "--dataset_dir", str(data), "--run_id", run_id,
    ]  # fmt: skip
    if ckpt_id:
        args += [f"--{ckpt_id}", str(weights)]
    return root, data, args


def _run(module: str, args: list[str], out: Path, cwd: Path) -> list[Path]:
    proc = subprocess.run(
        [sys.executable, "-m", module, "run", *args, "--output_dir", str(out)],
        cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, f"{module} failed:\n{proc.stderr[-3000:]}"
    files = sorted(out.rglob("*.nii*"))
    assert files, f"{module} wrote no prediction into {out}"
    return files


@pytest.mark.parametrize("name", sorted(CASES))
def test_inference_matches_monai(tmp_path, name):
    root, _, args = _prepare(tmp_path, name)
    ours = _run("bundle", args, tmp_path / "ours", cwd=root)
    theirs = _run("monai.bundle", args, tmp_path / "theirs", cwd=root)
    assert [p.relative_to(tmp_path / "ours") for p in ours] == [p.relative_to(tmp_path / "theirs") for p in theirs]

    import nibabel as nib
    import numpy as np

    for a, b in zip(ours, theirs):
        x, y = nib.load(str(a)), nib.load(str(b))
        assert x.shape == y.shape
        np.testing.assert_allclose(x.affine, y.affine, atol=1e-5)
        np.testing.assert_allclose(x.get_fdata(), y.get_fdata(), atol=1e-5, rtol=0)
