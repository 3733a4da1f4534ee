"""MONAI's ``ckpt_export`` scripts a network whose input the metadata does not describe (no example input
is needed to script); ours does the same, says the parity check could not run, and writes a file that
gives MONAI's outputs (issue 11, item 6). Tracing, ONNX and TensorRT still need an input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bundle.errors import ExportError
from bundle.export import export_bundle

torch = pytest.importorskip("torch")


@pytest.fixture
def bare(tmp_path):
    """A bundle whose metadata has no network_data_format."""
    root = tmp_path / "bare"
    (root / "configs").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "configs" / "inference.json").write_text(json.dumps(
        {"network_def": {"_target_": "torch.nn.Linear", "in_features": 3, "out_features": 2}}))
    (root / "configs" / "metadata.json").write_text(json.dumps(
        {"version": "0.1.0", "pytorch_version": "2.13.0", "changelog": {"0.1.0": "first"}}))
    torch.manual_seed(0)
    torch.save(torch.nn.Linear(3, 2).state_dict(), root / "models" / "model.pt")
    return root


def _ckpt_export(module, root, output):
    proc = subprocess.run(
        [sys.executable, "-m", module, "ckpt_export", "network_def", "--filepath", str(output),
         "--ckpt_file", str(root / "models" / "model.pt"), "--meta_file", str(root / "configs" / "metadata.json"),
         "--config_file", str(root / "configs" / "inference.json")],
        capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.integration
def test_ckpt_export_scripts_without_an_example_input_as_monai_does(bare, tmp_path):
    pytest.importorskip("monai")
    _ckpt_export("monai.bundle", bare, tmp_path / "monai.ts")
    ours = _ckpt_export("bundle", bare, tmp_path / "ours.ts")
    assert "parity: not checked (no example input" in ours.stdout + ours.stderr
    x = torch.randn(4, 3)
    outputs = []
    for name in ("monai.ts", "ours.ts"):
        extra = {"metadata.json": "", "inference.json": ""}
        module = torch.jit.load(str(tmp_path / name), _extra_files=extra)
        assert json.loads(extra["metadata.json"])["version"] == "0.1.0"
        assert json.loads(extra["inference.json"])["network_def"]["in_features"] == 3
        outputs.append(module(x))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def test_export_bundle_reports_why_parity_was_not_checked(bare):
    report = export_bundle(bare, format="torchscript")
    assert not report.verified and "no example input" in report.unchecked
    assert "parity: not checked (no example input" in report.format_text()
    assert (bare / "models" / "model.ts").is_file()


@pytest.mark.parametrize("format, options", [("torchscript", {"trace": True}), ("onnx", {})])
def test_tracing_and_onnx_still_need_an_input(bare, format, options):
    if format == "onnx":
        pytest.importorskip("onnxruntime")
    with pytest.raises(ExportError, match="describes no input tensor"):
        export_bundle(bare, format=format, output=bare / "models" / f"m.{format}", **options)
    assert not (bare / "models" / f"m.{format}").exists()
