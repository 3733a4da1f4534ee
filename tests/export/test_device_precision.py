"""--device and --precision for TorchScript and ONNX: fp16 exports checked against the fp32 network at
the fp16 tolerance (on the CPU here, on CUDA where a GPU is there), and the option checks."""

from __future__ import annotations

import pytest
import torch

from bundle.errors import ExportError, MissingDependencyError
from bundle.export import export_bundle
from bundle.export.device import exact_fp32
from bundle.export.options import check_device, check_precision, tolerance

CUDA = torch.cuda.is_available()
gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


def leftovers(folder, name):
    return sorted(p.name for p in folder.iterdir() if name in p.name)


def cuda_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime has no CUDAExecutionProvider here")
    return ort


# --- the options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [(None, "cpu"), ("cpu", "cpu"), ("CUDA", "cuda:0"), ("cuda:1", "cuda:1"),
                                             (2, "cuda:2")])
def test_check_device(value, expected):
    assert check_device(value) == expected


@pytest.mark.parametrize("value", ["gpu", "cuda:x", "mps", -1, True])
def test_check_device_rejects(value):
    with pytest.raises(ExportError, match="unknown device"):
        check_device(value)


def test_precision_and_its_tolerance():
    assert check_precision(" FP16 ") == "fp16"
    assert tolerance("fp32", None) == 1e-4 and tolerance("fp16", None) == 1e-2 and tolerance("fp16", 0.5) == 0.5
    with pytest.raises(ExportError, match="unknown precision 'fp61'") as err:
        check_precision("fp61")
    assert "'fp16'" in err.value.hint


def test_exact_fp32_leaves_the_cpu_alone():
    before = torch.backends.cudnn.allow_tf32
    with exact_fp32("cpu"):
        assert torch.backends.cudnn.allow_tf32 == before


@pytest.mark.skipif(CUDA, reason="checks the message given without CUDA")
@pytest.mark.parametrize("format", ["torchscript", "onnx"])
def test_cuda_device_without_cuda_is_a_missing_dependency(zoo_copy, format):
    root = zoo_copy("digits_classification")
    with pytest.raises(MissingDependencyError) as err:
        export_bundle(root, format=format, device="cuda")
    assert err.value.package == "CUDA" and "--device cpu" in err.value.hint
    assert leftovers(root / "models", "model.") == ["model.pt"]


# --- fp16 on the CPU ------------------------------------------------------------------------------


def test_torchscript_fp16_on_the_cpu(zoo_copy, tmp_path):
    root = zoo_copy("ellipsoid_segmentation")
    out = tmp_path / "seg16.ts"
    report = export_bundle(root, format="torchscript", trace=True, precision="fp16", output=out)
    assert report.ok and report.atol == report.rtol == 1e-2
    assert report.options["precision"] == "fp16" and "device" not in report.options
    assert 0 < report.max_abs() < 1e-2  # half precision differs from the fp32 reference, within tolerance
    module = torch.jit.load(str(out))
    assert next(module.parameters()).dtype == torch.float16
    assert module(torch.rand(1, 1, 16, 16, 16).half()).dtype == torch.float16


def test_fp16_is_measured_against_fp32(zoo_copy, tmp_path):
    root = zoo_copy("ellipsoid_segmentation")
    with pytest.raises(ExportError, match="beyond tolerance"):
        export_bundle(root, format="torchscript", trace=True, precision="fp16", output=tmp_path / "s.ts", atol=1e-6,
                      rtol=1e-6)
    assert leftovers(tmp_path, "s.ts") == []


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_onnx_fp16_on_the_cpu(zoo_copy, tmp_path, exporter):
    ort = pytest.importorskip("onnxruntime")
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    from bundle.export.onnx import read_metadata_props

    root = zoo_copy("digits_classification")
    out = tmp_path / "d16.onnx"
    report = export_bundle(root, format="onnx", exporter=exporter, precision="fp16", output=out)
    assert report.ok and report.atol == 1e-2
    assert read_metadata_props(out)["precision"] == "fp16"
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float16)"


def test_cli_precision_option(zoo_copy, capsys):
    from bundle.cli import main

    root = zoo_copy("digits_classification")
    assert main(["export", str(root), "--precision", "fp16"]) == 0
    out = capsys.readouterr().out
    assert "precision=fp16" in out and "atol=0.01" in out
    assert main(["export", str(root), "--device", "gpu"]) == 1
    assert "unknown device 'gpu'" in capsys.readouterr().err


# --- CUDA, where a GPU is there --------------------------------------------------------------------


@gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_torchscript_on_cuda(zoo_copy, tmp_path, precision):
    root = zoo_copy("ellipsoid_segmentation")
    out = tmp_path / "seg.ts"
    report = export_bundle(root, format="torchscript", trace=True, device="cuda", precision=precision, output=out,
                           dynamic_spatial=True)
    assert report.ok and report.options["device"] == "cuda:0"
    assert report.atol == (1e-4 if precision == "fp32" else 1e-2)
    module = torch.jit.load(str(out), map_location="cuda")
    x = torch.rand(1, 1, 24, 24, 24, device="cuda")
    assert module(x.half() if precision == "fp16" else x).is_cuda


@gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_onnx_on_cuda_execution_provider(zoo_copy, tmp_path, precision, exporter):
    cuda_onnxruntime()
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    root = zoo_copy("digits_classification")
    report = export_bundle(root, format="onnx", exporter=exporter, device="cuda", precision=precision,
                           output=tmp_path / "d.onnx", external_data="always")
    assert report.ok and report.options["device"] == "cuda:0" and (tmp_path / "d.onnx.data").is_file()


@gpu
def test_exact_fp32_turns_tf32_off_and_back():
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    with exact_fp32("cuda:0"):
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
