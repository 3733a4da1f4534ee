"""The embedding API and lock files: bundle.load by path, by zoo name, by lock; lock pins, sync
fetches exactly that (offline from the cache) and notices changed files."""

from __future__ import annotations

import json

import pytest
import torch

import bundle
from bundle.cli import main
from bundle.errors import FormatError, IntegrityError, UnsafeConfigError, ZooError
from bundle.registry.archive import pack
from bundle.registry.cache import Cache
from tests.conftest import REPO
from tests.registry.conftest import write_index

NAME = "digits_classification"


@pytest.fixture
def zoo(tmp_path, local_server):
    """An index on the local server holding two versions of the digits bundle (0.1.0 and a copy as 0.2.0)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    first = pack(REPO / "zoo" / NAME, dist)
    version = first.path.name[len(NAME) + 2:-4]
    second_dir = tmp_path / "src" / NAME
    import shutil

    shutil.copytree(REPO / "zoo" / NAME, second_dir, ignore=shutil.ignore_patterns("eval", "logs"))
    meta = json.loads((second_dir / "configs" / "metadata.json").read_text())
    meta["version"] = "9.0.0"
    meta["changelog"] = {"9.0.0": "same weights, new number", **meta["changelog"]}
    (second_dir / "configs" / "metadata.json").write_text(json.dumps(meta, indent=4))
    second = pack(second_dir, dist)
    versions = {}
    for info, number in ((first, version), (second, "9.0.0")):
        url = local_server.add(f"/zoo/{info.path.name}", info.path.read_bytes())
        versions[number] = {"sha256": info.sha256, "size": info.size, "published": "2026-11-20", "sources": [{"url": url}]}
    return write_index(tmp_path / "index.json", {NAME: versions}), version


def test_load_a_folder_returns_the_network_with_its_weights():
    net = bundle.load(REPO / "zoo" / NAME)
    assert isinstance(net, torch.nn.Module) and not net.training
    expected = torch.load(REPO / "zoo" / NAME / "models" / "model.pt", weights_only=True)
    for key, value in net.state_dict().items():
        assert torch.equal(value, expected[key])


def test_load_by_name_from_the_index(zoo):
    index, _ = zoo
    net = bundle.load(NAME, index=str(index))
    x = torch.rand(2, 1, 8, 8)
    assert net(x).shape == (2, 10)


def test_load_workflow_returns_an_initialized_workflow():
    workflow = bundle.load(REPO / "zoo" / NAME, workflow=True)
    assert type(workflow).__name__ == "ConfigWorkflow"


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        bundle.load(tmp_path / "missing")
    with pytest.raises(FormatError, match="defines no network 'net'"):
        bundle.load(REPO / "zoo" / NAME, net_id="net")
    with pytest.raises(FormatError, match="export it first"):
        bundle.load(REPO / "zoo" / NAME, format="torchscript")


def test_lock_sync_and_load_by_lock(tmp_path, zoo, local_server, monkeypatch, capsys):
    index, version = zoo
    declared = tmp_path / "app" / "bundles.yaml"
    declared.parent.mkdir()
    declared.write_text(f"index: ../{index.name}\nbundles:\n  {NAME}: \"<9\"\n")  # relative to the file
    assert main(["lock", str(declared)]) == 0
    lock = json.loads((declared.parent / "bundles.lock").read_text())
    pinned = lock["bundles"][NAME]
    assert pinned["version"] == version and len(pinned["sha256"]) == 64 and len(pinned["tree"]) == 64
    # a new index that no longer has the version does not matter: the lock carries what sync needs
    write_index(index, {"other": {"1.0.0": {"sha256": "0" * 64, "size": 1, "published": "2026-11-20",
                                            "sources": [{"url": "x.zip"}]}}})
    empty_the_cache()
    assert main(["sync", str(declared.parent / "bundles.lock"), "--dir", str(tmp_path / "vendored")]) == 0
    assert (tmp_path / "vendored" / NAME / "configs" / "metadata.json").is_file()
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    assert main(["sync", str(declared.parent / "bundles.lock")]) == 0
    net = bundle.load(NAME, lock=declared.parent / "bundles.lock")
    assert isinstance(net, torch.nn.Module)
    with pytest.raises(ZooError, match="pins"):
        bundle.load(NAME, version="9.0.0", lock=declared.parent / "bundles.lock")
    with pytest.raises(ZooError, match="not in the lock file"):
        bundle.load("spleen", lock=declared.parent / "bundles.lock")


def test_sync_detects_files_that_differ_from_the_lock(tmp_path, zoo):
    index, version = zoo
    declared = tmp_path / "bundles.yaml"
    declared.write_text(json.dumps({"index": str(index), "bundles": {NAME: version}}))
    from bundle.registry.lock import lock, sync

    data = lock(declared)
    data["bundles"][NAME]["tree"] = "f" * 64
    (tmp_path / "bundles.lock").write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="run 'bundle lock' again"):
        sync(tmp_path / "bundles.lock")


def test_malformed_declarations_and_locks(tmp_path):
    from bundle.registry.lock import lock, sync

    (tmp_path / "bundles.yaml").write_text("bundles: [a, b]\n")
    with pytest.raises(FormatError, match="'bundles' mapping"):
        lock(tmp_path / "bundles.yaml")
    (tmp_path / "bundles.yaml").write_text("bundles:\n  a: {versoin: 1}\n")
    with pytest.raises(FormatError, match="unknown keys: versoin"):
        lock(tmp_path / "bundles.yaml")
    with pytest.raises(FormatError, match="bundle lock"):
        sync(tmp_path / "missing.lock")


def empty_the_cache() -> None:
    import shutil

    shutil.rmtree(Cache().root, ignore_errors=True)


def test_load_exports_torchscript_and_onnx_with_external_data(tmp_path):
    import shutil

    import numpy as np

    pytest.importorskip("onnxruntime")
    from bundle.export import export_bundle

    root = tmp_path / NAME
    shutil.copytree(REPO / "zoo" / NAME, root)
    export_bundle(root, format="torchscript", trace=True)
    report = export_bundle(root, format="onnx", external_data="always")
    assert (root / "models" / "model.onnx.data").is_file() and report.ok
    x = torch.rand(3, 1, 8, 8)
    eager = bundle.load(root)(x).detach()
    assert torch.allclose(bundle.load(root, format="torchscript")(x), eager, atol=1e-5)
    session = bundle.load(root, format="onnx")
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert np.allclose(onnx_out, eager.numpy(), atol=1e-4)
