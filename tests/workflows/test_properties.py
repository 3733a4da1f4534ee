"""Property sets, workflow types, properties files, and the checks a workflow makes with them."""

from __future__ import annotations

import json

import pytest

from bundle.errors import FormatError
from bundle.workflows import InferProperties, MetaProperties, TrainProperties
from bundle.workflows.base import BundleFileNotFoundError, BundleWorkflow, MissingPropertyError
from bundle.workflows.properties import load_properties, normalize_workflow_type


@pytest.mark.parametrize(
    "given, expected",
    [("train", "train"), ("training", "train"), ("Training", "train"), ("infer", "infer"),
     ("inference", "infer"), ("eval", "infer"), ("EVALUATION", "infer"), (None, None)],
    ids=lambda v: str(v),
)
def test_workflow_types_are_normalised(given, expected):
    assert normalize_workflow_type(given) == expected


def test_unknown_workflow_type_is_a_value_error_with_close_matches():
    with pytest.raises(FormatError, match="unsupported workflow type 'trian'") as info:
        normalize_workflow_type("trian")
    assert isinstance(info.value, ValueError)
    assert "'train'" in info.value.hint


@pytest.mark.monai
def test_property_sets_are_monais():
    pytest.importorskip("monai")
    from monai.bundle import properties as theirs

    def plain(props):  # MONAI's keys are string enums; ids use '#'
        return {
            name: {str(k): (v.replace("#", "::") if isinstance(v, str) and str(k) in ("id", "refer_id") else v)
                   for k, v in p.items()}
            for name, p in props.items()
        }

    assert plain(theirs.TrainProperties) == TrainProperties
    assert list(theirs.TrainProperties) == list(TrainProperties)
    assert plain(theirs.InferProperties) == InferProperties
    # the one deliberate difference: a bundle on torch alone need not name MONAI's or numpy's version
    relaxed = plain(theirs.MetaProperties)
    for name in ("monai_version", "numpy_version"):
        relaxed[name]["required"] = False
    assert relaxed == MetaProperties


def test_required_names_and_ids():
    required = {n: p["id"] for n, p in TrainProperties.items() if p["required"]}
    assert required == {
        "bundle_root": "bundle_root", "device": "device", "dataset_dir": "dataset_dir", "trainer": "train::trainer",
        "max_epochs": "train::trainer::max_epochs", "train_dataset": "train::dataset",
        "train_inferer": "train::inferer",
    }
    assert [n for n, p in InferProperties.items() if p["required"]] == [
        "bundle_root", "device", "dataset_dir", "dataset", "evaluator", "network_def", "inferer",
    ]
    assert [n for n, p in MetaProperties.items() if p["required"]] == [
        "version", "pytorch_version",  # MONAI also requires monai_version and numpy_version
    ]


@pytest.mark.parametrize(
    "workflow_type, names",
    [("train", set(TrainProperties) | set(MetaProperties)), ("infer", set(InferProperties) | set(MetaProperties)),
     (None, set(MetaProperties))],
    ids=["train", "infer", "none"],
)
def test_builtin_sets_by_type_are_copies(workflow_type, names):
    props = load_properties(workflow_type)
    assert set(props) == names
    props["version"]["required"] = False
    assert MetaProperties["version"]["required"] is True


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_properties_file_section_plus_meta(tmp_path, suffix):
    data = {
        "train": {"net": {"description": "the net", "required": True, "id": "model"}},
        "meta": {"version": {"description": "v", "required": True, "id": "_meta_::version"}},
    }
    path = tmp_path / f"props{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(data))
    else:
        import yaml

        path.write_text(yaml.safe_dump(data))
    assert set(load_properties("train", path)) == {"net", "version"}
    assert set(load_properties(None, path)) == {"version"}


def test_properties_file_errors(tmp_path):
    with pytest.raises(BundleFileNotFoundError, match="does not exist"):
        load_properties("train", tmp_path / "none.json")
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"train": {}}))
    with pytest.raises(FormatError, match="no 'infer' section") as info:
        load_properties("infer", path)
    assert "train" in info.value.hint
    path.write_text(json.dumps({"train": {"x": {"required": "yes"}}}))
    with pytest.raises(FormatError, match="property 'x' in section 'train'"):
        load_properties("train", path)
    path.write_text("[1, 2]")
    with pytest.raises(FormatError, match="not a mapping"):
        load_properties("train", path)


class Plain(BundleWorkflow):
    """A workflow whose properties are attributes in a dict."""

    def __init__(self, values=None, **kw):
        super().__init__(**kw)
        self.values = dict(values or {})

    def initialize(self):
        return None

    def run(self):
        return "ran"

    def finalize(self):
        return None

    def _get_property(self, name, property):
        if name not in self.values:
            raise AttributeError(name)
        return self.values[name]

    def _set_property(self, name, property, value):
        self.values[name] = value


def test_attribute_access_routes_to_properties():
    wf = Plain({"trainer": "T"}, workflow_type="training")
    assert wf.get_workflow_type() == "train"
    assert wf.trainer == "T"
    wf.device = "cpu"
    assert wf.values["device"] == "cpu"
    assert "device" not in wf.__dict__
    with pytest.raises(AttributeError, match="no attribute or property 'nothing'"):
        wf.nothing  # noqa: B018


def test_check_properties_lists_missing_required_names():
    wf = Plain({"bundle_root": ".", "device": "cpu"}, workflow_type="train")
    missing = wf.check_properties()
    assert "dataset_dir" in missing and "trainer" in missing
    assert "bundle_root" not in missing and "network_def" not in missing  # optional
    assert "version" in missing  # MONAI's meaning: every required property


def test_require_properties_names_each_property_its_id_and_purpose():
    wf = Plain({"bundle_root": ".", "device": "cpu", "dataset_dir": "/d", "dataset": 1, "evaluator": 2},
               workflow_type="infer")
    with pytest.raises(MissingPropertyError) as info:
        wf.require_properties()
    err = info.value
    assert [n for n, _ in err.missing] == ["network_def", "inferer"]  # no metadata given: meta not checked
    text = str(err)
    assert "missing 2 required properties of an 'infer' workflow" in text
    assert "network_def (config id 'network_def'): network module for the inference." in text
    assert "inferer (config id 'inferer')" in text
    assert isinstance(err, ValueError)


def test_add_property_is_checked():
    wf = Plain({}, workflow_type=None)
    wf.add_property("loss", required=True, desc="the loss function")
    with pytest.raises(MissingPropertyError, match="loss: the loss function"):
        wf.require_properties()
    wf.values["loss"] = "mse"
    wf.require_properties()


def test_missing_meta_file_is_an_error_not_a_log(tmp_path):
    with pytest.raises(BundleFileNotFoundError, match="metadata file '.*nope.json' does not exist") as info:
        Plain(meta_file=str(tmp_path / "nope.json"))
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, FormatError)
    (tmp_path / "metadata.json").write_text("{}")
    assert Plain(meta_file=str(tmp_path / "metadata.json")).get_meta_file() == str(tmp_path / "metadata.json")
    with pytest.raises(BundleFileNotFoundError, match="did you mean 'metadata.json'"):
        Plain(meta_file=[str(tmp_path / "metadata.json"), str(tmp_path / "metadta.json")])
