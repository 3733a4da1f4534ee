"""``InferTask``: the zoo's segmentation bundle labels a volume exactly as ``bundle run ... inference``
does, returns MONAI Label's result (label names, latencies), reuses its network, writes NIfTI with the
image's affine, classifies with the classification bundle, and refuses images that do not fit."""

from __future__ import annotations

import gzip
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from bundle.errors import LabelError
from bundle.label import InferTask
from tests.label.conftest import CLASSIFICATION, SEGMENTATION, generated_volumes
from tests.zoo.conftest import subprocess_env

LATENCIES = {"pre", "infer", "invert", "post", "write", "total"}


@pytest.fixture(scope="module")
def task():
    return InferTask(SEGMENTATION)


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    """A 32^3 test volume as .npy, with its exact label."""
    item = generated_volumes("test", 1, size=32, seed=3)[0]
    path = tmp_path_factory.mktemp("images") / "case_07.npy"
    np.save(path, item["image"])
    return path, item["label"]


def test_infer_equals_bundle_run_inference_on_the_same_volume(task, volume, tmp_path):
    image, truth = volume
    label_file, result = task({"image": str(image), "output_dir": str(tmp_path / "task")})
    labels = np.load(label_file)

    out = tmp_path / "run"
    dataset = '{"_target_": "VolumeDataset", "data": [{"image": "%s"}]}' % image
    proc = subprocess.run([sys.executable, "-m", "bundle", "run", str(SEGMENTATION), "inference", "--dataset", dataset,
                           "--output_dir", str(out)], capture_output=True, text=True, env=subprocess_env(),
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    expected = torch.load(out / "case_07.pt", weights_only=True)
    assert expected.shape == (1, *labels.shape)
    np.testing.assert_array_equal(labels, expected[0].numpy())
    assert (labels == truth).mean() > 0.95  # and it is a good segmentation

    assert result["label_names"] == {"class 1 ellipsoid": 1, "class 2 ellipsoid": 2}
    assert set(result["latencies"]) == LATENCIES
    assert result["file"] == label_file and labels.dtype == np.uint8


def test_the_network_is_loaded_once_and_info_is_monai_labels(task, volume, tmp_path):
    image, _ = volume
    task({"image": str(image), "output_dir": str(tmp_path)})
    network = task.network()
    task({"image": str(image), "output_dir": str(tmp_path)})
    assert task.network() is network
    info = task.info()
    assert info["type"] == "segmentation" and info["dimension"] == 3
    assert info["labels"] == {"class 1 ellipsoid": 1, "class 2 ellipsoid": 2}
    assert task.is_valid()


def test_nifti_in_nifti_out_with_the_images_affine(task, volume, tmp_path):
    nib = pytest.importorskip("nibabel")
    image, _ = volume
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    affine[:3, 3] = [10, -4, 7]
    nii = tmp_path / "case.nii.gz"
    nib.save(nib.Nifti1Image(np.load(image), affine), str(nii))
    label_file, _ = task({"image": str(nii), "output_dir": str(tmp_path / "out")})
    assert label_file.endswith("case.nii.gz")
    written = nib.load(label_file)
    np.testing.assert_allclose(written.affine, affine)
    npy_labels, _ = task({"image": str(image), "output_dir": str(tmp_path / "npy")})
    np.testing.assert_array_equal(np.asarray(written.dataobj), np.load(npy_labels))


def test_classification_bundle_returns_the_class_without_a_file(tmp_path):
    from bundle.components.images import ImageTableDataset

    data = ImageTableDataset(CLASSIFICATION / "data" / "digits.csv", split="test", value_range=[0, 16])
    image = tmp_path / "digit.npy"
    np.save(image, data[0]["image"][0].numpy())
    task = InferTask(CLASSIFICATION)
    label_file, result = task({"image": str(image)})
    assert label_file is None and task.info()["type"] == "classification" and task.info()["dimension"] == 2
    network = task.network()
    with torch.no_grad():
        expected = int(network(data[0]["image"][None]).argmax())
    assert result["prediction"] == expected
    assert result["label"] == str(expected) and len(result["scores"]) == 10
    assert set(result["latencies"]) == LATENCIES


@pytest.mark.parametrize(("shape", "message"), [
    ((32, 32), "has 2 axes"),
    ((2, 32, 32, 32), "has 2 channels"),
    ((1, 1, 32, 32, 32), "has 5 axes"),
], ids=["2d-image", "two-channels", "five-axes"])
def test_an_image_of_the_wrong_dimension_or_channels_is_refused(task, tmp_path, shape, message):
    image = tmp_path / "bad.npy"
    np.save(image, np.zeros(shape, np.float32))
    with pytest.raises(LabelError, match=message) as info:
        task({"image": str(image), "output_dir": str(tmp_path)})
    assert info.value.file == str(image)


def test_truncated_and_unknown_images_are_refused(task, volume, tmp_path):
    image, _ = volume
    cut = tmp_path / "cut.npy"
    cut.write_bytes(image.read_bytes()[:5000])
    with pytest.raises(LabelError, match="cannot read image .*cut.npy") as info:
        task({"image": str(cut)})
    assert "truncated" in info.value.hint
    if importlib.util.find_spec("nibabel") is not None:
        nii = tmp_path / "cut.nii.gz"
        nii.write_bytes(gzip.compress(b"\x5c\x01" + b"\0" * 100))
        with pytest.raises(LabelError, match="cannot read image .*cut.nii.gz"):
            task({"image": str(nii)})
    other = tmp_path / "image.png"
    other.write_bytes(b"png")
    with pytest.raises(LabelError, match="unknown file type"):
        task({"image": str(other)})
    with pytest.raises(LabelError, match="does not exist"):
        task({"image": str(tmp_path / "missing.npy")})
    with pytest.raises(LabelError, match="names no image"):
        task({})


def test_a_bundle_without_an_inference_config_or_weights(tmp_path):
    import shutil

    copy = shutil.copytree(SEGMENTATION, tmp_path / "b")
    (copy / "models" / "model.pt").unlink()
    task = InferTask(copy)
    assert not task.is_valid()
    image = tmp_path / "x.npy"
    np.save(image, np.zeros((16, 16, 16), np.float32))
    with pytest.raises(LabelError, match="neither models/model.pt nor models/model.ts"):
        task({"image": str(image)})
    (copy / "configs" / "inference.json").unlink()
    with pytest.raises(LabelError, match="no inference.json config"):
        InferTask(copy)
