"""A zoo bundle's outputs go to a user folder (BUNDLE_OUTPUT_DIR, --output_dir), not into the bundle;
a user's own bundle folder writes where its config says."""

from __future__ import annotations

import shutil

import pytest

import bundle.registry.index as index_module
from bundle.cli import main
from bundle.workflows.outputs import default_output_dir, is_zoo_bundle, output_overrides

from ..conftest import REPO

NAME = "ellipsoid_segmentation"


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A shipped zoo (tmp/zoo/NAME), a user's copy of the bundle (tmp/mine/NAME), the output root."""
    zoo = tmp_path / "zoo"
    shutil.copytree(REPO / "zoo" / NAME, zoo / NAME)
    shutil.copy(REPO / "zoo" / "index.json", zoo / "index.json")
    shutil.copytree(REPO / "zoo" / NAME, tmp_path / "mine" / NAME)
    monkeypatch.setattr(index_module, "packaged_zoo", lambda: zoo)
    monkeypatch.setenv("BUNDLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BUNDLE_OUTPUT_DIR", str(tmp_path / "outputs"))
    return zoo / NAME, tmp_path / "mine" / NAME, tmp_path / "outputs"


def test_zoo_and_cache_bundles_are_zoo_bundles_and_a_users_folder_is_not(places, tmp_path):
    shipped, mine, _ = places
    assert is_zoo_bundle(shipped)
    assert is_zoo_bundle(tmp_path / "cache" / "bundles" / NAME / "0.1.0")
    assert not is_zoo_bundle(mine)


def test_default_output_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("BUNDLE_OUTPUT_DIR", str(tmp_path / "o"))
    assert default_output_dir(NAME) == tmp_path / "o" / NAME
    monkeypatch.delenv("BUNDLE_OUTPUT_DIR")
    import platformdirs

    assert default_output_dir(NAME) == platformdirs.user_data_path("bundle") / "outputs" / NAME


def test_overrides_only_for_ids_the_config_has_and_the_user_did_not_set(places, tmp_path):
    shipped, mine, outputs = places
    every = lambda key: True  # noqa: E731
    assert output_overrides(shipped, every, {}) == {"output_dir": str(outputs / NAME),
                                                    "log_dir": str(outputs / NAME / "logs")}
    assert output_overrides(shipped, lambda key: key == "output_dir", {}) == {"output_dir": str(outputs / NAME)}
    assert output_overrides(shipped, every, {"output_dir": "x"}) == {"log_dir": str(outputs / NAME / "logs")}
    assert output_overrides(mine, every, {}) == {}
    assert output_overrides(mine, every, {}, tmp_path / "d") == {"output_dir": str(tmp_path / "d"),
                                                                 "log_dir": str(tmp_path / "d" / "logs")}


def test_running_a_zoo_bundle_writes_to_the_output_folder_not_into_it(places, capsys):
    shipped, _, outputs = places
    assert main(["run", str(shipped), "inference"]) == 0
    predictions = sorted((outputs / NAME).glob("*.pt"))
    assert len(predictions) == 16
    assert not (shipped / "eval").exists()
    import torch

    mask = torch.load(predictions[0], weights_only=True)  # as README says to open one
    assert mask.shape == (1, 32, 32, 32) and mask.dtype == torch.uint8


def test_a_users_bundle_writes_where_its_config_says_unless_output_dir_is_given(places, tmp_path, capsys):
    _, mine, outputs = places
    assert main(["run", str(mine), "inference"]) == 0
    assert len(list((mine / "eval").glob("*.pt"))) == 16 and not outputs.exists()
    assert main(["run", str(mine), "inference", "--output_dir", str(tmp_path / "elsewhere")]) == 0
    assert len(list((tmp_path / "elsewhere").glob("*.pt"))) == 16


def test_monai_form_of_a_zoo_bundle_writes_to_the_output_folder(places, capsys):
    shipped, _, outputs = places
    assert main(["run", "--config_file", str(shipped / "configs" / "inference.json"),
                 "--bundle_root", str(shipped)]) == 0
    assert len(list((outputs / NAME).glob("*.pt"))) == 16
    assert not (shipped / "eval").exists()
