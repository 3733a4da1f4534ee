"""Bundles that ship beside their index resolve by name with no network, but only as the published bytes;
a host that does not resolve fails at once, with the offline hint and no page of urllib3 internals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import traceback

import pytest

from bundle.errors import DownloadError, ZooError
from bundle.registry.archive import pack
from bundle.registry.download import download
from bundle.registry.index import Index
from bundle.registry.shipped import shipped_folder
from tests.conftest import REPO
from tests.registry.conftest import write_index

ZOO = REPO / "zoo"


def _zoo_copy(tmp_path, host="http://zoo.invalid"):
    """A zoo folder (index + one bundle folder) whose only source is an unresolvable host."""
    zoo = tmp_path / "zoo"
    shutil.copytree(ZOO / "digits_classification", zoo / "digits_classification",
                    ignore=shutil.ignore_patterns("eval", "logs", "__pycache__"))
    info = pack(zoo / "digits_classification", tmp_path / "released.zip")
    version = json.loads((zoo / "digits_classification/configs/metadata.json").read_text())["version"]
    entry = {"sha256": info.sha256, "size": info.size, "published": "2026-11-01",
             "sources": [{"url": f"{host}/digits_classification_v{version}.zip"}]}
    return write_index(zoo / "index.json", {"digits_classification": {version: entry}}), version


def test_the_checkouts_own_zoo_resolves_offline_by_name(monkeypatch):
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    for name in Index.load().names():
        folder = download(name)
        assert (folder / "configs" / "metadata.json").is_file()
        assert shipped_folder(Index.load().resolve(name)) == ZOO / name


def test_a_shipped_bundle_needs_no_mirror_and_leaves_nothing_in_tmp(tmp_path, monkeypatch):
    index, version = _zoo_copy(tmp_path)
    monkeypatch.setenv("BUNDLE_INDEX", str(index))
    folder = download("digits_classification")  # online, but the only mirror cannot be reached
    assert folder.name == version and (folder / "models" / "model.pt").is_file()
    assert not [p for p in (folder.parents[2] / "tmp").iterdir() if p.suffix == ".zip"]


def test_an_edited_shipped_folder_is_not_taken_for_the_release(tmp_path, monkeypatch):
    index, _ = _zoo_copy(tmp_path)
    (tmp_path / "zoo/digits_classification/docs/README.md").write_text("edited after the release\n")
    monkeypatch.setenv("BUNDLE_INDEX", str(index))
    with pytest.raises(DownloadError, match="cannot resolve host 'zoo.invalid'"):
        download("digits_classification")
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    with pytest.raises(ZooError, match="BUNDLE_OFFLINE=1 forbids downloading"):
        download("digits_classification")


def test_a_host_that_does_not_resolve_fails_at_once_with_the_offline_hint(tmp_path, monkeypatch):
    attempts = []
    import socket

    real = socket.getaddrinfo

    def counting(host, *args, **kwargs):
        attempts.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    from bundle.registry.cache import Cache

    with pytest.raises(DownloadError) as caught:
        Cache(tmp_path / "c").blob("0" * 64, "http://zoo.invalid/x.zip")
    assert attempts == ["zoo.invalid"]  # not retried: 5 retries with backoff took 15 s offline
    err = caught.value
    assert "BUNDLE_OFFLINE=1" in err.hint and "local bundle folder" in err.hint
    assert err.__cause__ is None and err.__suppress_context__
    assert len(traceback.format_exception(err)) < 15


def test_python_callers_get_a_short_traceback(tmp_path):
    index, _ = _zoo_copy(tmp_path)
    (tmp_path / "zoo/digits_classification/docs/README.md").write_text("edited\n")
    code = "import bundle; bundle.load('digits_classification')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"BUNDLE_INDEX": str(index), "BUNDLE_CACHE_DIR": str(tmp_path / "c"),
                              "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1
    assert "During handling of the above exception" not in out.stderr
    assert "direct cause" not in out.stderr
    assert "BUNDLE_OFFLINE=1" in out.stderr and len(out.stderr.splitlines()) < 40, out.stderr


def test_a_wheel_ships_the_zoo_and_its_bundles_resolve_offline(tmp_path, monkeypatch):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    for name in ("bundle", "zoo", "schemas"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "eval", "logs"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    import zipfile

    [wheel] = (tmp_path / "dist").glob("*.whl")
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    shipped = tmp_path / "site" / "bundle" / "_zoo"
    monkeypatch.setenv("BUNDLE_INDEX", str(shipped / "index.json"))
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    for name in Index.load().names():
        assert shipped_folder(Index.load().resolve(name)) == shipped / name
        assert (download(name) / "models" / "model.pt").is_file()
