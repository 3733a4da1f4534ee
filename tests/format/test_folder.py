"""A path given as a bundle folder that is not one: a file (with the bundle folder above it), or a
misspelled folder (with a did-you-mean from its siblings), through the API, `run` and `verify`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bundle.errors import FormatError
from bundle.format.bundle import Bundle
from bundle.format.folder import folder_problem
from bundle.workflows.layout import bundle_config_files
from tests.conftest import REPO


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "bundle", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_a_config_file_points_at_its_bundle_folder():
    message, hint = folder_problem("zoo/ellipsoid_segmentation/configs/inference.json")
    assert message == "'zoo/ellipsoid_segmentation/configs/inference.json' is a file, not a bundle folder"
    assert "run zoo/ellipsoid_segmentation inference" in hint


def test_any_file_inside_a_bundle_names_the_folder_above(monkeypatch):
    monkeypatch.chdir(REPO)
    message, hint = folder_problem("zoo/digits_classification/docs/README.md")
    assert "is a file" in message and hint == "the bundle folder above it is 'zoo/digits_classification'"
    assert folder_problem("README.md")[0] == "'README.md' is a file, not a bundle folder"
    assert folder_problem("zoo/digits_classification") is None


def test_a_misspelled_folder_gets_its_sibling(tmp_path):
    (tmp_path / "spleen_ct_segmentation").mkdir()
    (tmp_path / "brats").mkdir()
    message, hint = folder_problem(tmp_path / "spleen_ct_segmentaton")
    assert message.endswith("does not exist")
    assert hint == f"did you mean '{tmp_path / 'spleen_ct_segmentation'}'?"
    assert "check the path" in folder_problem(tmp_path / "zzzz")[1]


def test_the_api_says_the_same(monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(FormatError, match="is a file, not a bundle folder") as caught:
        Bundle("zoo/ellipsoid_segmentation/configs/train.json")
    assert "verify zoo/ellipsoid_segmentation" in caught.value.hint
    with pytest.raises(FileNotFoundError, match="does not exist") as caught:
        bundle_config_files("zoo/digits_clasification", ["inference"])
    assert "did you mean 'zoo/digits_classification'?" in caught.value.hint


def test_run_and_verify_on_files_and_misspellings():
    out = _cli("run", "README.md")
    assert out.returncode == 1 and "'README.md' is a file, not a bundle folder" in out.stderr
    out = _cli("run", "zoo/ellipsoid_segmentation/configs/inference.json")
    assert "is a file" in out.stderr and "run zoo/ellipsoid_segmentation inference" in out.stderr
    out = _cli("run", "zoo/ellipsoid_segmentatoin", "inference")
    assert "did you mean 'zoo/ellipsoid_segmentation'?" in out.stderr
    out = _cli("verify", "zoo/ellipsoid_segmentation/configs/inference.json")
    assert out.returncode == 1
    assert "'zoo/ellipsoid_segmentation/configs/inference.json' is a file, not a bundle folder" in out.stdout
    assert "verify zoo/ellipsoid_segmentation" in out.stdout
