"""The export commands through the CLI's main(), and MONAI's ckpt_export / onnx_export functions."""

from __future__ import annotations

import json
import os

import pytest
import torch

from bundle.cli import COMMANDS, main
from bundle.export import ckpt_export, onnx_export
from bundle.export.torchscript import read_extra_files


def test_commands_are_listed():
    for name in ("export", "ckpt_export", "onnx_export", "trt_export"):
        assert COMMANDS[name][0].startswith("bundle.cli.export:")


def test_export_prints_the_parity_report(zoo_copy, capsys):
    root = zoo_copy("digits_classification")
    assert main(["export", str(root), "--format", "torchscript", "--trace"]) == 0
    out = capsys.readouterr().out
    assert "to torchscript" in out and "mode=trace" in out and "input 3x1x8x8  pred: max abs" in out
    assert (root / "models" / "model.ts").is_file()


def test_export_onnx_options(zoo_copy, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    root = zoo_copy("ellipsoid_segmentation")
    out = tmp_path / "seg.onnx"
    code = main(["export", str(root), "--format", "onnx", "--output", str(out), "--exporter", "torchscript",
                 "--dynamic_spatial", "--opset", "17", "--atol", "1e-3"])
    assert code == 0 and out.is_file()
    assert "dynamic_spatial=True" in capsys.readouterr().out


def test_export_errors_exit_1_with_the_hint(zoo_copy, capsys):
    root = zoo_copy("digits_classification")
    assert main(["export", str(root), "--net_id", "netwrk_def"]) == 1
    err = capsys.readouterr().err
    assert "defines no network 'netwrk_def'" in err and "did you mean 'network_def'" in err


def test_export_no_verify_and_overrides(zoo_copy, capsys):
    root = zoo_copy("digits_classification")
    # an override that changes the network: the checkpoint no longer fits
    assert main(["export", str(root), "--network_def::channels", "[16,32]"]) == 1
    assert "does not fit" in capsys.readouterr().err
    assert main(["export", str(root), "--no-verify"]) == 0
    assert "not checked" in capsys.readouterr().out


def test_ckpt_export_with_monai_arguments(zoo_copy, monkeypatch, capsys):
    root = zoo_copy("digits_classification")
    monkeypatch.chdir(root)
    assert main(["ckpt_export", "--config_file", "configs/inference.json", "--filepath", "models/exported",
                 "--use_trace", "True"]) == 0
    assert "mode=trace" in capsys.readouterr().out
    extra = read_extra_files(root / "models" / "exported.ts", ("metadata.json", "inference.json"))
    version = json.loads((root / "configs" / "metadata.json").read_text())["version"]
    assert json.loads(extra["metadata.json"])["version"] == version
    assert json.loads(extra["inference.json"])["network_def"]["channels"] == [32, 64]


def test_ckpt_export_function_defaults_under_bundle_root(zoo_copy):
    root = zoo_copy("digits_classification")
    report = ckpt_export(config_file=str(root / "configs" / "inference.json"), bundle_root=str(root),
                         input_shape=[1, 1, 8, 8])
    assert report.ok and report.output == os.path.join(str(root), "models", "model.ts")
    assert [c.input_shape for c in report.checks] == [(2, 1, 8, 8), (1, 1, 8, 8), (3, 1, 8, 8)]


def test_onnx_export_function(zoo_copy, tmp_path):
    pytest.importorskip("onnxruntime")
    root = zoo_copy("digits_classification")
    report = onnx_export(filepath=str(tmp_path / "m.onnx"), ckpt_file=str(root / "models" / "model.pt"),
                         meta_file=str(root / "configs" / "metadata.json"),
                         config_file=str(root / "configs" / "inference.json"), use_trace=True,
                         converter_kwargs={"opset_version": 17}, bundle_root=str(root))
    assert report.ok and report.options["exporter"] == "torchscript" and report.options["opset"] == 17
    assert (tmp_path / "m.onnx").is_file()


def test_ckpt_export_without_config_file():
    from bundle.errors import FormatError

    with pytest.raises(FormatError, match="no config file given"):
        ckpt_export(filepath="x.ts")
