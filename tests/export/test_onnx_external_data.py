"""ONNX external data: the weights in ``<name>.onnx.data`` beside the model (always, or automatically
over protobuf's 2 GB limit), loaded by onnxruntime for parity, moved into place together, and
nothing of either file left when the export fails."""

from __future__ import annotations

import json

import pytest

from bundle.errors import ExportError
from bundle.export import export_bundle
from bundle.export import onnx as onnx_export_module
from bundle.export.onnx import (
    EXTERNAL_DATA_LIMIT,
    data_file_name,
    needs_external_data,
    proto_tensor_bytes,
    read_metadata_props,
)
from bundle.export.options import check_external_data

onnx = pytest.importorskip("onnx")


def leftovers(folder, name):
    """Files and folders in ``folder`` named after ``name`` (outputs, companions, staging folders)."""
    return sorted(p.name for p in folder.iterdir() if name in p.name)


def external_locations(path):
    """The external data location of every tensor stored outside the ONNX file."""
    model = onnx.load(str(path), load_external_data=False)
    return {e.value for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
            for e in t.external_data if e.key == "location"}


# --- the decision --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, size, expected", [
    ("auto", 10, False),
    ("auto", 100, False),
    ("auto", 101, True),
    ("always", 10, True),
    ("never", 100, False),
    ("AUTO", 101, True),
], ids=["auto-small", "auto-at-limit", "auto-over-limit", "always-small", "never-at-limit", "case-insensitive"])
def test_needs_external_data_decides_by_size(mode, size, expected):
    assert needs_external_data(mode, size, limit=100) is expected


def test_needs_external_data_default_limit_is_below_two_gigabytes_with_a_margin():
    assert 1.5 * 2**30 < EXTERNAL_DATA_LIMIT < 2**31 - 1
    assert needs_external_data("auto", 2**31) and not needs_external_data("auto", 2**30)


def test_never_over_the_limit_is_an_error():
    with pytest.raises(ExportError, match="protobuf's 2 GB limit") as err:
        needs_external_data("never", 3 * 2**30)
    assert "--external_data auto" in err.value.hint


def test_unknown_mode_names_the_close_one():
    with pytest.raises(ExportError, match="unknown external_data mode 'alway'") as err:
        check_external_data("alway")
    assert "'always'" in err.value.hint


def test_tensor_bytes_of_a_model_counts_initializers_and_constant_attributes():
    import numpy as np
    from onnx import helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((4, 8), np.float32), "w")  # 128 bytes, raw_data
    typed = helper.make_tensor("b", onnx.TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])  # float_data
    constant = helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.ones(5, np.int64)))  # 40
    graph = helper.make_graph([constant], "g", [], [helper.make_tensor_value_info("c", onnx.TensorProto.INT64, [5])],
                              initializer=[weight, typed])
    total = proto_tensor_bytes(helper.make_model(graph))
    assert total >= 128 + 40 + 12 and total < 128 + 40 + 12 + 32  # typed fields carry a few bytes of framing


def test_data_file_name_is_the_model_name_plus_data():
    assert data_file_name("/x/models/model.onnx") == "model.onnx.data"


# --- exports ---------------------------------------------------------------------------------------


def test_always_with_the_dynamo_exporter_writes_data_beside_and_checks_parity(zoo_copy):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import onnxruntime as ort

    root = zoo_copy("digits_classification")
    out = root / "models" / "model.onnx"
    report = export_bundle(root, format="onnx", external_data="always")
    data = root / "models" / "model.onnx.data"
    assert report.ok and report.verified and out.is_file() and data.is_file()
    assert report.files == [str(out), str(data)] and "with: " in report.format_text()
    assert external_locations(out) == {"model.onnx.data"}  # the final name, not a temporary one
    assert data.stat().st_size > 1024
    assert json.loads(read_metadata_props(out)["network_data_format"])["inputs"]["image"]["num_channels"] == 1
    onnx.checker.check_model(str(out), full_check=True)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.run(None, {"image": __import__("numpy").random.rand(3, 1, 8, 8).astype("float32")})[0].shape == (3, 10)
    assert leftovers(root / "models", "model.onnx") == ["model.onnx", "model.onnx.data"]


def test_always_with_the_torchscript_exporter_and_dynamic_spatial_axes(zoo_copy, tmp_path):
    pytest.importorskip("onnxruntime")
    root = zoo_copy("ellipsoid_segmentation")
    out = tmp_path / "seg.onnx"
    report = export_bundle(root, format="onnx", exporter="torchscript", dynamic_spatial=True, output=out,
                           external_data="always")
    assert report.ok and len(report.checks) == 5
    assert external_locations(out) == {"seg.onnx.data"}
    assert read_metadata_props(out)["version"] == "0.1.1"
    assert report.options["external_data"] == "always"
    assert leftovers(tmp_path, "seg.onnx") == ["seg.onnx", "seg.onnx.data"]


def test_auto_below_the_limit_keeps_one_file(zoo_copy):
    pytest.importorskip("onnxruntime")
    root = zoo_copy("digits_classification")
    report = export_bundle(root, format="onnx", exporter="torchscript")
    assert report.ok and report.files == [str(root / "models" / "model.onnx")]
    assert external_locations(root / "models" / "model.onnx") == set()
    assert leftovers(root / "models", "model.onnx") == ["model.onnx"]


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_auto_over_the_limit_writes_external_data(zoo_copy, monkeypatch, exporter):
    pytest.importorskip("onnxruntime")
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    monkeypatch.setattr(onnx_export_module, "EXTERNAL_DATA_LIMIT", 1000)  # the digits network has ~80 kB of weights
    root = zoo_copy("digits_classification")
    report = export_bundle(root, format="onnx", exporter=exporter)
    assert report.ok and external_locations(root / "models" / "model.onnx") == {"model.onnx.data"}


def test_never_over_the_limit_fails_and_leaves_nothing(zoo_copy, monkeypatch):
    monkeypatch.setattr(onnx_export_module, "EXTERNAL_DATA_LIMIT", 1000)
    root = zoo_copy("digits_classification")
    with pytest.raises(ExportError, match="protobuf's 2 GB limit"):
        export_bundle(root, format="onnx", exporter="torchscript", external_data="never")
    assert leftovers(root / "models", "model.onnx") == []


def test_failed_parity_leaves_neither_file(zoo_copy):
    pytest.importorskip("onnxruntime")
    root = zoo_copy("digits_classification")
    with pytest.raises(ExportError, match="beyond tolerance"):
        export_bundle(root, format="onnx", exporter="torchscript", external_data="always", atol=0.0, rtol=0.0)
    assert leftovers(root / "models", "model.onnx") == []


def test_failed_export_keeps_the_old_files_as_they_were(zoo_copy):
    pytest.importorskip("onnxruntime")
    root = zoo_copy("digits_classification")
    models = root / "models"
    (models / "model.onnx").write_bytes(b"old model")
    (models / "model.onnx.data").write_bytes(b"old data")
    with pytest.raises(ExportError):
        export_bundle(root, format="onnx", exporter="torchscript", external_data="always", atol=0.0, rtol=0.0)
    assert (models / "model.onnx").read_bytes() == b"old model"
    assert (models / "model.onnx.data").read_bytes() == b"old data"
    assert leftovers(models, "model.onnx") == ["model.onnx", "model.onnx.data"]


def test_a_data_file_left_from_an_earlier_export_is_removed(zoo_copy):
    pytest.importorskip("onnxruntime")
    root = zoo_copy("digits_classification")
    models = root / "models"
    export_bundle(root, format="onnx", exporter="torchscript", external_data="always")
    assert (models / "model.onnx.data").is_file()
    report = export_bundle(root, format="onnx", exporter="torchscript", external_data="never")
    assert report.ok and leftovers(models, "model.onnx") == ["model.onnx"]
    assert external_locations(models / "model.onnx") == set()


def test_cli_external_data_option(zoo_copy, capsys):
    pytest.importorskip("onnxruntime")
    from bundle.cli import main

    root = zoo_copy("digits_classification")
    assert main(["export", str(root), "--format", "onnx", "--exporter", "torchscript", "--external_data",
                 "always"]) == 0
    out = capsys.readouterr().out
    assert "external_data=always" in out and "model.onnx.data" in out
    assert main(["export", str(root), "--format", "onnx", "--external_data", "sometimes"]) == 1
    assert "unknown external_data mode 'sometimes'" in capsys.readouterr().err
