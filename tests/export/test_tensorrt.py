"""TensorRT export: option checks, the shape range from network_data_format, the error without CUDA
or without the converter's package, and the real export where a GPU with TensorRT is there (skipped
elsewhere: the calls into Torch-TensorRT and TensorRT are not imitated with stand-ins)."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from bundle.errors import ExportError, MissingDependencyError
from bundle.export import export_bundle, trt_export
from bundle.export.inputs import input_spec
from bundle.export.options import DEFAULT_BATCH_RANGE, check_batch_range, check_converter
from bundle.export.tensorrt.profile import ShapeRange, shape_range

CUDA = torch.cuda.is_available()


def leftovers(folder, name):
    return sorted(p.name for p in folder.iterdir() if name in p.name)


def spec_of(spatial, channels=1, **io):
    return input_spec({"network_data_format": {"inputs": {"image": {"num_channels": channels,
                                                                   "spatial_shape": spatial, **io}}}})


# --- the shape range (pure) --------------------------------------------------------------------


def test_shape_range_batch_only_keeps_the_example_spatial_size():
    shapes = shape_range(spec_of(["8*n", "8*n", "8*n"]), [1, 2, 4])
    assert shapes == ShapeRange(min=(1, 1, 16, 16, 16), opt=(2, 1, 16, 16, 16), max=(4, 1, 16, 16, 16))


def test_shape_range_dynamic_spatial_spans_n():
    shapes = shape_range(spec_of(["8*n", "8*n", "8*n"]), "1,4,8", dynamic_spatial=True)
    assert shapes.min == (1, 1, 8, 8, 8) and shapes.opt == (4, 1, 16, 16, 16) and shapes.max == (8, 1, 32, 32, 32)
    assert shape_range(spec_of(["2**p", 96, "*"]), dynamic_spatial=True, spatial_n=(1, 3, 5)).as_dict() == {
        "min": [1, 1, 2, 96, 8], "opt": [2, 1, 8, 96, 24], "max": [4, 1, 32, 96, 40]}


def test_shape_range_fixed_sizes_and_input_shape_stay_fixed():
    assert shape_range(spec_of([8, 8]), dynamic_spatial=True) == ShapeRange((1, 1, 8, 8), (2, 1, 8, 8), (4, 1, 8, 8))
    fixed = input_spec({}, input_shape=[1, 3, 32, 32])
    assert shape_range(fixed, [2, 2, 6], dynamic_spatial=True) == ShapeRange((2, 3, 32, 32), (2, 3, 32, 32),
                                                                           (6, 3, 32, 32))


def test_parity_shapes_are_the_usual_then_both_ends_once_each():
    assert shape_range(spec_of([8, 8]), [1, 2, 4]).parity_shapes() == [(2, 1, 8, 8), (1, 1, 8, 8), (4, 1, 8, 8)]
    assert shape_range(spec_of([8, 8]), [3, 3, 3]).parity_shapes() == [(3, 1, 8, 8)]


@pytest.mark.parametrize("value, expected", [
    (None, DEFAULT_BATCH_RANGE), ([1, 2, 4], (1, 2, 4)), ((2, 2, 2), (2, 2, 2)), ("1,4,8", (1, 4, 8)),
    ("[1, 4, 8]", (1, 4, 8)), ([1.0, 2.0, 3.0], (1, 2, 3)),
], ids=["default", "list", "fixed", "string", "bracketed-string", "whole-floats"])
def test_batch_range_accepted(value, expected):
    assert check_batch_range(value) == expected


@pytest.mark.parametrize("value", [[1, 2], [1, 2, 3, 4], [4, 2, 1], [0, 1, 2], "a,b,c", [1.5, 2, 3], [True, 2, 3], 4],
                         ids=["two", "four", "descending", "zero", "words", "fraction", "bool", "scalar"])
def test_batch_range_rejected(value):
    with pytest.raises(ExportError, match="is not a batch range") as err:
        check_batch_range(value)
    assert "min <= opt <= max" in err.value.hint


def test_spatial_n_range_rejected():
    with pytest.raises(ExportError, match="spatial_n"):
        shape_range(spec_of(["8*n"]), dynamic_spatial=True, spatial_n=(3, 2, 1))


# --- option checks, before anything is built -----------------------------------------------------


def test_unknown_converter_names_the_close_one():
    assert check_converter("Torch-TensorRT") == "torch_tensorrt"
    with pytest.raises(ExportError, match="unknown TensorRT converter 'onx'") as err:
        check_converter("onx")
    assert "'onnx'" in err.value.hint


@pytest.mark.parametrize("kwargs, message", [
    ({"precision": "fp8"}, "unknown precision 'fp8'"),
    ({"dynamic_batchsize": [4, 2, 1]}, "is not a batch range"),
    ({"converter": "tensorflow"}, "unknown TensorRT converter"),
    ({"device": "cpu"}, "TensorRT engines run on CUDA GPUs"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
], ids=["precision", "batch-range", "converter", "cpu-device", "unknown-device"])
def test_bad_options_are_export_errors_and_write_nothing(zoo_copy, kwargs, message):
    root = zoo_copy("digits_classification")
    with pytest.raises(ExportError, match=message):
        export_bundle(root, format="tensorrt", **kwargs)
    assert leftovers(root / "models", "model.ts") == [] and leftovers(root / "models", "model.engine") == []


@pytest.mark.skipif(CUDA, reason="checks the message given without CUDA")
@pytest.mark.parametrize("converter", ["torch_tensorrt", "onnx"])
def test_without_cuda_is_a_missing_dependency_for_both_converters(zoo_copy, converter):
    root = zoo_copy("digits_classification")
    with pytest.raises(MissingDependencyError) as err:
        export_bundle(root, format="tensorrt", converter=converter)
    assert err.value.package == "CUDA" and "trtexec" in err.value.hint
    assert leftovers(root / "models", "model.") == ["model.pt"]


@pytest.mark.parametrize("converter, package", [("torch_tensorrt", "torch_tensorrt"), ("onnx", "tensorrt")])
def test_cuda_without_the_converter_package_names_it(zoo_copy, monkeypatch, converter, package):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, package, None)  # the import fails
    root = zoo_copy("digits_classification")
    with pytest.raises(MissingDependencyError) as err:
        export_bundle(root, format="tensorrt", converter=converter)
    assert err.value.package == package and err.value.extra == "tensorrt"
    assert f"--converter {converter}" in err.value.message
    assert leftovers(root / "models", "model.") == ["model.pt"]


def test_monai_trt_export_arguments_reach_the_checks(zoo_copy, monkeypatch):
    root = zoo_copy("digits_classification")
    config = str(root / "configs" / "inference.json")
    with pytest.raises(ExportError, match="is not a batch range"):
        trt_export(config_file=config, bundle_root=str(root), dynamic_batchsize=[1, 2])
    with pytest.raises(ExportError, match="unknown precision 'int8'"):
        trt_export(config_file=config, bundle_root=str(root), precision="int8")
    with pytest.raises(ExportError, match="one input"):
        trt_export(config_file=config, bundle_root=str(root), onnx_input_names=["a", "b"])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingDependencyError) as err:
        trt_export(config_file=config, bundle_root=str(root), use_onnx=True, precision="fp16", device=1)
    assert err.value.package == "tensorrt"
    assert leftovers(root / "models", "model.") == ["model.pt"]


def test_cli_trt_export_function_raises_the_missing_dependency(zoo_copy, monkeypatch):
    from bundle.cli.export import trt_export as command

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "torch_tensorrt", None)
    root = zoo_copy("digits_classification")
    monkeypatch.chdir(root)
    with pytest.raises(MissingDependencyError, match="torch_tensorrt"):
        command(config_file="configs/inference.json", dynamic_batchsize="[1,2,4]")


def test_export_command_tensorrt_options(zoo_copy, monkeypatch, capsys):
    from bundle.cli import main

    root = zoo_copy("digits_classification")
    assert main(["export", str(root), "--format", "tensorrt", "--dynamic_batchsize", "[1,2]"]) == 1
    assert "is not a batch range" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert main(["export", str(root), "--format", "tensorrt", "--converter", "onnx", "--precision", "fp16"]) == 1
    assert "'tensorrt' is not installed" in capsys.readouterr().err


# --- the real thing: where a GPU with TensorRT is there ------------------------------------------

gpu = pytest.mark.skipif(not CUDA, reason="TensorRT export needs a CUDA GPU")


@gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_torch_tensorrt_export_runs_with_parity(zoo_copy, tmp_path, precision):
    torch_tensorrt = pytest.importorskip("torch_tensorrt")  # noqa: F841 (registers the engine op for torch.jit.load)
    root = zoo_copy("ellipsoid_segmentation")
    out = tmp_path / "seg_trt.ts"
    report = export_bundle(root, format="tensorrt", output=out, precision=precision, dynamic_batchsize=[1, 2, 3])
    assert report.ok and report.verified and out.is_file()
    assert [c.input_shape for c in report.checks] == [(2, 1, 16, 16, 16), (1, 1, 16, 16, 16), (3, 1, 16, 16, 16)]
    assert report.atol == (1e-4 if precision == "fp32" else 1e-2)
    extra = {"metadata.json": ""}
    module = torch.jit.load(str(out), map_location="cuda", _extra_files=extra)
    assert json.loads(extra["metadata.json"])["version"] == "0.1.1"
    x = torch.rand(2, 1, 16, 16, 16, device="cuda")
    assert module(x.half() if precision == "fp16" else x).shape == (2, 3, 16, 16, 16)


@gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_onnx_parser_export_writes_engine_and_metadata(zoo_copy, tmp_path, precision):
    pytest.importorskip("tensorrt")
    pytest.importorskip("onnxscript")
    from bundle.export.tensorrt.engine import TensorRTEngine

    root = zoo_copy("digits_classification")
    out = tmp_path / "digits.engine"
    report = export_bundle(root, format="tensorrt", converter="onnx", output=out, precision=precision)
    assert report.ok and out.is_file() and report.files == [str(out), str(out) + ".json"]
    meta = json.loads((tmp_path / "digits.engine.json").read_text())
    assert meta["precision"] == precision and meta["inputs"]["image"]["max"] == [4, 1, 8, 8]
    assert meta["metadata"]["name"] == "Handwritten digits classification"
    (pred,) = TensorRTEngine(out, "cuda:0")(torch.rand(3, 1, 8, 8))
    assert pred.shape == (3, 10)


@gpu
def test_tensorrt_failed_parity_leaves_nothing(zoo_copy, tmp_path):
    pytest.importorskip("tensorrt")
    root = zoo_copy("digits_classification")
    with pytest.raises(ExportError, match="beyond tolerance"):
        export_bundle(root, format="tensorrt", converter="onnx", output=tmp_path / "d.engine", atol=0.0, rtol=0.0,
                      exporter="torchscript")
    assert leftovers(tmp_path, "d.engine") == []
