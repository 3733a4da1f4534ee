"""ConfigWorkflow: ids it evaluates, overrides, metadata, properties, scripts/, tracking, safe mode."""

from __future__ import annotations

import json
import sys

import pytest

from bundle.errors import FormatError, MissingDependencyError, MissingIdError, UnsafeConfigError
from bundle.workflows import ConfigWorkflow
from bundle.workflows.base import BundleFileNotFoundError, MissingPropertyError, WorkflowError
from bundle.workflows.config_workflow import as_config_files

# a config that records what ran, in order, in the list at id "log"
STEPS = {
    "log": [],
    "n": 2,
    "initialize": "$@log.append('init')",
    "run": ["$@log.append('run-a')", "$@log.append(@n * 10)"],
    "finalize": ["$@log.append('final')"],
}


def test_initialize_run_finalize_evaluate_their_ids_in_order(make_bundle):
    root = make_bundle({"train": STEPS})
    wf = ConfigWorkflow(str(root / "configs" / "train.json"))
    assert wf.initialize() == [None]
    assert wf.run() == [None, None]
    assert wf.finalize() == [None]
    assert wf.parser.get_parsed_content("log") == ["init", "run-a", 20, "final"]


def test_run_can_be_called_again_and_evaluates_again(make_bundle):
    root = make_bundle({"train": STEPS})
    wf = ConfigWorkflow(str(root / "configs" / "train.json"))
    wf.initialize()
    wf.run()
    wf.run()
    assert wf.parser.get_parsed_content("log") == ["init", "run-a", 20, "run-a", 20]


def test_other_ids_and_optional_init_and_final(make_bundle):
    root = make_bundle({"train": {"log": [], "training": ["$@log.append('t')"]}})
    wf = ConfigWorkflow(str(root / "configs" / "train.json"), run_id="training", init_id="nope", final_id="nope")
    assert wf.initialize() == []
    wf.run()
    assert wf.finalize() == []
    assert wf.parser.get_parsed_content("log") == ["t"]


def test_missing_run_id_has_close_matches(make_bundle):
    root = make_bundle({"train": {"training": "$1"}})
    wf = ConfigWorkflow(str(root / "configs" / "train.json"), run_id="trainin")
    wf.initialize()
    with pytest.raises(MissingIdError, match="id 'trainin' is not in the config") as info:
        wf.run()
    assert "did you mean 'training'" in info.value.hint
    assert "train.json" in str(info.value)


def test_several_config_files_merge_in_order(make_bundle):
    root = make_bundle({"train": {"n": 1, "log": [], "run": "$@log.append(@n)"}, "more": {"n": 5}})
    wf = ConfigWorkflow("['%s', '%s']" % (root / "configs" / "train.json", root / "configs" / "more.json"))
    wf.initialize()
    wf.run()
    assert wf.parser.get_parsed_content("log") == [5]


@pytest.mark.parametrize(
    "given, expected",
    [("a.json", ["a.json"]), (["a.json", "b.yaml"], ["a.json", "b.yaml"]),
     ("['a.json','b.json']", ["a.json", "b.json"]),
     ("a.json, b.json", ["a.json", "b.json"]), (("a.json",), ["a.json"])],
    ids=["one", "list", "list-string", "commas", "tuple"],
)
def test_config_file_forms(given, expected):
    assert as_config_files(given) == expected


def test_missing_config_file_lists_those_there(make_bundle):
    root = make_bundle({"train": {"run": "$1"}})
    with pytest.raises(FileNotFoundError, match="config file '.*trian.json' does not exist") as info:
        ConfigWorkflow(str(root / "configs" / "trian.json"))
    assert "did you mean 'train.json'" in info.value.hint


def test_overrides_through_the_api_follow_parser_setitem(make_bundle):
    root = make_bundle({"train": {"n": 1, "net": {"width": 2}, "log": [], "run": "$@log.append(@n + @net::width)"}})
    path = str(root / "configs" / "train.json")
    wf = ConfigWorkflow(path, **{"n": 10, "net::width": 5, "new": 1, "+log": ["seed"]})
    wf.initialize()
    wf.run()
    assert wf.parser.get_parsed_content("log") == ["seed", 15]
    assert wf.parser["new"] == 1  # a new id whose parent exists is added, as parser[id] = value does
    with pytest.raises(MissingIdError, match="'nothing'"):
        ConfigWorkflow(path, **{"nothing::deeper": 1})


def test_strict_overrides_refuse_ids_that_do_not_exist(make_bundle):
    root = make_bundle({"train": {"lr": 0.1, "run": "$1"}})
    wf = ConfigWorkflow(str(root / "configs" / "train.json"))
    with pytest.raises(MissingIdError, match="'lrr'") as info:
        wf.override({"lrr": 1}, strict=True, label="<command line>")
    assert "did you mean 'lr'" in info.value.hint and "+lrr" in info.value.hint
    wf.override({"+extra": 3}, strict=True)
    assert wf.parser["extra"] == 3


def test_default_metadata_next_to_the_configs(make_bundle):
    root = make_bundle({"train": {"v": "@_meta_::version", "run": "$1"}})
    wf = ConfigWorkflow(str(root / "configs" / "train.json"))
    assert wf.get_meta_file() == str(root / "configs" / "metadata.json")
    wf.initialize()
    assert wf.parser.get_parsed_content("v") == "0.1.0"
    bare = make_bundle({"train": {"run": "$1"}}, name="bare", meta=None)
    assert ConfigWorkflow(str(bare / "configs" / "train.json")).get_meta_file() is None


def test_explicit_missing_metadata_is_an_error(make_bundle):
    root = make_bundle({"train": {"run": "$1"}})
    with pytest.raises(BundleFileNotFoundError, match="metadata file '.*meta.json' does not exist"):
        ConfigWorkflow(str(root / "configs" / "train.json"), meta_file=str(root / "meta.json"))


@pytest.mark.parametrize(
    "text, error",
    [('{"version": "0.1.0",}', "ConfigSyntaxError"), ('["not", "a", "mapping"]', "must hold a mapping")],
    ids=["bad-json", "list"],
)
def test_broken_metadata_is_a_clear_error(make_bundle, text, error):
    root = make_bundle({"train": {"run": "$1"}}, files={"configs/metadata.json": text}, meta=None)
    from bundle.errors import ConfigError

    with pytest.raises((ConfigError, FormatError)) as info:
        ConfigWorkflow(str(root / "configs" / "train.json"))
    assert error in (type(info.value).__name__ + str(info.value))
    assert "metadata.json" in str(info.value)


# --- properties --------------------------------------------------------------------------------

INFER = {
    "bundle_root": ".", "device": "cpu", "dataset_dir": "/data", "dataset": [1, 2], "network_def": {"w": 3},
    "inferer": "$lambda x: x", "evaluator": "$len(@dataset)", "marker": [], "initialize": "$@marker.append(1)",
    "run": "$@evaluator",
}


def test_required_properties_are_checked_before_anything_runs_when_asked(make_bundle):
    config = {k: v for k, v in INFER.items() if k not in ("inferer", "dataset_dir")}
    root = make_bundle({"inference": config})
    wf = ConfigWorkflow(str(root / "configs" / "inference.json"), workflow_type="inference")
    with pytest.raises(MissingPropertyError) as info:
        wf.initialize(require_properties=True)
    assert [n for n, _ in info.value.missing] == ["dataset_dir", "inferer"]
    assert "inference.json" in str(info.value)
    assert wf.parser["marker"] == []  # initialize's expression did not run


def test_initialize_checks_no_properties_as_in_monai(make_bundle):
    config = {k: v for k, v in INFER.items() if k not in ("inferer", "dataset_dir")}
    root = make_bundle({"inference": config})
    wf = ConfigWorkflow(str(root / "configs" / "inference.json"), workflow_type="inference")
    wf.initialize()
    assert wf.parser.get_parsed_content("marker") == [1]
    assert wf.check_properties() == ["dataset_dir", "inferer"]
    assert wf.run() == [2]


def test_metadata_properties_are_checked_when_metadata_is_given(make_bundle):
    root = make_bundle({"inference": INFER}, meta={"version": "1"})
    wf = ConfigWorkflow(str(root / "configs" / "inference.json"), workflow_type="infer")
    with pytest.raises(MissingPropertyError, match="pytorch_version \\(config id '_meta_::pytorch_version'\\)") as info:
        wf.initialize(require_properties=True)
    assert info.value.file.endswith("metadata.json")
    assert "metadata" in info.value.hint


def test_properties_as_attributes(make_bundle):
    root = make_bundle({"inference": INFER})
    wf = ConfigWorkflow(str(root / "configs" / "inference.json"), workflow_type="infer")
    with pytest.raises(WorkflowError, match="before the workflow was initialized"):
        wf.evaluator  # noqa: B018
    wf.initialize()
    assert wf.check_properties() == []
    assert wf.evaluator == 2 and wf.version == "0.1.0" and wf.dataset_data is None
    wf.dataset = [1, 2, 3]  # sets config id "dataset"; the workflow must be initialized again
    assert wf.parser["dataset"] == [1, 2, 3]
    with pytest.raises(WorkflowError):
        wf.evaluator  # noqa: B018
    wf.initialize()
    assert wf.evaluator == 3
    assert wf.run() == [3]


def test_add_property_reads_its_config_id(make_bundle):
    root = make_bundle({"inference": {**INFER, "loss": "$'mse'"}})
    wf = ConfigWorkflow(str(root / "configs" / "inference.json"), workflow_type="infer")
    wf.add_property("loss", required=True, config_id="loss", desc="the loss")
    wf.add_property("optim", required=True, config_id="optimizer", desc="the optimizer")
    with pytest.raises(MissingPropertyError, match="optim \\(config id 'optimizer'\\): the optimizer"):
        wf.initialize(require_properties=True)
    del wf.properties["optim"]
    wf.initialize()
    assert wf.loss == "mse"


def test_check_properties_reports_optional_properties_referred_to_under_another_id(make_bundle):
    config = {**INFER, "evaluator": {"postprocessing": "@post"}, "post": 1, "postprocessing": 2}
    root = make_bundle({"inference": config})
    wf = ConfigWorkflow(str(root / "configs" / "inference.json"), workflow_type="infer")
    assert wf.check_properties() == ["postprocessing"]
    wf.parser["evaluator::postprocessing"] = "@postprocessing"
    assert wf.check_properties() == []


def test_properties_file(make_bundle, tmp_path):
    props = {"infer": {"model": {"description": "the model", "required": True, "id": "net"}}}
    (tmp_path / "props.json").write_text(json.dumps(props))
    root = make_bundle({"inference": {"run": "$1"}})
    wf = ConfigWorkflow(str(root / "configs" / "inference.json"), workflow_type="infer",
                        properties_path=str(tmp_path / "props.json"))
    with pytest.raises(MissingPropertyError, match="model \\(config id 'net'\\): the model"):
        wf.initialize(require_properties=True)


# --- scripts/ ----------------------------------------------------------------------------------

SCRIPT = """
import sys
ran = []
def here():
    return __file__
def scripts_on_path():
    return "scripts" in sys.modules
class Thing:
    def __init__(self, size):
        self.size = size
"""


def test_scripts_importable_from_initialize_to_finalize(make_bundle, no_scripts_module):
    root = make_bundle(
        {"train": {
            "initialize": ["$import scripts.tool", "$scripts.tool.ran.append('init')"],
            "thing": {"_target_": "scripts.tool.Thing", "size": 3},
            "run": ["$scripts.tool.ran.append(@thing.size)"],
            "finalize": ["$scripts.tool.ran.append('final')"],
        }},
        scripts={"tool": SCRIPT},
    )
    wf = ConfigWorkflow(str(root / "configs" / "train.json"))
    wf.initialize()
    tool = sys.modules["scripts.tool"]
    assert tool.here().startswith(str(root.resolve()))
    wf.run()
    wf.finalize()
    assert tool.ran == ["init", 3, "final"]
    assert "scripts.tool" not in sys.modules
    assert str(root.resolve()) not in sys.path


def test_scripts_gone_after_a_failed_initialize(make_bundle, no_scripts_module):
    root = make_bundle({"train": {"initialize": ["$import scripts.tool", "$1 / 0"], "run": "$1"}},
                       scripts={"tool": SCRIPT})
    wf = ConfigWorkflow(str(root / "configs" / "train.json"))
    with pytest.raises(Exception, match="division by zero"):
        wf.initialize()
    assert "scripts.tool" not in sys.modules and str(root.resolve()) not in sys.path


def test_safe_mode_does_not_put_the_bundle_on_sys_path(make_bundle, no_scripts_module):
    root = make_bundle({"train": {"initialize": ["$import scripts.tool"], "run": "$1"}}, scripts={"tool": SCRIPT})
    wf = ConfigWorkflow(str(root / "configs" / "train.json"), trusted=False)
    with pytest.raises(UnsafeConfigError, match="scripts"):
        wf.initialize()
    assert str(root.resolve()) not in sys.path


def test_safe_mode_runs_what_the_policy_allows(make_bundle):
    root = make_bundle({"train": {
        "net": {"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 1},
        "run": "$@net.out_features", "bad": "$__import__('os').getcwd()",
    }})
    wf = ConfigWorkflow(str(root / "configs" / "train.json"), trusted=False)
    wf.initialize()
    assert wf.run() == [1]
    with pytest.raises(UnsafeConfigError):
        ConfigWorkflow(str(root / "configs" / "train.json"), trusted=False, run_id="bad").run()


# --- tracking ----------------------------------------------------------------------------------

def test_tracking_mlflow_needs_mlflow(make_bundle, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    root = make_bundle({"train": {"run": "$1"}})
    with pytest.raises(MissingDependencyError, match="'mlflow' is not installed") as info:
        ConfigWorkflow(str(root / "configs" / "train.json"), tracking="mlflow")
    assert isinstance(info.value, ImportError)
    assert "pip install mlflow" in info.value.hint


def test_tracking_settings_patch_handlers_and_ids(make_bundle, tmp_path):
    config = {
        "bundle_root": str(tmp_path), "engine": {"handlers": ["a"]}, "handlers": "@engine::handlers",
        "run": "$@engine['handlers']",
    }
    root = make_bundle({"train": config})
    settings = {
        "handlers_id": {"trainer": {"id": "engine", "handlers": "engine::handlers"}},
        "configs": {"trainer": "tracker", "experiment_name": "exp"},
    }
    wf = ConfigWorkflow(str(root / "configs" / "train.json"), tracking=settings)
    wf.initialize()
    assert wf.run() == [["a", "tracker"]]
    assert wf.parser.get_parsed_content("experiment_name") == "exp"
    saved = list((tmp_path / "eval").glob("config_*.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["experiment_name"] == "exp"
