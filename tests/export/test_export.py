"""export_bundle: both zoo bundles to TorchScript and ONNX with parity checked, metadata read back,
and every failure a clear BundleError that leaves nothing at the output path."""

from __future__ import annotations

import json

import pytest
import torch

from bundle.errors import ExportError, FormatError, MissingDependencyError
from bundle.export import export_bundle
from bundle.export.torchscript import read_extra_files


def leftovers(folder, name):
    """Files in ``folder`` named after ``name`` (the output and its temporary files)."""
    return sorted(p.name for p in folder.iterdir() if name in p.name)


# --- TorchScript ------------------------------------------------------------------------------


def test_torchscript_scripted_digits_with_metadata_and_config_inside(zoo_copy):
    root = zoo_copy("digits_classification")
    report = export_bundle(root, format="torchscript")
    out = root / "models" / "model.ts"
    assert report.output == str(out) and out.is_file()
    assert report.verified and report.ok
    assert [c.input_shape for c in report.checks] == [(2, 1, 8, 8), (1, 1, 8, 8), (3, 1, 8, 8)]
    assert all(o.name == "pred" and o.max_abs <= 1e-4 for c in report.checks for o in c.outputs)
    extra = {"metadata.json": "", "inference.json": ""}
    torch.jit.load(str(out), _extra_files=extra)  # plain torch reads them back
    assert json.loads(extra["metadata.json"])["name"] == "Handwritten digits classification"
    assert json.loads(extra["inference.json"])["network_def"]["_target_"] == "bundle.components.networks.CompactCNN"
    assert "max abs" in report.format_text()


def test_torchscript_traced_ellipsoid_on_other_batch_and_spatial_sizes(zoo_copy, tmp_path):
    root = zoo_copy("ellipsoid_segmentation")
    out = tmp_path / "out" / "seg.ts"
    report = export_bundle(root, format="torchscript", output=out, trace=True, dynamic_spatial=True)
    assert report.ok and out.is_file()
    shapes = [c.input_shape for c in report.checks]
    assert (1, 1, 8, 8, 8) in shapes and (2, 1, 24, 24, 24) in shapes
    assert json.loads(read_extra_files(out)["metadata.json"])["version"] == "0.1.1"
    loaded = torch.jit.load(str(out))
    assert loaded(torch.rand(1, 1, 16, 16, 16)).shape == (1, 3, 16, 16, 16)


def test_unscriptable_network_names_the_line_and_config_id(bad_bundle, tmp_path):
    out = tmp_path / "bad.ts"
    with pytest.raises(ExportError) as err:
        export_bundle(bad_bundle, format="torchscript", config="bad_script", checkpoint=bad_bundle / "models/small.pt",
                      output=out)
    assert err.value.config_id == "network_def"
    assert "torch.jit.script cannot export 'network_def' of config 'bad_script'" in err.value.message
    assert err.value.location is not None and err.value.location.file.endswith("nets.py")
    assert "--trace" in err.value.hint
    assert leftovers(tmp_path, "bad.ts") == []
    # the same network traces
    assert export_bundle(bad_bundle, format="torchscript", config="bad_script", trace=True,
                         checkpoint=bad_bundle / "models/small.pt", output=out).ok


# --- ONNX -------------------------------------------------------------------------------------


def test_onnx_torchscript_exporter_ellipsoid_dynamic_spatial_with_metadata_props(zoo_copy):
    pytest.importorskip("onnxruntime")
    from bundle.export.onnx import read_metadata_props

    root = zoo_copy("ellipsoid_segmentation")
    report = export_bundle(root, format="onnx", exporter="torchscript", dynamic_spatial=True, opset=17)
    out = root / "models" / "model.onnx"
    assert report.ok and out.is_file() and len(report.checks) == 5
    props = read_metadata_props(out)
    assert props["name"] == "Ellipsoid segmentation (3D, synthetic)" and props["version"] == "0.1.1"
    assert json.loads(props["network_data_format"])["outputs"]["pred"]["num_channels"] == 3
    import onnx

    assert onnx.load(str(out)).opset_import[0].version == 17


def test_onnx_dynamo_exporter_digits(zoo_copy):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import onnxruntime as ort

    root = zoo_copy("digits_classification")
    report = export_bundle(root, format="onnx")
    assert report.ok and report.options["exporter"] == "dynamo"
    session = ort.InferenceSession(str(root / "models" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert session.run(None, {"image": torch.rand(5, 1, 8, 8).numpy()})[0].shape == (5, 10)


def test_onnx_unsupported_operator_is_named(bad_bundle, tmp_path):
    pytest.importorskip("onnxruntime")
    with pytest.raises(ExportError) as err:
        export_bundle(bad_bundle, format="onnx", exporter="torchscript", config="bad_onnx",
                      checkpoint=bad_bundle / "models/small.pt", output=tmp_path / "bad.onnx")
    assert "at the operator 'aten::cummax'" in err.value.message
    assert err.value.config_id == "network_def" and "--exporter dynamo" in err.value.hint
    assert leftovers(tmp_path, "bad.onnx") == []


def test_onnx_without_onnxruntime_is_a_missing_dependency(zoo_copy, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # import fails
    root = zoo_copy("digits_classification")
    with pytest.raises(MissingDependencyError) as err:
        export_bundle(root, format="onnx", exporter="torchscript")
    assert err.value.package == "onnxruntime" and err.value.extra == "onnx"
    assert leftovers(root / "models", "model.onnx") == []
    # without verification onnxruntime is not needed
    assert export_bundle(root, format="onnx", exporter="torchscript", verify=False).verified is False
    assert (root / "models" / "model.onnx").is_file()


# --- parity failures leave nothing ------------------------------------------------------------


def test_parity_failure_with_a_tiny_tolerance_writes_nothing(zoo_copy):
    pytest.importorskip("onnxruntime")
    root = zoo_copy("digits_classification")
    out = root / "models" / "model.onnx"
    with pytest.raises(ExportError) as err:
        export_bundle(root, format="onnx", exporter="torchscript", atol=0.0, rtol=0.0)
    assert "differs from eager PyTorch beyond tolerance" in err.value.message
    assert "FAILED" in err.value.message and "--atol" in err.value.hint
    assert leftovers(root / "models", "model.onnx") == []
    assert not out.exists()


def test_parity_failure_of_a_wrong_runtime_keeps_the_old_file(zoo_copy, monkeypatch):
    import bundle.export.torchscript as ts

    real = ts.export_torchscript

    def off_by_one(job, path):
        run = real(job, path)
        return lambda x: [o + 1.0 for o in run(x)]

    monkeypatch.setattr(ts, "export_torchscript", off_by_one)
    root = zoo_copy("digits_classification")
    out = root / "models" / "model.ts"
    out.write_bytes(b"old")
    with pytest.raises(ExportError, match="beyond tolerance"):
        export_bundle(root, format="torchscript")
    assert out.read_bytes() == b"old"
    assert leftovers(root / "models", "model.ts") == ["model.ts"]


def test_no_verify_skips_the_check(zoo_copy, monkeypatch):
    import bundle.export.torchscript as ts

    real = ts.export_torchscript
    monkeypatch.setattr(ts, "export_torchscript", lambda job, path: (real(job, path), lambda x: [1.0])[1])
    root = zoo_copy("digits_classification")
    report = export_bundle(root, format="torchscript", verify=False)
    assert not report.verified and report.checks == [] and "not checked" in report.format_text()


# --- bad input --------------------------------------------------------------------------------


def test_unknown_network_id_names_close_ones(zoo_copy):
    root = zoo_copy("digits_classification")
    with pytest.raises(ExportError) as err:
        export_bundle(root, net_id="netwrk_def")
    assert "defines no network 'netwrk_def'" in err.value.message and "'network_def'" in err.value.hint


def test_not_a_module(zoo_copy):
    with pytest.raises(ExportError, match="not a torch.nn.Module"):
        export_bundle(zoo_copy("digits_classification"), net_id="class_names")


def test_checkpoint_that_does_not_fit_lists_the_keys(zoo_copy, tmp_path):
    root = zoo_copy("digits_classification")
    state = torch.load(root / "models" / "model.pt", weights_only=True)
    state["extra.weight"] = torch.zeros(1)
    first = next(iter(state))
    del state[first]
    torch.save(state, tmp_path / "wrong.pt")
    with pytest.raises(ExportError) as err:
        export_bundle(root, checkpoint=tmp_path / "wrong.pt")
    assert f"missing keys (in the network, not in the weights): {first}" in err.value.message
    assert "unexpected keys (in the weights, not in the network): extra.weight" in err.value.message
    assert leftovers(root / "models", "model.ts") == []


def test_checkpoint_that_is_not_a_state_dict(zoo_copy, tmp_path):
    torch.save({"model": {"a": 1}}, tmp_path / "odd.pt")
    with pytest.raises(FormatError, match="not a state dict"):
        export_bundle(zoo_copy("digits_classification"), checkpoint=tmp_path / "odd.pt")


def test_output_that_cannot_be_written(zoo_copy, tmp_path):
    root = zoo_copy("digits_classification")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ExportError, match="cannot create the folder of output"):
        export_bundle(root, output=tmp_path / "a_file" / "model.ts")
    with pytest.raises(ExportError, match="is a folder"):
        export_bundle(root, output=tmp_path)


def test_unknown_format_and_exporter(zoo_copy):
    root = zoo_copy("digits_classification")
    with pytest.raises(ExportError, match="unknown export format 'onxx'") as err:
        export_bundle(root, format="onxx")
    assert "'onnx'" in err.value.hint
    with pytest.raises(ExportError, match="unknown ONNX exporter"):
        export_bundle(root, format="onnx", exporter="jit")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without CUDA")
def test_tensorrt_without_cuda_is_a_missing_dependency(zoo_copy):
    root = zoo_copy("digits_classification")
    with pytest.raises(MissingDependencyError) as err:
        export_bundle(root, format="tensorrt")
    assert err.value.package == "CUDA" and "--format onnx" in err.value.hint
    assert leftovers(root / "models", "model.ts") == []
