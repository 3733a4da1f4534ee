"""export --format triton: a Triton model repository whose config.pbtxt parses with Triton's own
ModelConfig protobuf (tritonclient ships it), whose model file runs and matches eager PyTorch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")

from bundle.errors import ExportError
from bundle.export.triton import export_triton, model_config

ROOT = Path(__file__).resolve().parents[2]


def _parse(path: Path):
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


@pytest.fixture
def seg(tmp_path):
    dst = tmp_path / "ellipsoid_segmentation"
    shutil.copytree(ROOT / "zoo" / "ellipsoid_segmentation", dst)
    return dst


def test_onnx_repository_parses_and_runs(seg, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    repo = tmp_path / "repo"
    report = export_triton(seg, repo, max_batch_size=4)
    assert report.ok and report.verified
    model = repo / "ellipsoid_segmentation"
    assert sorted(str(p.relative_to(model)) for p in model.rglob("*")) == ["1", "1/model.onnx", "config.pbtxt"]
    config = _parse(model / "config.pbtxt")
    assert config.name == "ellipsoid_segmentation" and config.backend == "onnxruntime"
    assert config.max_batch_size == 4 and config.dynamic_batching.max_queue_delay_microseconds == 5000
    (inp,), (out,) = config.input, config.output
    assert (inp.name, inp.data_type, list(inp.dims)) == ("image", model_config_pb2.TYPE_FP32, [1, -1, -1, -1])
    assert (out.name, list(out.dims)) == ("pred", [3, -1, -1, -1])
    session = ort.InferenceSession(str(model / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"] and [o.name for o in session.get_outputs()] == ["pred"]
    import bundle

    x = torch.randn(2, 1, 40, 32, 24)
    with torch.no_grad():
        want = bundle.load(seg)(x).numpy()
    got = session.run(None, {"image": x.numpy()})[0]
    assert abs(got - want).max() < 1e-4
    leftovers = [p.name for p in repo.iterdir() if p.name != "ellipsoid_segmentation"]
    assert leftovers == []


def test_libtorch_repository_through_the_cli_replaces_the_old_model(tmp_path):
    bundle_dir = tmp_path / "digits_classification"
    shutil.copytree(ROOT / "zoo" / "digits_classification", bundle_dir)
    repo = tmp_path / "repo"
    (repo / "digits_classification" / "7").mkdir(parents=True)  # an older model version: replaced whole
    out = subprocess.run([sys.executable, "-m", "bundle", "export", str(bundle_dir), "--format", "triton",
                          "--output", str(repo), "--backend", "libtorch", "--max_batch_size", "16"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    model = repo / "digits_classification"
    assert sorted(p.name for p in model.iterdir()) == ["1", "config.pbtxt"]
    config = _parse(model / "config.pbtxt")
    assert config.backend == "pytorch" and config.max_batch_size == 16
    assert [(i.name, list(i.dims)) for i in config.input] == [("INPUT__0", [1, 8, 8])]
    assert [(o.name, list(o.dims)) for o in config.output] == [("OUTPUT__0", [10])]
    version = json.loads((bundle_dir / "configs" / "metadata.json").read_text())["version"]
    assert config.parameters["bundle_version"].string_value == version
    net = torch.jit.load(str(model / "1" / "model.pt"))
    import bundle

    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        assert (net(x) - bundle.load(bundle_dir)(x)).abs().max() < 1e-5


def test_metadata_without_inputs_or_unknown_backend_is_refused():
    with pytest.raises(ExportError, match="describes no inputs"):
        model_config("m", {"network_data_format": {}})
    with pytest.raises(ExportError, match="unknown Triton backend"):
        export_triton(ROOT / "zoo" / "digits_classification", backend="tensorflow")
