"""create_workflow / run_workflow / run, args files, workflow classes by name, and which config
files a bundle folder's named configs are (the short form, torchrun layering)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from bundle.errors import BundleError, FormatError, MissingIdError, UnsafeConfigError
from bundle.workflows import ConfigWorkflow, PythonicWorkflow, create_workflow, run, run_workflow
from bundle.workflows.base import BundleFileNotFoundError, MissingPropertyError
from bundle.workflows.create import load_args_file, locate_workflow, make_workflow, prepare_workflow
from bundle.workflows.layout import bundle_config_files, config_names, world_size

RECORD = {"out": [], "initialize": "$@out.append('i')", "run": "$@out.append(@value)", "finalize": "$@out.append('f')",
          "value": 1}


@pytest.fixture
def train(make_bundle):
    return make_bundle({"train": RECORD})


def test_create_workflow_initializes(train):
    wf = create_workflow(config_file=str(train / "configs" / "train.json"), value=7)
    assert isinstance(wf, ConfigWorkflow)
    assert wf.parser.get_parsed_content("out") == ["i"]
    wf.run()
    wf.finalize()
    assert wf.parser.get_parsed_content("out") == ["i", 7, "f"]


def test_create_workflow_with_a_class_and_by_name(train):
    path = str(train / "configs" / "train.json")
    assert isinstance(create_workflow(ConfigWorkflow, config_file=path), ConfigWorkflow)
    assert isinstance(create_workflow("ConfigWorkflow", config_file=path), ConfigWorkflow)
    assert type(create_workflow("bundle.workflows.config_workflow.ConfigWorkflow", config_file=path)) is ConfigWorkflow


def test_args_file_gives_defaults_that_arguments_override(train, tmp_path):
    path = str(train / "configs" / "train.json")
    args = tmp_path / "args.yaml"
    args.write_text(f"config_file: {path}\nvalue: 3\nrun_id: run\n")
    assert create_workflow(args_file=str(args)).parser["value"] == 3
    assert create_workflow(args_file=str(args), value=4).parser["value"] == 4
    assert create_workflow(args_file=str(args), value=None).parser["value"] == 3  # None is "not given"


def test_args_file_must_be_a_mapping(tmp_path):
    (tmp_path / "a.json").write_text("[1]")
    with pytest.raises(FormatError, match="not a mapping of argument names"):
        load_args_file(tmp_path / "a.json")
    with pytest.raises(FileNotFoundError):
        load_args_file(tmp_path / "none.json")


def test_run_and_run_workflow(train, tmp_path):
    out = tmp_path / "out.txt"
    config = {"path": str(out), "run": "$open(@path, 'w').write(str(@n))", "n": 1}
    (train / "configs" / "write.json").write_text(json.dumps(config))
    run(config_file=str(train / "configs" / "write.json"), n=5)
    assert out.read_text() == "5"
    run_workflow(config_file=str(train / "configs" / "write.json"), n=6)
    assert out.read_text() == "6"
    run("run", config_file=str(train / "configs" / "write.json"), init_id=None)  # None: the default
    assert out.read_text() == "1"


def test_run_checks_the_run_id_before_initializing(train):
    with pytest.raises(MissingIdError, match="'rnu'") as info:
        run("rnu", config_file=str(train / "configs" / "train.json"))
    assert "did you mean 'run'" in info.value.hint


def test_missing_config_file_argument():
    with pytest.raises(FormatError, match="no config file given"):
        run_workflow()


def test_prepare_applies_overrides_as_monai_and_checks_properties(train, caplog):
    wf = make_workflow(config_file=str(train / "configs" / "train.json"))
    with pytest.raises(MissingIdError, match="'valeu'"):  # a new id needs its parent
        prepare_workflow(wf, {"valeu::x": 2})
    wf = make_workflow(config_file=str(train / "configs" / "train.json"))
    prepare_workflow(wf, {"valeu": 2, "brand_new": 3})  # new ids are added, as in MONAI
    assert (wf.parser["valeu"], wf.parser["brand_new"]) == (2, 3)
    assert "'valeu' is not in the config, so it is added as a new id; did you mean 'value'?" in caplog.text
    assert "brand_new" not in caplog.text  # nothing close: no warning
    wf = make_workflow(config_file=str(train / "configs" / "train.json"), workflow_type="train")
    with pytest.raises(MissingPropertyError, match="trainer"):
        prepare_workflow(wf, {"value": 2})
    assert wf.parser["out"] == []  # nothing ran


class Counting(PythonicWorkflow):
    def run(self):
        return "ran"

    def finalize(self):
        self.done = True


def test_pythonic_workflow_by_dotted_path_and_required_check(monkeypatch):
    monkeypatch.setitem(sys.modules, "wfmod", sys.modules[__name__])
    wf = create_workflow("wfmod.Counting")
    assert isinstance(wf, Counting)
    wf = create_workflow("wfmod.Counting", workflow_type="train")  # MONAI's create_workflow checks nothing
    assert "trainer" in wf.check_properties()
    with pytest.raises(MissingPropertyError, match="get_trainer\\(\\)"):  # the command line's path does
        prepare_workflow(make_workflow("wfmod.Counting", workflow_type="train"))


def test_workflow_names_that_are_not_workflows():
    with pytest.raises(BundleError, match="cannot find the workflow class 'no.such.Workflow'"):
        locate_workflow("no.such.Workflow")
    with pytest.raises(BundleError, match="not a workflow class"):
        locate_workflow("json.dumps")
    with pytest.raises(BundleError, match="did you mean 'ConfigWorkflow'"):
        locate_workflow("ConfigWorkflw")


def test_safe_mode_only_builds_built_in_workflows(train):
    with pytest.raises(UnsafeConfigError, match="does not import the workflow class"):
        locate_workflow("json.JSONDecoder", trusted=False)
    wf = create_workflow(config_file=str(train / "configs" / "train.json"), trusted=False)
    assert wf.parser.trusted is False


def test_dotted_workflow_class_follows_the_trust_rule(tmp_path, monkeypatch):
    """Unsaid trust: a dotted class is imported for configs the user points at, not for a download's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("BUNDLE_CACHE_DIR", str(cache))
    local, cached = tmp_path / "mine" / "train.json", cache / "b" / "configs" / "train.json"
    dotted = "bundle.workflows.config_workflow.ConfigWorkflow"
    assert locate_workflow(dotted, config_file=str(local)) is ConfigWorkflow
    assert locate_workflow(dotted) is ConfigWorkflow  # no config named: nothing downloaded
    with pytest.raises(UnsafeConfigError, match="does not import the workflow class") as info:
        locate_workflow(dotted, config_file=[str(cached), str(local)])
    assert "--trusted" in info.value.hint
    with pytest.raises(UnsafeConfigError):  # MONAI's "a.json,b.json" form, read as ConfigWorkflow reads it
        locate_workflow(dotted, config_file=f"{cached},{local}")
    assert locate_workflow(dotted, trusted=True, config_file=str(cached)) is ConfigWorkflow  # explicit wins


# --- the short form's files --------------------------------------------------------------------

@pytest.fixture
def multi(make_bundle):
    return make_bundle({"train": {}, "multi_gpu_train": {}, "evaluate.yaml": "a: 1\n", "inference": {}},
                       files={"configs/logging.conf": ""})


def test_config_names_leave_out_metadata_and_logging(multi):
    assert config_names(multi) == ["evaluate", "inference", "multi_gpu_train", "train"]


@pytest.mark.parametrize(
    "names, processes, expected",
    [
        (["inference"], 1, ["inference.json"]),
        (["train"], 1, ["train.json"]),
        (["train", "evaluate"], 1, ["train.json", "evaluate.yaml"]),
        (["train"], 2, ["train.json", "multi_gpu_train.json"]),
        (["train", "evaluate"], 4, ["train.json", "multi_gpu_train.json", "evaluate.yaml"]),
        (["train", "multi_gpu_train"], 2, ["train.json", "multi_gpu_train.json"]),
        (["inference"], 2, ["inference.json"]),
        (["train.json"], 1, ["train.json"]),
    ],
    ids=["one", "train", "two", "torchrun", "torchrun-two", "named-already", "no-multi", "file-name"],
)
def test_bundle_config_files(multi, names, processes, expected):
    files = bundle_config_files(multi, names, processes=processes)
    assert [f.rsplit("/", 1)[1] for f in files] == expected


@pytest.fixture
def layered(make_bundle):
    return make_bundle({
        "train": {"validate": {"split": "val"}, "run": "train"},
        "evaluate": {"validate::split": "test", "run": "evaluate"},
        "multi_gpu_train": {"initialize": []},
        "multi_gpu_evaluate": {"validate#split": "all"},
        "inference": {"run": "infer"},
        "inference_trt": {"+handlers": [], "network_def::mode": "trt"},
        "standalone": {"validate": {"split": "x"}, "validate::split": "y"},
    }, name="layered")


@pytest.mark.parametrize(
    "names, processes, expected",
    [
        (["evaluate"], 1, ["train.json", "evaluate.json"]),
        (["train", "evaluate"], 1, ["train.json", "evaluate.json"]),
        (["evaluate"], 2, ["train.json", "multi_gpu_train.json", "evaluate.json", "multi_gpu_evaluate.json"]),
        (["multi_gpu_evaluate"], 1, ["train.json", "evaluate.json", "multi_gpu_evaluate.json"]),
        (["inference_trt"], 1, ["inference.json", "inference_trt.json"]),
        (["train"], 1, ["train.json"]),
        (["standalone"], 1, ["standalone.json"]),
    ],
    ids=["evaluate-on-train", "base-named", "torchrun", "chain", "suffix-base", "not-a-layer", "own-root"],
)
def test_a_layer_is_loaded_after_its_base(layered, names, processes, expected):
    files = bundle_config_files(layered, names, processes=processes)
    assert [f.rsplit("/", 1)[1] for f in files] == expected


def test_a_layer_without_a_base_is_left_alone(make_bundle):
    root = make_bundle({"evaluate": {"validate::split": "test"}, "inference": {}}, name="nobase")
    assert [f.rsplit("/", 1)[1] for f in bundle_config_files(root, ["evaluate"])] == ["evaluate.json"]


def test_layering_is_logged(multi, caplog):
    with caplog.at_level(logging.INFO, logger="bundle"):
        bundle_config_files(multi, ["train"], processes=2)
    assert "2 processes: layering" in caplog.text and "multi_gpu_train.json" in caplog.text


def test_short_form_errors(multi, tmp_path):
    with pytest.raises(BundleFileNotFoundError, match="has no config 'trian' \\(configs there: evaluate, inference"):
        bundle_config_files(multi, ["trian"])
    with pytest.raises(BundleFileNotFoundError, match="bundle folder '.*nowhere' does not exist"):
        bundle_config_files(tmp_path / "nowhere", ["train"])
    with pytest.raises(FormatError, match="no config named") as info:
        bundle_config_files(multi, [])
    assert "evaluate" in info.value.hint
    (tmp_path / "plain").mkdir()
    with pytest.raises(FormatError, match="no configs/ folder"):
        bundle_config_files(tmp_path / "plain", ["train"])
    (multi / "configs" / "train.yaml").write_text("{}")
    with pytest.raises(FormatError, match="ambiguous"):
        bundle_config_files(multi, ["train"])


@pytest.mark.parametrize("value, expected", [(None, 1), ("2", 2), ("1", 1), ("x", 1)], ids=str)
def test_world_size(value, expected):
    assert world_size({} if value is None else {"WORLD_SIZE": value}) == expected
