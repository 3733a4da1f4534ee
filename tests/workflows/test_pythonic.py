"""PythonicWorkflow: properties from set values, metadata and get_<name>() methods."""

from __future__ import annotations

import json

import pytest
import torch

from bundle.workflows import PythonicWorkflow
from bundle.workflows.base import MissingPropertyError, WorkflowError

from tests.workflows.conftest import META


class Infer(PythonicWorkflow):
    built = 0

    def initialize(self):
        super().initialize()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(2, 1)

    def run(self):
        return self.network_def(torch.ones(1, 2))

    def finalize(self):
        self.net = None

    def get_network_def(self):
        type(self).built += 1
        return self.net

    def get_bundle_root(self):
        return "."

    def get_device(self):
        return torch.device("cpu")

    def get_dataset_dir(self):
        return self.parser.get_parsed_content("dataset_dir")


@pytest.fixture
def meta_file(tmp_path):
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps({**META, "description": "tiny"}))
    return str(path)


def test_properties_from_getters_metadata_and_config(tmp_path, meta_file):
    config = tmp_path / "hyper.json"
    config.write_text('{"dataset_dir": "/data"}')
    wf = Infer(workflow_type="infer", config_file=str(config), meta_file=meta_file)
    with pytest.raises(WorkflowError):
        wf.network_def  # noqa: B018
    wf.initialize()
    assert wf.dataset_dir == "/data"
    assert wf.version == "0.1.0" and wf.description == "tiny"  # from the metadata
    assert isinstance(wf.network_def, torch.nn.Linear)
    before = Infer.built
    wf.network_def  # noqa: B018  (computed once per initialize)
    assert Infer.built == before
    assert wf.run().shape == (1, 1)
    wf.finalize()


def test_set_value_wins_and_marks_uninitialized(meta_file):
    wf = Infer(workflow_type="infer", meta_file=meta_file)
    wf.initialize()
    other = torch.nn.Identity()
    wf.network_def = other
    with pytest.raises(WorkflowError):
        wf.network_def  # noqa: B018
    wf.initialize()
    assert wf.network_def is other


def test_missing_getters_are_named_before_running(meta_file):
    wf = Infer(workflow_type="infer", meta_file=meta_file)
    wf.initialize()
    assert wf.check_properties() == ["dataset", "evaluator", "inferer"]
    with pytest.raises(MissingPropertyError) as info:
        wf.require_properties()
    assert [n for n, _ in info.value.missing] == ["dataset", "evaluator", "inferer"]
    assert "get_dataset()" in info.value.hint
    with pytest.raises(MissingPropertyError, match="dataset \\(config id 'dataset'\\)"):
        wf.dataset  # noqa: B018
    assert wf.handlers is None  # optional and not provided


def test_without_a_type_only_metadata_is_checked(tmp_path):
    (tmp_path / "m.json").write_text('{"version": "1"}')
    wf = Infer(meta_file=str(tmp_path / "m.json"))
    wf.initialize()
    with pytest.raises(MissingPropertyError, match="pytorch_version") as info:
        wf.require_properties()
    assert "metadata" in info.value.hint
    Infer().require_properties()  # no metadata, no type: nothing to check


def test_overrides_and_no_cwd_metadata(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metadata.json").write_text(json.dumps(META))
    config = tmp_path / "c.json"
    config.write_text('{"dataset_dir": "/a"}')
    wf = Infer(config_file=str(config), dataset_dir="/b")
    assert wf.get_meta_file() is None  # MONAI would read ./metadata.json
    wf.initialize()
    assert wf.get_dataset_dir() == "/b"
