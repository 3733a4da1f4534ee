"""The cache: one download per blob across processes, verification on every hit, bundles with manifests, prune."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bundle.errors import BundleError, IntegrityError, ZooError
from bundle.registry.archive import pack
from bundle.registry.cache import Cache
from bundle.registry.manifest import MANIFEST

REPO = Path(__file__).resolve().parents[2]
DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def cache(tmp_path):
    return Cache(tmp_path / "cache")


def make_archive(tmp_path, name="demo", version="0.1.0", extra=b""):
    root = tmp_path / "src" / version / name
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "metadata.json").write_text(json.dumps({"version": version}))
    (root / "models").mkdir()
    (root / "models" / "model.pt").write_bytes(b"weights" + extra + version.encode())
    return pack(root, tmp_path / "src" / f"{name}_v{version}.zip")


def test_default_root_and_offline_flag(monkeypatch, tmp_path):
    assert Cache().root == Path(os.environ["BUNDLE_CACHE_DIR"])  # conftest isolates it
    monkeypatch.delenv("BUNDLE_CACHE_DIR")
    assert Cache().root.name == "bundle"
    assert not Cache().offline
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    assert Cache().offline


def test_a_blob_is_downloaded_once_then_served_from_the_cache(cache, local_server):
    url = local_server.add("/a.zip", DATA)
    path = cache.blob(SHA, [url], size=len(DATA))
    assert path == cache.root / "blobs" / "sha256" / SHA and path.read_bytes() == DATA
    assert cache.blob(SHA, [url]) == path
    assert len(local_server.requests("/a.zip")) == 1
    assert list((cache.root / "tmp").iterdir()) == []


def test_a_corrupted_blob_is_detected_deleted_and_fetched_again(cache, local_server, caplog):
    url = local_server.add("/a.zip", DATA)
    path = cache.blob(SHA, url)
    path.write_bytes(b"bit rot" + DATA[7:])
    with caplog.at_level(logging.WARNING, logger="bundle.registry.cache"):
        assert cache.blob(SHA, url).read_bytes() == DATA
    assert "corrupted" in caplog.text
    assert len(local_server.requests("/a.zip")) == 2


def test_mirrors_are_tried_in_order(cache, local_server):
    missing, good = local_server.url("/gone.zip"), local_server.add("/a.zip", DATA)
    assert cache.blob(SHA, [missing, good]).read_bytes() == DATA
    assert len(local_server.requests("/gone.zip")) == 1 and len(local_server.requests("/a.zip")) == 1


def test_when_every_mirror_fails_one_error_lists_them_all(cache, local_server):
    missing = local_server.url("/gone.zip")
    wrong = local_server.add("/wrong.zip", DATA, wrong_bytes=True)
    with pytest.raises(ZooError) as info:
        cache.blob(SHA, [missing, wrong])
    text = str(info.value)
    assert "any of its 2 sources" in text and missing in text and wrong in text
    assert "HTTP 404" in text and "wrong sha256" in text
    assert [url for url, _ in info.value.failures] == [missing, wrong]


def test_wrong_bytes_leave_nothing_in_the_cache(cache, local_server):
    url = local_server.add("/a.zip", DATA, wrong_bytes=True)
    with pytest.raises(IntegrityError):
        cache.blob(SHA, [url])
    assert list((cache.root / "blobs" / "sha256").iterdir()) == []
    assert list((cache.root / "tmp").iterdir()) == []
    assert cache.entries() == []


def test_a_dropped_blob_download_resumes_from_the_cache_tmp_folder(cache, local_server):
    url = local_server.add("/a.zip", DATA, drop_after=100_000)
    assert cache.blob(SHA, [url]).read_bytes() == DATA
    assert [r.range for r in local_server.requests("/a.zip")] == [None, "bytes=100000-"]


def test_offline_a_miss_says_what_is_missing_and_how_to_fix_it(cache, local_server, monkeypatch):
    url = local_server.add("/a.zip", DATA)
    cache.blob(SHA, [url])
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    assert cache.blob(SHA, [url]).read_bytes() == DATA  # a hit needs no network
    other = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(ZooError) as info:
        cache.blob(other, [url])
    assert other in str(info.value) and "BUNDLE_OFFLINE=1" in str(info.value)
    assert "connected machine" in info.value.hint and "unset BUNDLE_OFFLINE" in info.value.hint
    with pytest.raises(ZooError, match="bundle 'demo' version 9.9.9 is not in the cache"):
        cache.bundle("demo", "9.9.9", other, [url])
    assert len(local_server.requests("/a.zip")) == 1


@pytest.mark.integration
def test_two_processes_fetching_the_same_blob_download_it_once(tmp_path, local_server):
    url = local_server.add("/a.zip", DATA, delay=0.5)  # slow enough that both processes overlap
    code = (
        "import sys; from bundle.registry.cache import Cache\n"
        "print(Cache(sys.argv[1]).blob(sys.argv[2], [sys.argv[3]]).read_bytes() == open(sys.argv[4], 'rb').read())\n"
    )
    (tmp_path / "expected").write_bytes(DATA)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-c", code, str(tmp_path / "cache"), SHA, url, str(tmp_path / "expected")]
    procs = [subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["True", "True"]
    assert len(local_server.requests("/a.zip", "GET")) == 1


def test_a_bundle_is_extracted_once_with_a_manifest(cache, local_server, tmp_path):
    info = make_archive(tmp_path)
    url = local_server.add("/demo.zip", info.path.read_bytes())
    folder = cache.bundle("demo", "0.1.0", info.sha256, [url], size=info.size)
    assert folder == cache.root / "bundles" / "demo" / "0.1.0"
    assert (folder / "models" / "model.pt").read_bytes() == b"weights0.1.0"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["name"] == "demo" and manifest["version"] == "0.1.0" and manifest["sha256"] == info.sha256
    assert manifest["origin"] == url
    assert sorted(manifest["files"]) == ["configs/metadata.json", "models/model.pt"]
    assert manifest["files"]["models/model.pt"] == hashlib.sha256(b"weights0.1.0").hexdigest()
    assert cache.bundle("demo", "0.1.0", info.sha256, [url]) == folder
    assert len(local_server.requests("/demo.zip")) == 1
    assert sorted(p.name for p in (cache.root / "tmp").iterdir()) == []


@pytest.mark.parametrize("damage", ["changed", "missing", "added"])
def test_a_changed_bundle_folder_is_extracted_again_from_its_archive(cache, local_server, tmp_path, caplog, damage):
    info = make_archive(tmp_path)
    url = local_server.add("/demo.zip", info.path.read_bytes())
    folder = cache.bundle("demo", "0.1.0", info.sha256, [url])
    weights = folder / "models" / "model.pt"
    if damage == "changed":
        weights.write_bytes(b"tampered")
    elif damage == "missing":
        weights.unlink()
    else:
        (folder / "models" / "extra.pt").write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="bundle.registry.cache"):
        assert cache.bundle("demo", "0.1.0", info.sha256, [url]) == folder
    assert weights.read_bytes() == b"weights0.1.0"
    assert not (folder / "models" / "extra.pt").exists()
    assert damage in caplog.text or "is missing" in caplog.text
    assert len(local_server.requests("/demo.zip")) == 1  # the verified archive in the cache was enough


def test_a_bundle_from_a_record(cache, local_server, tmp_path):
    info = make_archive(tmp_path)
    url = local_server.add("/demo.zip", info.path.read_bytes())
    record = SimpleNamespace(name="demo", version="0.1.0", sha256=info.sha256, size=info.size,
                             sources=[{"github": "o/r", "tag": "t", "asset": "a"}, {"url": url}])
    folder = cache.bundle(record)
    assert (folder / "configs" / "metadata.json").exists()


def test_names_that_are_not_folder_names_are_refused(cache):
    for name, version in [("../x", "1"), ("demo", ".."), ("a/b", "1"), (".hidden", "1")]:
        with pytest.raises(ZooError, match="cannot be a folder name"):
            cache.bundle(name, version, SHA, [])


def test_add_tree_copies_a_folder_following_links(cache, tmp_path):
    store = tmp_path / "hf" / "blobs"
    store.mkdir(parents=True)
    (store / "abc").write_bytes(b"weights")
    snap = tmp_path / "hf" / "snapshot"
    (snap / "models").mkdir(parents=True)
    (snap / "models" / "model.pt").symlink_to(store / "abc")
    (snap / ".gitattributes").write_text("*.pt lfs")
    (snap / "run.sh").write_text("#!/bin/sh\n")
    (snap / "run.sh").chmod(0o755)
    folder = cache.add_tree("spleen", "0.5.0", snap, origin="hf:MONAI/spleen@v0.5.0")
    assert folder == cache.root / "bundles" / "spleen" / "0.5.0"
    model = folder / "models" / "model.pt"
    assert model.read_bytes() == b"weights" and not model.is_symlink()
    assert not (folder / ".gitattributes").exists() and os.access(folder / "run.sh", os.X_OK)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["sha256"] is None and manifest["origin"] == "hf:MONAI/spleen@v0.5.0"
    assert sorted(manifest["files"]) == ["models/model.pt", "run.sh"]
    with pytest.raises(ZooError, match="not a folder"):
        cache.add_tree("spleen", "0.5.0", tmp_path / "nope", origin=None)


def fill(cache, local_server, tmp_path, versions=("0.1.0", "0.2.0", "0.10.0"), name="demo"):
    infos = {}
    for v in versions:
        info = make_archive(tmp_path / name, name=name, version=v)
        url = local_server.add(f"/{name}-{v}.zip", info.path.read_bytes())
        cache.bundle(name, v, info.sha256, [url])
        infos[v] = info
    return infos


def test_entries_list_bundles_and_their_archives(cache, local_server, tmp_path):
    infos = fill(cache, local_server, tmp_path, versions=("0.1.0",))
    loose = cache.blob(SHA, [local_server.add("/a.zip", DATA)])
    entries = cache.entries()
    assert [(e.kind, e.name, e.version) for e in entries[:1]] == [("bundle", "demo", "0.1.0")]
    blobs = entries[1:]
    assert {(e.kind, e.name, e.version) for e in blobs} == {("blob", "demo", "0.1.0"), ("blob", None, None)}
    assert [e.sha256 for e in blobs] == sorted([infos["0.1.0"].sha256, SHA])
    bundle = entries[0]
    assert bundle.sha256 == infos["0.1.0"].sha256 and bundle.size == len(b"weights0.1.0") + len('{"version": "0.1.0"}')
    assert abs(bundle.last_used - time.time()) < 60
    assert {e.path for e in entries if e.kind == "blob"} == {loose, cache.blob_path(infos["0.1.0"].sha256)}
    assert json.dumps(bundle.as_dict())


def test_prune_keeps_the_newest_versions_by_semantic_order(cache, local_server, tmp_path):
    infos = fill(cache, local_server, tmp_path)
    would = cache.prune(keep=1, dry_run=True)
    assert sorted((e.kind, e.version) for e in would) == [
        ("blob", "0.1.0"), ("blob", "0.2.0"), ("bundle", "0.1.0"), ("bundle", "0.2.0")]
    assert len(cache.entries()) == 6  # a dry run removes nothing
    removed = cache.prune(keep=1)
    assert sorted((e.kind, e.version) for e in removed) == sorted((e.kind, e.version) for e in would)
    left = cache.entries()
    assert [(e.kind, e.version) for e in left] == [("bundle", "0.10.0"), ("blob", "0.10.0")]
    assert left[1].sha256 == infos["0.10.0"].sha256
    assert sorted(p.name for p in (cache.root / "bundles" / "demo").iterdir()) == ["0.10.0"]
    assert list((cache.root / "tmp").iterdir()) == []


def test_prune_by_age_name_and_everything(cache, local_server, tmp_path):
    fill(cache, local_server, tmp_path, versions=("0.1.0", "0.2.0"))
    fill(cache, local_server, tmp_path, versions=("1.0.0",), name="other")
    old = time.time() - 10 * 86400
    os.utime(cache.bundle_path("demo", "0.1.0") / MANIFEST, (old, old))
    assert [(e.name, e.version) for e in cache.prune(older_than_days=5) if e.kind == "bundle"] == [("demo", "0.1.0")]
    assert [(e.kind, e.name) for e in cache.prune(name="other", everything=True)] == [("bundle", "other"), ("blob", "other")]
    assert not (cache.root / "bundles" / "other").exists()
    assert [(e.kind, e.version) for e in cache.entries()] == [("bundle", "0.2.0"), ("blob", "0.2.0")]
    loose = cache.blob(SHA, [local_server.add("/a.zip", DATA)])
    assert [e.path for e in cache.prune()] == [loose]  # no criterion: only archives no bundle refers to
    assert len(cache.prune(everything=True)) == 2
    assert cache.entries() == []


def test_prune_skips_an_entry_another_process_holds(cache, local_server, tmp_path, caplog):
    fill(cache, local_server, tmp_path, versions=("0.1.0",))
    code = ("import sys, time; from filelock import FileLock\n"
            "lock = FileLock(sys.argv[1]); lock.acquire(); print('locked', flush=True); time.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(cache.root / "locks" / "bundle-demo-0.1.0.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        removed = cache.prune(everything=True)
    finally:
        holder.kill()
        holder.wait()
    assert [e.kind for e in removed] == []  # the bundle is busy, and its archive is still referenced
    assert "in use by another process" in caplog.text
    assert [e.kind for e in cache.entries()] == ["bundle", "blob"]


def test_cache_command_lists_prunes_and_locates(cache, local_server, tmp_path, capsys, monkeypatch):
    from bundle.cli.cache import cache as command

    monkeypatch.setenv("BUNDLE_CACHE_DIR", str(cache.root))
    fill(cache, local_server, tmp_path, versions=("0.1.0", "0.2.0"))
    assert command("dir") == 0
    assert capsys.readouterr().out.strip() == str(cache.root)
    assert command("list") == 0
    out = capsys.readouterr().out
    assert "KIND" in out and "demo" in out and "0.2.0" in out and "total:" in out
    assert command("list", json=True) == 0
    assert len(json.loads(capsys.readouterr().out)["entries"]) == 4
    assert command("prune", keep=1, dry_run=True) == 0
    assert "would remove 2 entries" in capsys.readouterr().out
    assert command("prune", keep=1, json=True) == 0
    assert [e["version"] for e in json.loads(capsys.readouterr().out)["removed"]] == ["0.1.0", "0.1.0"]
    with pytest.raises(BundleError, match="unknown cache action 'purge'"):
        command("purge")


def test_a_cache_that_cannot_be_locked_still_serves_hits(cache, local_server, tmp_path, monkeypatch):
    import filelock

    info = make_archive(tmp_path)
    url = local_server.add("/demo.zip", info.path.read_bytes())
    folder = cache.bundle("demo", "0.1.0", info.sha256, [url])

    def refuse(self, *args, **kwargs):  # what a read-only cache folder (shared, offline) does
        raise PermissionError(13, "Read-only file system", str(self.lock_file))

    monkeypatch.setattr(filelock.FileLock, "acquire", refuse)
    assert cache.bundle("demo", "0.1.0", info.sha256, [url]) == folder
    assert cache.blob(info.sha256, [url]) == cache.blob_path(info.sha256)
    assert len(local_server.requests("/demo.zip")) == 1


def test_the_cache_modules_import_neither_torch_nor_requests():
    code = ("import sys, bundle.cli.cache, bundle.registry.cache, bundle.registry.archive\n"
            "print(sorted(m for m in ('torch', 'requests', 'huggingface_hub', 'filelock') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
