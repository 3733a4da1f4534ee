"""package --target monai-deploy: the App SDK's folder layout, the TorchScript model's extra/ files, and
the rewritten inference.json loaded with MONAI's ConfigParser (as MonaiBundleInferenceOperator does) and
run on a volume: the same labels as the bundle's own TiledInferer + ChannelArgmax. The App SDK itself is
not installed here (it pulls CUDA-only holoscan and cupy packages), so its operator is not run."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
monai_bundle = pytest.importorskip("monai.bundle")

from bundle.errors import ExportError
from bundle.export.monai_deploy import monai_inference_config

ROOT = Path(__file__).resolve().parents[2]


def _extra(model: Path) -> dict[str, str]:
    with zipfile.ZipFile(model) as archive:  # where the SDK looks: {file stem}/extra/{name}
        return {n: archive.read(f"model/extra/{n}").decode() for n in ("metadata.json", "inference.json")}


def _parser(app: Path, tmp_path: Path):
    extra = _extra(app / "model" / "model.ts")
    (tmp_path / "inference.json").write_text(extra["inference.json"])
    parser = monai_bundle.ConfigParser()
    parser.read_meta(f=json.loads(extra["metadata.json"]))
    parser.read_config([tmp_path / "inference.json"])
    parser.parse()
    return parser


def test_segmentation_app_layout_and_config_through_monai(tmp_path):
    from monai.transforms import Compose, MapTransform

    import bundle
    from bundle.components.inference import ChannelArgmax, TiledInferer

    src = tmp_path / "ellipsoid_segmentation"
    shutil.copytree(ROOT / "zoo" / "ellipsoid_segmentation", src)
    app = tmp_path / "app"
    out = subprocess.run([sys.executable, "-m", "bundle", "package", str(src), "--target", "monai-deploy",
                          "--output", str(app)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in app.iterdir()) == ["__main__.py", "app.py", "app.yaml", "model", "requirements.txt"]
    for name in ("app.py", "__main__.py"):
        ast.parse((app / name).read_text())
    assert "monai-deploy-app-sdk" in (app / "requirements.txt").read_text()
    parser = _parser(app, tmp_path)
    assert parser["_meta_"]["network_data_format"]["inputs"]["image"]["num_channels"] == 1
    pre, post = parser.get_parsed_content("preprocessing"), parser.get_parsed_content("postprocessing")
    inferer = parser.get_parsed_content("inferer")
    assert isinstance(pre, Compose) and isinstance(pre.transforms[0], MapTransform)
    assert type(inferer).__name__ == "SlidingWindowInferer"
    assert isinstance(parser.get_parsed_content("device"), torch.device)
    # what the operator does: preprocess {name: image}, add the batch dim, infer, postprocess {name: output}
    volume = torch.randn(40, 32, 36).mul(0.3).add(0.5)
    net = torch.jit.load(str(app / "model" / "model.ts"))
    data = pre({"image": volume.numpy()})
    with torch.no_grad():
        pred = inferer(inputs=data["image"][None], network=net)
        label = post({"pred": pred})["pred"]
        want = ChannelArgmax()(TiledInferer([32, 32, 32], overlap=0.25)(volume[None, None], bundle.load(src)))
    agree = float((torch.as_tensor(label) == want).float().mean())
    print(f"monai-deploy config vs bundle inference: {agree:.6f} of voxels agree")
    assert label.shape == want.shape and agree > 0.999


def test_classifier_postprocessing_is_softmax_over_channels(tmp_path):
    from bundle.export.monai_deploy import package_monai_deploy

    src = tmp_path / "digits_classification"
    shutil.copytree(ROOT / "zoo" / "digits_classification", src)
    app = package_monai_deploy(src, tmp_path / "app")
    parser = _parser(app, tmp_path)
    assert type(parser.get_parsed_content("inferer")).__name__ == "SimpleInferer"
    probs = parser.get_parsed_content("postprocessing")({"pred": torch.randn(2, 10)})["pred"]
    assert torch.allclose(probs.sum(1), torch.ones(2))


def test_unknown_postprocessing_is_named():
    meta = {"network_data_format": {"inputs": {"image": {}}, "outputs": {"pred": {}}}}
    with pytest.raises(ExportError, match="postprocessing 'MyThing'"):
        monai_inference_config({"postprocessing": {"_target_": "MyThing"}}, meta)
