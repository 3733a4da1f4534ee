"""init_bundle and ``bundle init``: templates render and verify, nothing is ever overwritten or left
half-written, and MONAI's arguments mean what they mean in MONAI."""

from __future__ import annotations

import inspect
import json
import stat

import pytest
import torch

from bundle.atomic import current_umask
from bundle.cli import main
from bundle.errors import FormatError
from bundle.format import init as init_module
from bundle.format.init import init_bundle, list_templates
from bundle.format.verify import verify_bundle

TEMPLATES = ["classification", "segmentation"]


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _leftovers(parent):
    """Temporary folders of init (``.NAME.*.init``) still in ``parent``."""
    return [p.name for p in parent.iterdir() if p.name.endswith(".init")]


# --- templates ------------------------------------------------------------------------------------


def test_list_templates_names_each_with_its_task():
    templates = list_templates()
    assert sorted(templates) == TEMPLATES
    assert "segmentation" in templates["segmentation"] and "classification" in templates["classification"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_template_renders_a_bundle_that_verifies(tmp_path, template):
    root = init_bundle(tmp_path / "my_bundle", template=template, name='Tricky "name" \\ here', authors="Jane Doe")
    assert root == (tmp_path / "my_bundle").absolute()
    expected = {
        "LICENSE", "configs/evaluate.json", "configs/inference.json", "configs/metadata.json",
        "configs/multi_gpu_train.json", "configs/train.json", "docs/README.md", "models/model.pt",
    }  # fmt: skip
    if template == "classification":  # ships data, so its license goes with it
        expected |= {"data/shapes.csv", "docs/data_license.txt"}
    assert set(_files(root)) == expected
    for rel in _files(root):
        if not rel.endswith((".pt", ".csv")):
            assert "{{" not in (root / rel).read_text(), rel
    meta = json.loads((root / "configs" / "metadata.json").read_text())
    assert meta["name"] == 'Tricky "name" \\ here' and meta["authors"] == "Jane Doe"
    assert meta["copyright"].startswith("Copyright (c) 20") and meta["copyright"].endswith("Jane Doe")
    assert meta["pytorch_version"] == torch.__version__.split("+")[0]
    assert (root / "docs" / "README.md").read_text().startswith('# Tricky "name" \\ here\n')
    assert "python -m bundle run my_bundle train" in (root / "docs" / "README.md").read_text()
    assert "Apache License" in (root / "LICENSE").read_text()
    report = verify_bundle(root)
    assert report.ok and not report.warnings, report.format()


def test_defaults_name_the_bundle_after_its_folder(tmp_path):
    root = init_bundle(tmp_path / "spleen_seg")
    meta = json.loads((root / "configs" / "metadata.json").read_text())
    assert meta["name"] == "spleen_seg" and meta["authors"] == "the authors of spleen_seg"
    assert "segmentation" in meta["task"]


def test_random_initial_weights_are_seeded_and_leave_the_callers_random_state(tmp_path):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = init_bundle(tmp_path / "a")
    assert torch.equal(torch.rand(3), expected_next)
    second = init_bundle(tmp_path / "b")
    a, b = (torch.load(r / "models" / "model.pt", weights_only=True) for r in (first, second))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_files_and_folders_get_the_usual_permissions(tmp_path):
    root = init_bundle(tmp_path / "perm")
    assert stat.S_IMODE(root.stat().st_mode) == 0o777 & ~current_umask()
    assert stat.S_IMODE((root / "configs" / "train.json").stat().st_mode) == 0o666 & ~current_umask()


def test_an_unknown_placeholder_in_a_template_is_an_error(tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    (templates / "broken" / "configs").mkdir(parents=True)
    (templates / "broken" / "configs" / "metadata.json").write_text('{"task": "t", "name": "{{nmae}}"}')
    monkeypatch.setattr(init_module, "TEMPLATES_DIR", templates)
    with pytest.raises(FormatError, match="unknown placeholder '{{nmae}}'") as info:
        init_bundle(tmp_path / "out", template="broken")
    assert "name" in info.value.hint
    assert not (tmp_path / "out").exists() and not _leftovers(tmp_path)


def test_unknown_template_suggests_the_close_one(tmp_path):
    with pytest.raises(FormatError, match="unknown bundle template 'segmentaton'") as info:
        init_bundle(tmp_path / "x", template="segmentaton")
    assert "segmentation" in info.value.hint
    assert not (tmp_path / "x").exists()


# --- never overwrite, never half-written ------------------------------------------------------------


def test_refuses_a_folder_that_is_not_empty_and_leaves_it_alone(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(FormatError, match="exists and is not empty") as info:
        init_bundle(target)
    assert isinstance(info.value, ValueError)  # MONAI raises ValueError
    assert "never overwrites" in info.value.hint
    assert _files(target) == ["notes.txt"] and (target / "notes.txt").read_text() == "keep me"
    assert not _leftovers(tmp_path)


def test_an_empty_folder_is_filled(tmp_path):
    (tmp_path / "empty").mkdir()
    root = init_bundle(tmp_path / "empty")
    assert (root / "configs" / "metadata.json").is_file() and not _leftovers(tmp_path)


def test_refuses_a_file_of_that_name(tmp_path):
    (tmp_path / "b").write_text("x")
    with pytest.raises(FormatError, match="a file of that name exists"):
        init_bundle(tmp_path / "b")
    assert (tmp_path / "b").read_text() == "x" and not _leftovers(tmp_path)


def test_refuses_a_missing_parent_as_monai_does(tmp_path):
    with pytest.raises(FormatError, match="parent folder .*missing' does not exist") as info:
        init_bundle(tmp_path / "missing" / "b")
    assert "mkdir -p" in info.value.hint and not (tmp_path / "missing").exists()


def test_a_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(init_module, "_write_weights", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        init_bundle(tmp_path / "half")
    assert not (tmp_path / "half").exists() and not _leftovers(tmp_path)


def test_a_network_that_cannot_be_built_is_an_error_and_leaves_nothing(tmp_path):
    inference = {"network_def": {"_target_": "NoSuchNetwork"}, "run": []}
    with pytest.raises(FormatError, match="cannot build 'network_def' of configs/inference.json") as info:
        init_bundle(tmp_path / "bad", inference_str=inference)
    assert "ckpt_file" in info.value.hint
    assert not (tmp_path / "bad").exists() and not _leftovers(tmp_path)


# --- MONAI's arguments ------------------------------------------------------------------------------


def test_signature_starts_with_monais_arguments():
    monai_scripts = pytest.importorskip("monai.bundle.scripts")
    ours = list(inspect.signature(init_bundle).parameters)
    theirs = list(inspect.signature(monai_scripts.init_bundle).parameters)
    assert ours[: len(theirs)] == theirs


def test_ckpt_file_is_copied(tmp_path):
    net = torch.nn.Conv2d(1, 1, 1)
    ckpt = tmp_path / "weights.pt"
    torch.save(net.state_dict(), ckpt)
    root = init_bundle(tmp_path / "b", ckpt)
    assert (root / "models" / "model.pt").read_bytes() == ckpt.read_bytes()
    with pytest.raises(FormatError, match="checkpoint file .* does not exist"):
        init_bundle(tmp_path / "c", tmp_path / "nope.pt")
    assert not (tmp_path / "c").exists()


def test_network_state_dict_is_saved_through_a_ddp_style_wrapper(tmp_path):
    from bundle.components.networks import CompactUNet

    net = CompactUNet(spatial_dims=2, in_channels=1, out_channels=3, channels=[8, 16, 32])
    wrapper = torch.nn.Module()
    wrapper.module = net
    root = init_bundle(tmp_path / "b", network=wrapper)
    saved = torch.load(root / "models" / "model.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in net.state_dict().items())
    assert verify_bundle(root).ok


def test_dataset_license(tmp_path):
    without = init_bundle(tmp_path / "a", template="segmentation")
    assert not (without / "docs" / "data_license.txt").exists()
    with_license = init_bundle(tmp_path / "b", template="segmentation", dataset_license=True)
    text = (with_license / "docs" / "data_license.txt").read_text()
    assert text.startswith("b: data license") and "SyntheticEllipsoids" in text


def test_metadata_and_inference_replace_the_templates(tmp_path):
    meta = {"version": "0.0.1", "changelog": {"0.0.1": "x"}, "pytorch_version": "2.4", "task": "t",
            "description": "d", "authors": "a", "copyright": "c"}
    inference = json.loads((init_module.TEMPLATES_DIR / "segmentation" / "configs" / "inference.json").read_text())
    inference["network_def"]["channels"] = [4, 8]
    root = init_bundle(tmp_path / "b", metadata_str=json.dumps(meta), inference_str=inference)
    assert json.loads((root / "configs" / "metadata.json").read_text()) == meta
    assert json.loads((root / "configs" / "inference.json").read_text())["network_def"]["channels"] == [4, 8]
    weights = torch.load(root / "models" / "model.pt", weights_only=True)
    assert weights["encoders.0.0.weight"].shape[0] == 4  # built from the inference config given


@pytest.mark.parametrize(
    "value, match",
    [("{not json", "is not valid JSON"), ("[1, 2]", "must be a JSON object"), (3, "must be a dict or JSON text")],
    ids=["syntax", "list", "number"],
)
def test_metadata_str_must_be_a_json_object(tmp_path, value, match):
    with pytest.raises(FormatError, match=f"metadata_str {match}"):
        init_bundle(tmp_path / "b", metadata_str=value)
    assert not (tmp_path / "b").exists() and not _leftovers(tmp_path)


# --- the command ------------------------------------------------------------------------------------


def test_cli_init_and_its_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "cls", "--template", "classification", "--authors", "Jane"]) == 0
    out = capsys.readouterr().out
    assert "created" in out and "template 'classification'" in out and "python -m bundle run cls train" in out
    assert json.loads((tmp_path / "cls" / "configs" / "metadata.json").read_text())["authors"] == "Jane"
    assert main(["init", "cls"]) == 1
    assert "exists and is not empty" in capsys.readouterr().err
    assert main(["init"]) == 1
    assert "no bundle folder given" in capsys.readouterr().err
    assert main(["init", "--list_templates"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == TEMPLATES


def test_cli_monai_form_init_bundle_with_positional_checkpoint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = init_bundle(tmp_path / "first")
    assert main(["init_bundle", "second", str(first / "models" / "model.pt"), "--dataset_license",
                 "--name", "2024"]) == 0
    assert "copied from" in capsys.readouterr().out
    second = tmp_path / "second"
    assert (second / "models" / "model.pt").read_bytes() == (first / "models" / "model.pt").read_bytes()
    assert (second / "docs" / "data_license.txt").is_file()
    assert json.loads((second / "configs" / "metadata.json").read_text())["name"] == "2024"  # not the int 2024
