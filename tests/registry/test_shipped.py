"""Zoo names whose release ships in zoo/ resolve without the network; a failed DNS look-up fails at once."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

import bundle.registry.index as index_module
from bundle.errors import DownloadError, ZooError
from bundle.registry.cache import Cache
from bundle.registry.download import download
from bundle.registry.fetch import fetch
from bundle.registry.shipped import shipped_folder

ZOO = Path(__file__).resolve().parents[2] / "zoo"
NAME = "ellipsoid_segmentation"
SHIPPED = json.loads((ZOO / NAME / "configs" / "metadata.json").read_text())["version"]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("BUNDLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BUNDLE_INDEX", raising=False)
    monkeypatch.delenv("BUNDLE_OFFLINE", raising=False)
    monkeypatch.delenv("BUNDLE_DOWNLOAD_SOURCE", raising=False)
    return tmp_path / "cache"


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the test connects: connection refused


def test_shipped_bundle_downloads_by_name_offline(cache_dir, monkeypatch):
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    folder = download(NAME)
    assert folder.is_relative_to(cache_dir)
    assert json.loads((folder / "configs" / "metadata.json").read_text())["version"] == SHIPPED
    assert (folder / "models" / "model.pt").read_bytes() == (ZOO / NAME / "models" / "model.pt").read_bytes()


def test_shipped_bundle_loads_by_name_offline(cache_dir, monkeypatch):
    torch = pytest.importorskip("torch")
    import bundle

    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    net = bundle.load(NAME)
    assert isinstance(net, torch.nn.Module)


def test_shipped_bundle_is_used_when_every_mirror_is_dead(cache_dir, tmp_path, monkeypatch):
    data = json.loads((ZOO / "index.json").read_text())
    port = _dead_port()
    for versions in data["bundles"].values():
        for entry in versions["versions"].values():
            entry["sources"] = [{"url": f"http://127.0.0.1:{port}/missing.zip"}]
    (tmp_path / "index.json").write_text(json.dumps(data))
    monkeypatch.setenv("BUNDLE_INDEX", str(tmp_path / "index.json"))
    assert (download(NAME) / "configs" / "inference.json").is_file()


def test_shipped_folder_that_differs_from_the_release_is_not_used(cache_dir, tmp_path, monkeypatch):
    copy = tmp_path / "zoo"
    shutil.copytree(ZOO / NAME, copy / NAME)
    shutil.copy(ZOO / "index.json", copy / "index.json")
    (copy / NAME / "docs" / "README.md").write_text("edited\n")
    monkeypatch.setattr(index_module, "packaged_zoo", lambda: copy)
    assert shipped_folder(NAME, SHIPPED) == copy / NAME
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    with pytest.raises(ZooError, match="BUNDLE_OFFLINE=1 forbids"):
        download(NAME)
    sha = json.loads((ZOO / "index.json").read_text())["bundles"][NAME]["versions"][SHIPPED]["sha256"]
    assert not Cache().blob_path(sha).exists()


def test_shipped_folder_of_another_version_is_not_used(cache_dir):
    assert shipped_folder(NAME, SHIPPED) == ZOO / NAME
    assert shipped_folder(NAME, "0.1.0") is None  # an earlier release: the zoo folder is not it
    assert shipped_folder(NAME, "9.9.9") is None
    assert shipped_folder("../etc", "0.1.0") is None


def test_unresolvable_host_fails_at_once_with_the_offline_hint(tmp_path, monkeypatch):
    calls = []
    real = socket.getaddrinfo

    def counting(host, *args, **kwargs):
        calls.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    with pytest.raises(DownloadError) as info:
        fetch("https://bundle-test.invalid/x.zip", tmp_path / "x.zip", retries=5)
    assert calls.count("bundle-test.invalid") == 1  # looked up once, not retried 5 times
    err = info.value
    assert "cannot resolve the host name 'bundle-test.invalid'" in str(err)
    assert "BUNDLE_OFFLINE=1" in err.hint and "local" in err.hint
    assert err.__cause__ is None and err.__suppress_context__  # no pages of urllib3 internals
    assert not (tmp_path / "x.zip").exists()
