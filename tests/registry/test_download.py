"""Downloading bundles from every source, against a real HTTP server on 127.0.0.1: the index (mirrors,
relative URLs, a remote index), url (checked and pinned), github, hf (the index's mirror), monai
(model_info.json and large_files.yml); copies to a folder; offline use; bad hashes cache nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from bundle.cli import main
from bundle.errors import IntegrityError, ZooError
from bundle.registry.archive import pack
from bundle.registry.cache import Cache
from bundle.registry.download import download
from tests.conftest import REPO
from tests.registry.conftest import write_index

NAME = "digits_classification"


@pytest.fixture(autouse=True)
def no_shipped_zoo(monkeypatch):
    """These tests download the zoo's own archive: its shipped folder (tests/registry/test_shipped.py) stays out."""
    import bundle.registry.index

    monkeypatch.setattr(bundle.registry.index, "packaged_zoo", lambda: None)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """The zoo's digits bundle packed the way the zoo releases it."""
    return pack(REPO / "zoo" / NAME, tmp_path_factory.mktemp("dist"))


def version_of(archive) -> str:
    return archive.path.name[len(NAME) + 2:-len(".zip")]


def entry(archive, sources) -> dict:
    return {"sha256": archive.sha256, "size": archive.size, "published": "2026-11-20", "sources": sources}


def test_index_download_then_cache_hit_then_offline(tmp_path, local_server, archive, monkeypatch):
    url = local_server.add("/a/digits.zip", archive.path.read_bytes())
    index = write_index(tmp_path / "index.json", {NAME: {version_of(archive): entry(archive, [{"url": url}])}})
    folder = download(NAME, index=str(index))
    assert (folder / "configs" / "metadata.json").is_file() and (folder / "models" / "model.pt").is_file()
    assert folder.is_relative_to(Cache().root)
    assert download(f"{NAME}@^{version_of(archive)}", index=str(index)) == folder
    assert len(local_server.requests("/a/digits.zip", "GET")) == 1  # the second one came from the cache
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    assert download(NAME, index=str(index)) == folder


def test_offline_and_not_cached_says_what_is_missing(tmp_path, archive, monkeypatch):
    index = write_index(tmp_path / "index.json", {NAME: {version_of(archive): entry(archive, [{"url": "http://127.0.0.1:9/x.zip"}])}})
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    with pytest.raises(ZooError) as caught:
        download(NAME, index=str(index))
    assert "BUNDLE_OFFLINE" in str(caught.value)


def test_mirrors_are_tried_in_order(tmp_path, local_server, archive, monkeypatch):
    local_server.add("/gone.zip", b"", statuses=[404] * 10)
    asset = f"/owner/zoo/releases/download/{NAME}-v{version_of(archive)}/{archive.path.name}"
    local_server.add(asset, archive.path.read_bytes())
    monkeypatch.setenv("BUNDLE_GITHUB_URL", local_server.url(""))
    sources = [{"url": local_server.url("/gone.zip")},
               {"github": "owner/zoo", "tag": f"{NAME}-v{version_of(archive)}", "asset": archive.path.name}]
    index = write_index(tmp_path / "index.json", {NAME: {version_of(archive): entry(archive, sources)}})
    folder = download(NAME, index=str(index))
    assert (folder / "configs").is_dir()
    assert len(local_server.requests(asset, "GET")) == 1


def test_hf_mirror_of_the_index_goes_to_hf_endpoint(tmp_path, local_server, archive, monkeypatch):
    path = f"/org/{NAME}/resolve/v{version_of(archive)}/{archive.path.name}"
    local_server.add(path, archive.path.read_bytes())
    monkeypatch.setenv("HF_ENDPOINT", local_server.url("").rstrip("/"))
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    sources = [{"hf": f"org/{NAME}", "revision": f"v{version_of(archive)}", "filename": archive.path.name}]
    index = write_index(tmp_path / "index.json", {NAME: {version_of(archive): entry(archive, sources)}})
    folder = download(NAME, index=str(index), source="hf")
    assert (folder / "configs").is_dir()
    assert local_server.requests(path, "GET")[0].headers["authorization"] == "Bearer hf_secret"


def test_relative_source_of_a_remote_index_and_the_index_cached_for_offline_use(local_server, archive, monkeypatch):
    local_server.add(f"/zoo/archives/{archive.path.name}", archive.path.read_bytes())
    data = {"format": 1, "bundles": {NAME: {"summary": "digits", "license": "CC-BY-4.0", "versions": {
        version_of(archive): entry(archive, [{"url": f"archives/{archive.path.name}"}])}}}}
    index_url = local_server.add("/zoo/index.json", json.dumps(data).encode())
    folder = download(NAME, index=index_url)
    assert (folder / "configs").is_dir()
    monkeypatch.setenv("BUNDLE_OFFLINE", "1")
    assert download(NAME, index=index_url) == folder
    assert len(local_server.requests("/zoo/index.json", "GET")) == 1


def test_wrong_bytes_are_rejected_and_nothing_is_cached(tmp_path, local_server, archive):
    url = local_server.add("/bad.zip", archive.path.read_bytes(), wrong_bytes=True)
    index = write_index(tmp_path / "index.json", {NAME: {version_of(archive): entry(archive, [{"url": url}])}})
    with pytest.raises(ZooError) as caught:
        download(NAME, index=str(index))
    assert "sha256" in str(caught.value)
    root = Cache().root
    assert not [p for p in root.rglob("*") if p.is_file() and not {"locks", "indexes"} & set(p.parts)]


def test_copy_to_a_folder_and_never_over_other_content(tmp_path, local_server, archive):
    url = local_server.add("/d.zip", archive.path.read_bytes())
    index = write_index(tmp_path / "index.json", {NAME: {version_of(archive): entry(archive, [{"url": url}])}})
    target = download(NAME, index=str(index), dir=tmp_path / "models")
    assert target == tmp_path / "models" / NAME and (target / "configs" / "metadata.json").is_file()
    assert not (target / ".bundle-cache.json").exists()
    assert download(NAME, index=str(index), bundle_dir=tmp_path / "models") == target  # same files: fine
    (target / "configs" / "extra.json").write_text("{}")
    with pytest.raises(ZooError, match="exists and holds something else"):
        download(NAME, index=str(index), dir=tmp_path / "models")
    assert (target / "configs" / "extra.json").is_file()


def test_url_source_checked_with_sha256(local_server, archive):
    with pytest.raises(IntegrityError):
        download(NAME, source="url", url=local_server.add(f"/v/{archive.path.name}", b"not it"), sha256=archive.sha256)
    url = local_server.add(f"/u/{archive.path.name}", archive.path.read_bytes())
    folder = download(NAME, source="url", url=url, sha256=archive.sha256)
    assert folder.name == version_of(archive)


def test_url_source_without_hash_is_pinned_on_first_download(local_server, archive, caplog):
    url = local_server.add(f"/p/{archive.path.name}", archive.path.read_bytes())
    first = download(NAME, source="url", url=url)
    assert "not verified" in caplog.text
    assert download(NAME, source="url", url=url) == first
    local_server.add(f"/p/{archive.path.name}", archive.path.read_bytes(), wrong_bytes=True)
    for kept in ("bundles", "blobs"):  # only the pin is left: the next use downloads, and must get the pinned bytes
        shutil.rmtree(Cache().root / kept)
    with pytest.raises(IntegrityError) as caught:
        download(NAME, source="url", url=url)
    assert "changed since it was first downloaded" in str(caught.value)


@pytest.mark.parametrize("source", [None, "github", "monaihosting"])
def test_a_given_url_is_downloaded_directly_as_monai_does(tmp_path, local_server, archive, source):
    monai_bundle = pytest.importorskip("monai.bundle")
    url = local_server.add(f"/direct/{archive.path.name}", archive.path.read_bytes())
    kwargs = {"source": source} if source else {}
    ours = download(NAME, url=url, bundle_dir=tmp_path / "ours", **kwargs)
    monai_bundle.download(name=NAME, url=url, bundle_dir=str(tmp_path / "monai"), progress=False, **kwargs)
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert ours == tmp_path / "ours" / NAME
    assert files(ours) == files(tmp_path / "monai" / NAME)
    assert all((ours / f).read_bytes() == (tmp_path / "monai" / NAME / f).read_bytes() for f in files(ours))


def test_github_source_with_monai_style_repo(local_server, archive, monkeypatch):
    monkeypatch.setenv("BUNDLE_GITHUB_URL", local_server.url("").rstrip("/"))
    local_server.add(f"/Project-MONAI/model-zoo/releases/download/hosting_storage_v1/{archive.path.name}",
                     archive.path.read_bytes())
    folder = download(NAME, version_of(archive), source="github", repo="Project-MONAI/model-zoo/hosting_storage_v1",
                      sha256=archive.sha256)
    assert (folder / "configs").is_dir()
    with pytest.raises(ZooError, match="exact version"):
        download(NAME, source="github", repo="Project-MONAI/model-zoo/hosting_storage_v1")


def test_unknown_source_and_ngc_are_clear_errors():
    with pytest.raises(ZooError, match="unknown source 'gihub'"):
        download(NAME, source="gihub")
    with pytest.raises(ZooError, match="NGC"):
        download(NAME, source="ngc")


# -- MONAI's model zoo -----------------------------------------------------------------------------------
def monai_zip(tmp_path: Path, name: str, version: str, large: dict | None) -> bytes:
    """A MONAI-style archive: NAME/ at the top, metadata, a LICENSE and optionally large_files.yml."""
    import zipfile

    path = tmp_path / f"{name}_v{version}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/configs/metadata.json", json.dumps({"version": version, "changelog": {version: "x"}}))
        zf.writestr(f"{name}/configs/inference.json", json.dumps({"network_def": {"_target_": "torch.nn.Identity"}}))
        zf.writestr(f"{name}/LICENSE", "Apache-2.0")
        if large:
            import yaml

            zf.writestr(f"{name}/large_files.yml", yaml.safe_dump({"large_files": [large]}))
    return path.read_bytes()


def test_monai_source_semantic_latest_sha1_and_large_files(tmp_path, local_server, monkeypatch):
    weights = b"weights" * 1000
    large = {"path": "models/model.pt", "url": local_server.add("/ngc/model.pt", weights),
             "hash_val": hashlib.md5(weights).hexdigest(), "hash_type": "md5"}
    info = {}
    for version in ("0.9.0", "0.10.0"):
        body = monai_zip(tmp_path, "spleen_ct_segmentation", version, large)
        url = local_server.add(f"/ngc/spleen_ct_segmentation_v{version}.zip", body)
        info[f"spleen_ct_segmentation_v{version}"] = {"checksum": hashlib.sha1(body).hexdigest(), "source": url}
    monkeypatch.setenv("BUNDLE_MONAI_INDEX", local_server.add("/model_info.json", json.dumps(info).encode()))
    folder = download("spleen_ct_segmentation", source="monaihosting")
    assert json.loads((folder / "configs" / "metadata.json").read_text())["version"] == "0.10.0"  # not 0.9.0
    assert (folder / "models" / "model.pt").read_bytes() == weights
    with pytest.raises(ZooError, match="did you mean 'spleen_ct_segmentation'"):
        download("spleen_ct_segmentaton", source="monai")


def test_monai_source_wrong_sha1_caches_nothing(tmp_path, local_server, monkeypatch):
    body = monai_zip(tmp_path, "valve_landmarks", "0.1.0", None)
    info = {"valve_landmarks_v0.1.0": {"checksum": "0" * 40, "source": local_server.add("/v.zip", body)}}
    monkeypatch.setenv("BUNDLE_MONAI_INDEX", local_server.add("/mi.json", json.dumps(info).encode()))
    with pytest.raises(IntegrityError, match="sha1"):
        download("valve_landmarks", source="monai")
    assert not (Cache().root / "bundles" / "valve_landmarks").exists() or not any(
        (Cache().root / "bundles" / "valve_landmarks").iterdir())


def test_monai_model_info_of_the_corpus_lists_versions_semantically():
    from bundle.registry.sources.monai import versions_of
    from bundle.registry.versions import pick
    from tests.conftest import COMPAT

    data = json.loads((COMPAT / "model_info.json").read_text())
    versions = versions_of(data, "spleen_ct_segmentation")
    assert len(versions) > 10
    assert pick(versions) == max(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


# -- large files of a local bundle, and the CLI ----------------------------------------------------------
def test_download_large_files_checks_hashes(tmp_path, local_server, capsys):
    root = tmp_path / "b"
    (root / "configs").mkdir(parents=True)
    good, bad = b"good" * 100, b"evil" * 100
    (root / "large_files.yml").write_text(
        "large_files:\n"
        f"  - path: models/model.pt\n    url: {local_server.add('/m.pt', good)}\n"
        f"    hash_val: {hashlib.sha256(good).hexdigest()}\n    hash_type: sha256\n"
        f"  - path: models/extra.pt\n    url: {local_server.add('/e.pt', bad)}\n"
        f"    hash_val: {hashlib.md5(good).hexdigest()}\n    hash_type: md5\n")
    assert main(["download_large_files", str(root)]) == 1
    assert "md5" in capsys.readouterr().err
    assert (root / "models" / "model.pt").read_bytes() == good
    assert not (root / "models" / "extra.pt").exists() and not list((root / "models").glob(".*"))
    assert main(["download_large_files", str(root), "--path", "models/model.pt"]) == 0
    assert "matches its hash" in capsys.readouterr().out
    assert main(["download_large_files", str(root), "--path", "models/modl.pt"]) == 1
    assert "lists no 'models/modl.pt'" in (err := capsys.readouterr().err) and "models/model.pt" in err
    # MONAI's meaning: --large_file_name names the manifest, which must be the bundle's
    assert main(["download_large_files", "--bundle_path", str(root), "--large_file_name", "large_files.json"]) == 1
    assert "has no large_files.json" in (err := capsys.readouterr().err) and "large_files.yml" in err
    assert main(["download_large_files", "--bundle_path", str(root), "--large_file_name", "large_files.yml",
                 "--path", "models/model.pt"]) == 0
    (root / "large_files.yml").unlink()  # no manifest: an error, not "every large file is there"
    assert main(["download_large_files", str(root)]) == 1
    assert "has no large_files.yml|yaml|json" in capsys.readouterr().err


def test_download_command_prints_the_folder_and_keeps_versions_as_text(tmp_path, local_server, archive, capsys):
    url = local_server.add("/c.zip", archive.path.read_bytes())
    index = write_index(tmp_path / "index.json", {NAME: {version_of(archive): entry(archive, [{"url": url}])}})
    assert main(["download", "--name", NAME, "--version", version_of(archive), "--index", str(index)]) == 0
    assert Path(capsys.readouterr().out.strip(), "configs").is_dir()
    assert main(["download", NAME, "--version", "0.10", "--index", str(index)]) == 1
    assert "no version matching '0.10'" in capsys.readouterr().err  # 0.10 stayed 0.10 (not the number 0.1)


# -- Hugging Face repositories holding a bundle's files (MONAI's hosting), through huggingface_hub ------------
@pytest.fixture
def hub(monkeypatch):
    from tests.fakehub import FakeHub

    with FakeHub(token="hf_read") as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setenv("HF_TOKEN", "hf_read")
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        yield fake


def bundle_files_of(name: str, version: str) -> dict[str, bytes]:
    return {"configs/metadata.json": json.dumps({"version": version, "changelog": {version: "x"}}).encode(),
            "configs/inference.json": b'{"network_def": {"_target_": "torch.nn.Identity"}}',
            "LICENSE": b"Apache-2.0", "README.md": f"# {name}".encode()}


def test_hf_repo_at_a_revision_then_from_the_cache_offline(hub, monkeypatch):
    hub.create_repo("MONAI/valve_landmarks")
    hub.add_files("MONAI/valve_landmarks", bundle_files_of("valve_landmarks", "0.4.0"), tag="0.4.0")
    folder = download("valve_landmarks", "0.4.0", source="huggingface_hub", repo="MONAI/valve_landmarks")
    assert json.loads((folder / "configs" / "metadata.json").read_text())["version"] == "0.4.0"
    assert not (folder / ".cache").exists()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download("valve_landmarks", "0.4.0", source="hf", repo="MONAI/valve_landmarks") == folder
    with pytest.raises(ZooError, match="offline"):
        download("valve_landmarks", "0.5.0", source="hf", repo="MONAI/valve_landmarks")


def test_hf_repo_errors_name_the_repo_and_revision(hub):
    hub.create_repo("MONAI/valve_landmarks")
    hub.add_files("MONAI/valve_landmarks", bundle_files_of("valve_landmarks", "0.4.0"), tag="0.4.0")
    with pytest.raises(ZooError, match="no revision '9.9.9'"):
        download("valve_landmarks", "9.9.9", source="hf", repo="MONAI/valve_landmarks")
    with pytest.raises(ZooError, match="hf:MONAI/nope does not exist"):
        download("nope", "0.1.0", source="hf", repo="MONAI/nope")


def test_monai_source_hosted_on_hugging_face(hub, local_server, monkeypatch):
    weights = b"w" * 4096
    files = bundle_files_of("spleen_ct_segmentation", "0.6.0")
    files["large_files.yml"] = (
        f"large_files:\n  - path: models/model.pt\n    url: {local_server.add('/w.pt', weights)}\n"
        f"    hash_val: {hashlib.sha256(weights).hexdigest()}\n    hash_type: sha256\n").encode()
    hub.create_repo("MONAI/spleen_ct_segmentation")
    hub.add_files("MONAI/spleen_ct_segmentation", files, tag="0.6.0")
    info = {"spleen_ct_segmentation_v0.6.0": {"checksum": "", "source": f"https://huggingface.co/MONAI/spleen_ct_segmentation/tree/0.6.0"},
            "spleen_ct_segmentation_v0.5.9": {"checksum": "", "source": "https://huggingface.co/MONAI/spleen_ct_segmentation/tree/0.5.9"}}
    monkeypatch.setenv("BUNDLE_MONAI_INDEX", local_server.add("/model_info.json", json.dumps(info).encode()))
    folder = download("spleen_ct_segmentation", source="monai")
    assert (folder / "models" / "model.pt").read_bytes() == weights
    assert json.loads((folder / "configs" / "metadata.json").read_text())["version"] == "0.6.0"


def test_download_command_with_monai_source_on_the_corpus_spleen_bundle(tmp_path, local_server, monkeypatch, capsys):
    """The corpus' spleen bundle zipped in MONAI's layout, its large_files.yml (md5 entries) pointing at 127.0.0.1."""
    import zipfile

    import yaml

    from tests.conftest import COMPAT

    source = COMPAT / "bundles" / "spleen_ct_segmentation"
    version = json.loads((source / "configs" / "metadata.json").read_text())["version"]
    manifest = yaml.safe_load((source / "large_files.yml").read_text())
    payloads = {}
    for item in manifest["large_files"]:
        payloads[item["path"]] = data = f"weights of {item['path']}".encode() * 100
        item["url"] = local_server.add("/nvidia/" + item["path"].replace("/", "_"), data)
        item["hash_val"] = hashlib.md5(data).hexdigest()
    archive = tmp_path / f"spleen_ct_segmentation_v{version}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file() and path.name != "large_files.yml":
                zf.write(path, f"spleen_ct_segmentation/{path.relative_to(source)}")
        zf.writestr("spleen_ct_segmentation/large_files.yml", yaml.safe_dump(manifest))
    body = archive.read_bytes()
    info = {f"spleen_ct_segmentation_v{version}": {"checksum": hashlib.sha1(body).hexdigest(),
                                                   "source": local_server.add(f"/ngc/{archive.name}", body)}}
    monkeypatch.setenv("BUNDLE_MONAI_INDEX", local_server.add("/models/model_info.json", json.dumps(info).encode()))
    assert main(["download", "spleen_ct_segmentation", "--source", "monai", "--bundle_dir", str(tmp_path / "models")]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert folder == tmp_path / "models" / "spleen_ct_segmentation"
    for rel, data in payloads.items():
        assert (folder / rel).read_bytes() == data
    assert (folder / "configs" / "inference.json").read_bytes() == (source / "configs" / "inference.json").read_bytes()
