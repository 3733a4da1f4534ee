"""ExportOptions: values checked and normalized once, a format's defaults filled in, and the export
functions taking the options as one object or as keyword arguments."""

from __future__ import annotations

import dataclasses

import pytest

from bundle.errors import ExportError
from bundle.export import ExportOptions, export_bundle
from bundle.export.monai import _options
from bundle.export.triton import export_triton


def test_values_are_normalized_when_made():
    options = ExportOptions(precision=" FP16 ", device=1, external_data="ALWAYS", output_names=("pred",))
    assert (options.precision, options.device, options.external_data) == ("fp16", "cuda:1", "always")
    assert options.output_names == ["pred"]
    assert ExportOptions().device is None and ExportOptions().exporter is None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("precision", "fp61", "unknown precision 'fp61'"),
    ("device", "gpu", "unknown device 'gpu'"),
    ("external_data", "alway", "unknown external_data mode 'alway'"),
    ("exporter", "jit", "unknown ONNX exporter 'jit'"),
], ids=["precision", "device", "external_data", "exporter"])
def test_invalid_values_are_refused_when_made(field, value, message):
    with pytest.raises(ExportError, match=message):
        ExportOptions(**{field: value})


def test_options_are_frozen_and_the_callers_dict_is_copied():
    kwargs = {"opset_version": 17}
    options = ExportOptions(converter_kwargs=kwargs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.trace = True  # type: ignore[misc]
    options.converter_kwargs["dynamo"] = False
    assert kwargs == {"opset_version": 17}


def test_of_replaces_fields_and_names_the_close_option():
    base = ExportOptions(trace=True)
    merged = ExportOptions.of(base, opset=17)
    assert (merged.trace, merged.opset, base.opset) == (True, 17, None)
    assert ExportOptions.of(base) is base and ExportOptions.of() == ExportOptions()
    with pytest.raises(TypeError, match="'atoll' is not an export option; did you mean 'atol'"):
        ExportOptions.of(atoll=1e-3)


@pytest.mark.parametrize(("format", "expected"), [
    ("onnx", {"device": "cpu", "exporter": "dynamo", "dynamic_spatial": False, "dynamic_batchsize": None,
              "atol": 1e-4}),
    ("tensorrt", {"device": "cuda:0", "exporter": "dynamo", "converter": "torch_tensorrt",
                  "dynamic_batchsize": (1, 2, 4), "atol": 1e-4}),
], ids=["onnx", "tensorrt"])
def test_for_format_fills_in_the_formats_defaults(format, expected):
    options = ExportOptions(dynamic_batchsize="[1,2,4]").for_format(format)
    assert {k: getattr(options, k) for k in expected} == expected
    assert options.for_format(format) == options  # resolving twice changes nothing


def test_for_format_checks_tensorrts_options_only_for_tensorrt():
    options = ExportOptions(converter="onx", dynamic_batchsize=[4, 2, 1])
    assert options.for_format("onnx").converter == "onx"
    with pytest.raises(ExportError, match="unknown TensorRT converter 'onx'"):
        options.for_format("tensorrt")
    with pytest.raises(ExportError, match=r"dynamic_batchsize \[4, 2, 1\] is not a batch range"):
        dataclasses.replace(options, converter="onnx").for_format("tensorrt")
    assert ExportOptions(precision="fp16", atol=0.5).for_format("onnx").rtol == 1e-2


def test_monai_names_map_onto_export_options():
    args = {"use_trace": True, "converter_kwargs": {"opset_version": 17, "dynamic_spatial": True, "x": 1},
            "precision": "fp16", "device": 1, "use_onnx": True, "onnx_input_names": ["img"],
            "onnx_output_names": ["out"], "dynamic_batchsize": [1, 4, 8], "network_def#channels": 4}
    options = _options("tensorrt", args, verify=False, atol=None, rtol=None)
    assert (options.exporter, options.opset, options.dynamic_spatial, options.converter_kwargs) == \
           ("torchscript", 17, True, {"x": 1})
    assert (options.precision, options.device, options.converter, options.input_name, options.output_names) == \
           ("fp16", "cuda:1", "onnx", "img", ["out"])
    assert args == {"network_def#channels": 4}  # what is left are the config overrides
    assert _options("torchscript", {"use_trace": True}, verify=True, atol=1e-4, rtol=1e-4).trace is True


def test_export_bundle_takes_options_and_keywords_replacing_them(zoo_copy, tmp_path):
    root = zoo_copy("digits_classification")
    options = ExportOptions(trace=True, verify=True)
    report = export_bundle(root, output=tmp_path / "d.ts", options=options, verify=False)
    assert report.options == {"mode": "trace"} and report.verified is False
    assert options.verify is True  # the caller's options are not changed
    with pytest.raises(TypeError, match="'trase' is not an export option; did you mean 'trace'"):
        export_bundle(root, trase=True)


def test_triton_refuses_half_precision_before_any_work(zoo_copy, tmp_path):
    root = zoo_copy("digits_classification")
    with pytest.raises(ExportError, match="a Triton model is exported in fp32, not fp16"):
        export_triton(root, tmp_path / "repo", options=ExportOptions(precision="fp16"))
    assert not (tmp_path / "repo").exists()
