"""``verify_bundle``: a valid bundle verifies clean; each kind of broken bundle is caught, with where
and a hint; several problems are reported at once."""

from __future__ import annotations

import copy
import json

import pytest

from bundle.errors import FormatError
from bundle.format import VerificationError, verify_bundle
from bundle.format.report import CHECKS

from ..conftest import COMPAT
from .conftest import INFERENCE, save_weights, write_json


def found(report, check, severity="error"):
    return [p for p in report.problems if p.check == check and p.severity == severity]


def only(report, check):
    """The one error of ``check``, and no error from any other check."""
    errors = report.errors
    assert [p.check for p in errors] == [check], report.format()
    return errors[0]


def test_valid_bundle_verifies_clean(bundle_dir):
    report = verify_bundle(bundle_dir)
    assert report.ok, report.format()
    assert report.problems == []
    assert report.checked == list(CHECKS)
    assert report.skipped == {}
    assert report.summary() == "verified: 0 errors, 0 warnings in 9 checks"
    report.raise_for_problems()


def test_skipping_the_expensive_checks(bundle_dir):
    report = verify_bundle(bundle_dir, net=False, weights=False)
    assert report.ok
    assert report.skipped == {"network": "not requested", "weights": "not requested"}
    assert "network" not in report.checked and "skipped: network: not requested" in report.summary()


# --- layout, metadata, changelog, license -------------------------------------------------------


def test_missing_metadata(bundle_dir):
    (bundle_dir / "configs" / "metadata.json").unlink()
    report = verify_bundle(bundle_dir)
    problem = only(report, "layout")
    assert "configs/metadata.json is missing" in problem.message
    assert "bundle init" in problem.hint
    assert set(report.skipped) == set(CHECKS[1:])


def test_missing_folder(tmp_path):
    report = verify_bundle(tmp_path / "nothing")
    assert not report.ok and "does not exist" in report.errors[0].message


def test_missing_license_readme_and_models(make_bundle):
    inference = {k: v for k, v in INFERENCE.items() if k != "ckpt_path"}
    root = make_bundle(license=None, readme=None, weights=False, inference=inference)
    (root / "models").rmdir()
    report = verify_bundle(root, net=False, weights=False)
    messages = {(p.check, p.message) for p in report.errors}
    assert messages == {("license", "LICENSE is missing"), ("layout", "docs/README.md is missing"),
                        ("layout", "models/ is missing")}


def test_bad_metadata_json_with_line_numbers(bundle_dir):
    path = bundle_dir / "configs" / "metadata.json"
    path.write_text('{\n    "version": "0.2.0",\n    "task": "x",\n}\n')
    report = verify_bundle(bundle_dir)
    problem = found(report, "metadata")[0]
    assert problem.message.startswith("invalid JSON")
    assert (problem.location.file, problem.location.line) == ("configs/metadata.json", 4)
    assert report.skipped == {} and "network" in report.checked  # later checks still ran
    assert len(report.errors) == 1  # and did not repeat it


def test_bad_config_json_with_line_and_column(bundle_dir):
    (bundle_dir / "configs" / "inference.json").write_text('{\n  "a": 1\n  "b": 2\n}\n')
    problem = found(verify_bundle(bundle_dir, net=False), "configs")[0]
    assert str(problem.location) == "configs/inference.json:3:3"
    assert "invalid JSON" in problem.message


def test_schema_violation_points_at_the_value(bundle_dir, metadata):
    metadata["network_data_format"]["inputs"]["image"]["num_channels"] = "one"
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    report = verify_bundle(bundle_dir, net=False, weights=False)
    problem = only(report, "metadata")
    assert problem.config_id == "network_data_format::inputs::image::num_channels"
    assert problem.message.endswith("it must be an integer")
    text = (bundle_dir / "configs" / "metadata.json").read_text().splitlines()
    assert text[problem.location.line - 1].strip().startswith('"num_channels": "one"')


def test_monai_schema_url_requires_monai_version(bundle_dir, metadata):
    metadata["schema"] = ("https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/"
                          "meta_schema_20220729.json")
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    report = verify_bundle(bundle_dir, net=False, weights=False)
    messages = sorted(p.message for p in found(report, "metadata"))
    assert messages == [f"the required field '{f}' is missing"
                        for f in ("monai_version", "numpy_version", "optional_packages_version")]
    assert "remove \"schema\"" in found(report, "metadata")[0].hint


def test_unknown_schema_url_is_a_warning(bundle_dir, metadata):
    metadata["schema"] = "https://example.org/schema.json"
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    report = verify_bundle(bundle_dir, net=False, weights=False)
    assert report.ok
    warning = found(report, "metadata", "warning")[0]
    assert "not one of the bundled schemas" in warning.message and warning.location.line == 2


def test_no_changelog_entry_for_version(bundle_dir, metadata):
    metadata["version"] = "0.3.0"
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    problem = only(verify_bundle(bundle_dir, net=False, weights=False), "changelog")
    assert problem.message == "the changelog has no entry for version '0.3.0'"
    assert problem.location.line == 4 and '"0.3.0"' in problem.hint


def test_no_changelog(bundle_dir, metadata):
    del metadata["changelog"]
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    assert only(verify_bundle(bundle_dir, net=False, weights=False), "changelog").message == \
        'the metadata has no "changelog"'


@pytest.mark.parametrize("value,warns", [("MIT", False), ("Apache-2.0 OR MIT", False), ("LicenseRef-mine", False),
                                         ("See license.txt", True), (None, True)])
def test_license_identifier(bundle_dir, metadata, value, warns):
    if value is None:
        del metadata["license"]
    else:
        metadata["license"] = value
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    report = verify_bundle(bundle_dir, net=False, weights=False)
    assert report.ok
    assert bool(found(report, "license", "warning")) == warns


def test_empty_license_file(make_bundle):
    root = make_bundle(license="  \n")
    assert only(verify_bundle(root, net=False, weights=False), "license").message == "LICENSE is empty"


# --- large files --------------------------------------------------------------------------------


def test_large_file_path_traversal(bundle_dir):
    (bundle_dir / "large_files.yml").write_text(
        'large_files:\n- path: "models/ok.pt"\n  url: "https://example.org/a"\n'
        '- path: "../../etc/evil"\n  url: "https://example.org/b"\n'
    )
    report = verify_bundle(bundle_dir, net=False, weights=False)
    problem = only(report, "large_files")
    assert "goes up with '..'" in problem.message
    assert str(problem.location) == "large_files.yml:4:3" and problem.config_id == "large_files::1::path"
    assert [p.message for p in found(report, "large_files", "warning")] == [
        "'models/ok.pt' is listed in the large-files manifest but not fetched yet"]


def test_large_files_not_fetched_are_warnings_with_how_to_fetch(make_bundle):
    root = make_bundle(weights=False)
    write_json(root / "large_files.json", {"large_files": [
        {"path": "models/model.pt", "url": "https://example.org/model.pt", "hash_val": "", "hash_type": ""}]})
    report = verify_bundle(root)
    assert report.ok, report.format()
    warning = found(report, "large_files", "warning")[0]
    assert "download_large_files" in warning.hint and "https://example.org/model.pt" in warning.hint


def test_large_file_hash_is_checked(bundle_dir):
    import hashlib

    digest = hashlib.md5((bundle_dir / "models" / "model.pt").read_bytes()).hexdigest()
    manifest = {"large_files": [{"path": "models/model.pt", "url": "https://example.org/m", "hash_val": digest,
                                 "hash_type": "md5"}]}
    write_json(bundle_dir / "large_files.json", manifest)
    assert verify_bundle(bundle_dir, net=False).ok
    manifest["large_files"][0]["hash_val"] = "0" * 32
    write_json(bundle_dir / "large_files.json", manifest)
    assert "does not match its md5 digest" in only(verify_bundle(bundle_dir, net=False), "large_files").message


def test_large_file_schema_violation(bundle_dir):
    write_json(bundle_dir / "large_files.json", {"large_files": [{"path": "models/x.pt"}]})
    problem = only(verify_bundle(bundle_dir, net=False, weights=False), "large_files")
    assert problem.message == "the required field 'url' is missing in 'large_files::0'"


# --- configs ------------------------------------------------------------------------------------


def test_missing_reference_and_unknown_target(bundle_dir):
    config = copy.deepcopy(INFERENCE)
    config["network"] = "$@network_dfe.to(@device)"
    config["activation"]["_target_"] = "Softmaxx"
    config["post"] = "@actvation"
    write_json(bundle_dir / "configs" / "inference.json", config)
    report = verify_bundle(bundle_dir, net=False, weights=False)
    problems = {p.config_id: p for p in found(report, "configs")}
    assert set(problems) == {"network", "activation::_target_", "post"}
    assert problems["network"].message == "reference '@network_dfe' names no id in the config"
    assert "did you mean 'network_def'" in problems["network"].hint
    assert problems["activation::_target_"].message == "unknown _target_ 'Softmaxx'"
    assert "Softmax" in problems["activation::_target_"].hint
    assert str(problems["post"].location).startswith("configs/inference.json:")
    assert "did you mean 'activation'" in problems["post"].hint


def test_wrong_arguments_of_a_target(bundle_dir):
    config = copy.deepcopy(INFERENCE)
    config["network_def"]["kernel"] = 3
    del config["network_def"]["kernel_size"]
    write_json(bundle_dir / "configs" / "inference.json", config)
    problems = found(verify_bundle(bundle_dir, net=False, weights=False), "configs")
    assert {p.message for p in problems} == {
        "'kernel' is not an argument of torch.nn.Conv3d",
        "torch.nn.Conv3d needs the argument 'kernel_size', which the config does not give",
    }
    assert any("did you mean 'kernel_size'" in p.hint for p in problems)


def test_bad_macro(bundle_dir):
    config = copy.deepcopy(INFERENCE)
    config["copied"] = "%configs/nothing.json#network_def"
    write_json(bundle_dir / "configs" / "inference.json", config)
    problem = only(verify_bundle(bundle_dir, net=False, weights=False), "configs")
    assert problem.message.startswith("macro file 'configs/nothing.json' does not exist")
    assert problem.config_id == "copied" and problem.location.file == "configs/inference.json"


def test_expression_syntax_error_is_reported(bundle_dir):
    config = copy.deepcopy(INFERENCE)
    config["broken"] = "$1 +"
    write_json(bundle_dir / "configs" / "inference.json", config)
    problem = only(verify_bundle(bundle_dir, net=False, weights=False), "configs")
    assert problem.config_id == "broken" and "not valid Python" in problem.message


def test_layers_are_checked_on_their_base(bundle_dir):
    # evaluate.json uses @max_epochs and @network_def from train.yaml: no problem
    report = verify_bundle(bundle_dir, net=False, weights=False)
    assert report.ok
    write_json(bundle_dir / "configs" / "evaluate.json", {"evaluator": "@network_def", "epochs": "@max_epoch"})
    problem = only(verify_bundle(bundle_dir, net=False, weights=False), "configs")
    assert problem.message == "reference '@max_epoch' names no id in the config"
    assert "max_epochs" in problem.hint


def test_nested_id_keys_of_a_layer(bundle_dir):
    write_json(bundle_dir / "configs" / "multi_gpu_train.json", {"optimizer#lr": 0.2, "network_def#out_channels": 2})
    assert verify_bundle(bundle_dir, net=False, weights=False).ok
    write_json(bundle_dir / "configs" / "multi_gpu_train.json", {"optimiser#lr": 0.2})
    problem = only(verify_bundle(bundle_dir, net=False, weights=False), "configs")
    assert "optimiser" in problem.message and problem.location.file == "configs/multi_gpu_train.json"


def test_disabled_components_are_not_checked(bundle_dir):
    config = copy.deepcopy(INFERENCE)
    config["unused"] = {"_target_": "no.such.Thing", "_disabled_": True}
    write_json(bundle_dir / "configs" / "inference.json", config)
    assert verify_bundle(bundle_dir, net=False, weights=False).ok


def test_config_with_two_suffixes(bundle_dir):
    (bundle_dir / "configs" / "train.yml").write_text("a: 1\n")
    problem = only(verify_bundle(bundle_dir, net=False, weights=False), "configs")
    assert problem.message == "config 'train' exists twice: configs/train.yaml, configs/train.yml"


def test_data_lists_in_configs_are_not_configs(bundle_dir):
    write_json(bundle_dir / "configs" / "datalist.json", [{"image": "a.nii.gz"}, {"image": "$not an expression"}])
    assert verify_bundle(bundle_dir, net=False, weights=False).ok


def test_missing_import_is_a_warning(bundle_dir):
    config = copy.deepcopy(INFERENCE)
    config["imports"] = ["$import no_such_package_xyz"]
    write_json(bundle_dir / "configs" / "inference.json", config)
    report = verify_bundle(bundle_dir, net=False, weights=False)
    assert report.ok
    assert "not installed" in found(report, "configs", "warning")[0].message


def test_scripts_targets_are_located(bundle_dir):
    (bundle_dir / "scripts").mkdir()
    (bundle_dir / "scripts" / "__init__.py").write_text("")
    (bundle_dir / "scripts" / "nets.py").write_text("def build(channels):\n    return channels\n")
    write_json(bundle_dir / "configs" / "custom.json", {"a": {"_target_": "scripts.nets.build", "channels": 1},
                                                       "b": {"_target_": "scripts.nets.missing"}})
    problem = only(verify_bundle(bundle_dir, net=False, weights=False), "configs")
    assert problem.config_id == "b::_target_" and "scripts.nets.missing" in problem.message


# --- files the configs name ---------------------------------------------------------------------


def test_file_named_by_a_config_is_missing(bundle_dir):
    config = copy.deepcopy(INFERENCE)
    config["data_list"] = "$@bundle_root + '/configs/datalist.json'"
    config["labels"] = "docs/labels.csv"
    config["outside"] = "/tmp/somewhere/else.json"  # outside the bundle: not checked
    config["output_dir"] = "$@bundle_root + '/eval'"  # a folder: not checked
    config["pattern"] = "$@bundle_root + '/data/*.nii.gz'"  # a glob: not checked
    write_json(bundle_dir / "configs" / "inference.json", config)
    problems = {p.config_id: p for p in found(verify_bundle(bundle_dir, net=False, weights=False), "files")}
    assert set(problems) == {"data_list", "labels"}
    assert problems["data_list"].message.startswith("'configs/datalist.json' does not exist")
    assert problems["data_list"].location.file == "configs/inference.json"
    (bundle_dir / "configs" / "datalist.json").write_text("{}")
    (bundle_dir / "docs" / "labels.csv").write_text("")
    assert verify_bundle(bundle_dir, net=False, weights=False).ok


def test_weights_named_by_config_are_checked_as_files(make_bundle):
    root = make_bundle(weights=False)
    report = verify_bundle(root, net=False)
    assert {(p.check, p.config_id) for p in report.errors} == {("files", "ckpt_path"), ("weights", None)}


def test_expressions_that_build_components_are_not_evaluated(bundle_dir):
    config = copy.deepcopy(INFERENCE)
    config["side_effect"] = "$str(@network_def) + '/models/x.pt'"
    write_json(bundle_dir / "configs" / "inference.json", config)
    assert verify_bundle(bundle_dir, net=False, weights=False).ok


# --- network and weights ------------------------------------------------------------------------


def test_wrong_output_channels(bundle_dir, metadata):
    metadata["network_data_format"]["outputs"]["pred"]["num_channels"] = 3
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    problem = only(verify_bundle(bundle_dir), "network")
    assert problem.message == ("the output has 2 channels (shape (1, 2, 8, 2, 8)); 'pred' says num_channels is 3")
    assert problem.config_id == "network_data_format::outputs::pred::num_channels"
    assert problem.location.file == "configs/metadata.json" and problem.location.line > 1


def test_wrong_input_shape(bundle_dir, metadata):
    metadata["network_data_format"]["inputs"]["image"]["num_channels"] = 4
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    problem = only(verify_bundle(bundle_dir), "network")
    assert problem.message.startswith("the network fails on a random input of shape (1, 4, 8, 2, 8)")
    assert problem.config_id == "network_data_format::inputs::image"
    assert "p=1, n=1" in problem.hint


def test_spatial_expressions_use_p_and_n(bundle_dir):
    report = verify_bundle(bundle_dir, p=2, n=2)
    assert report.ok


def test_wrong_output_dtype(bundle_dir, metadata):
    metadata["network_data_format"]["outputs"]["pred"]["dtype"] = "int64"
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    assert "dtype is float32" in only(verify_bundle(bundle_dir), "network").message


def test_classification_output_without_spatial_dims(make_bundle, metadata):
    metadata["network_data_format"]["inputs"]["image"]["spatial_shape"] = [8, 8]
    metadata["network_data_format"]["outputs"]["pred"].update(spatial_shape=[], num_channels=3)
    inference = {
        "flat": {"_target_": "torch.nn.Flatten"},
        "fc": {"_target_": "torch.nn.Linear", "in_features": 64, "out_features": 3},
        "network_def": "$torch.nn.Sequential(@flat, @fc)",
    }
    root = make_bundle(metadata=metadata, inference=inference, weights=False, train=None, evaluate=None)
    import torch

    torch.manual_seed(0)
    torch.save(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)).state_dict(), root / "models" / "model.pt")
    report = verify_bundle(root)
    assert report.ok, report.format()


def test_weights_with_missing_and_unexpected_keys(bundle_dir):
    import torch

    save_weights(bundle_dir / "models" / "model.pt", torch.nn.Sequential(torch.nn.Conv3d(1, 2, 3, padding=1)))
    problem = only(verify_bundle(bundle_dir), "weights")
    assert problem.message == ("models/model.pt does not fit the network: missing keys (in the network, not in the "
                               "weights): weight, bias; unexpected keys (in the weights, not in the network): "
                               "0.weight, 0.bias")


def test_weights_with_wrong_shapes(bundle_dir):
    import torch

    save_weights(bundle_dir / "models" / "model.pt", torch.nn.Conv3d(1, 3, 3, padding=1))
    problem = only(verify_bundle(bundle_dir), "weights")
    assert "shape mismatches: weight: weights (3, 1, 3, 3, 3) vs network (2, 1, 3, 3, 3)" in problem.message


def test_weights_saved_from_ddp(bundle_dir):
    import torch

    state = {f"module.{k}": v for k, v in torch.nn.Conv3d(1, 2, 3, padding=1).state_dict().items()}
    torch.save(state, bundle_dir / "models" / "model.pt")
    assert "module." in only(verify_bundle(bundle_dir), "weights").hint


def test_weights_not_loadable(bundle_dir):
    (bundle_dir / "models" / "model.pt").write_bytes(b"\x00garbage")
    problem = only(verify_bundle(bundle_dir), "weights")
    assert "cannot be loaded with torch.load(weights_only=True)" in problem.message
    assert problem.location.file == "models/model.pt"


def test_weights_alone_with_no_net(bundle_dir):
    (bundle_dir / "models" / "model.pt").write_bytes(b"garbage")
    report = verify_bundle(bundle_dir, net=False)
    assert only(report, "weights") and report.skipped == {"network": "not requested"}


def test_network_that_cannot_be_built(bundle_dir):
    config = copy.deepcopy(INFERENCE)
    config["network_def"]["in_channels"] = -1
    write_json(bundle_dir / "configs" / "inference.json", config)
    report = verify_bundle(bundle_dir)
    problem = only(report, "network")
    assert problem.config_id == "network_def" and "Conv3d" in problem.message


def test_other_net_id_and_config(bundle_dir):
    report = verify_bundle(bundle_dir, net_id="nothing")
    assert only(report, "network").message == "any config defines no 'nothing'"
    assert verify_bundle(bundle_dir, config="train").ok


def test_not_a_module(bundle_dir):
    report = verify_bundle(bundle_dir, net_id="ckpt_path")
    assert "not a torch.nn.Module" in only(report, "network").message


def test_no_network_data_format_is_a_warning(bundle_dir, metadata):
    del metadata["network_data_format"]
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    report = verify_bundle(bundle_dir)
    assert report.ok and found(report, "network", "warning")


# --- everything at once -------------------------------------------------------------------------


def test_several_problems_are_reported_together(make_bundle, metadata):
    metadata["version"] = "0.9.0"
    metadata["network_data_format"]["outputs"]["pred"]["num_channels"] = 5
    del metadata["authors"]
    config = copy.deepcopy(INFERENCE)
    config["network"] = "$@netwrk_def"
    root = make_bundle(metadata=metadata, inference=config, license=None)
    (root / "large_files.yml").write_text('large_files:\n- path: "/abs/model.pt"\n  url: "https://example.org/x"\n')
    (root / "models" / "model.pt").write_bytes(b"bad")
    report = verify_bundle(root)
    assert {p.check for p in report.errors} == {"metadata", "changelog", "license", "large_files", "configs",
                                                "network", "weights"}
    text = report.format()
    for check in ("[metadata]", "[changelog]", "[license]", "[large_files]", "[configs]", "[network]", "[weights]"):
        assert check in text
    assert text.splitlines()[-1] == "FAILED: 7 errors, 0 warnings in 9 checks"
    with pytest.raises(VerificationError) as info:
        report.raise_for_problems()
    assert len(info.value.problems) == 7 and isinstance(info.value, FormatError)
    assert "7 problems:" in str(info.value)
    as_json = json.loads(json.dumps(report.as_dict()))
    assert as_json["errors"] == 7 and as_json["problems"][0]["check"] == "metadata"


@pytest.mark.skipif(not (COMPAT / "bundles").is_dir(), reason="the compat corpus (../shared) is not here")
def test_a_zoo_bundle_without_its_weights(monkeypatch):
    report = verify_bundle(COMPAT / "bundles" / "mednist_reg", net=False, weights=False)
    assert {p.check for p in report.errors} <= {"layout", "configs"}  # no README; ignite may be missing
    assert not found(report, "metadata") and not found(report, "changelog")
    assert [p.message for p in found(report, "large_files", "warning")] == [
        "'models/model.pt' is listed in the large-files manifest but not fetched yet"]
