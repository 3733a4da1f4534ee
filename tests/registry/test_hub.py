"""Publishing to the Hugging Face Hub for real, through huggingface_hub, against the fake Hub on 127.0.0.1
(tests/fakehub.py): a Hub pull request with the bundle's files and archive; refusals upload nothing; release
archives mirrored and tagged once."""

from __future__ import annotations

import hashlib

import pytest

from bundle.errors import ZooError
from bundle.format.report import VerificationError
from bundle.registry.hub import upload_release
from bundle.registry.archive import bundle_files
from bundle.registry.publish import publish
from tests.fakehub import FakeHub
from tests.zoorepo import make_bundle, set_version

TOKEN = "hf_test_token"
pytestmark = pytest.mark.integration


@pytest.fixture
def hub(monkeypatch):
    with FakeHub(token=TOKEN) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        yield fake


def test_publish_opens_a_hub_pull_request(tmp_path, hub):
    bundle = make_bundle(tmp_path / "delta", "0.1.0", "first delta")
    (bundle / "logs").mkdir()
    (bundle / "logs" / "train.log").write_text("not published\n")
    hub.add_files("org/delta", {"old/stale.txt": b"from an older version", "README.md": b"keep? no"})

    result = publish(bundle, "hf:org/delta", net=False, weights=False)

    assert result.url == f"{hub.url}/org/delta/discussions/1" and result.branch == "refs/pr/1"
    (commit,) = hub.commits
    assert commit.create_pr and commit.revision == "main" and commit.summary == "Publish delta 0.1.0"
    assert result.sha256 in commit.description and "first delta" in commit.description
    expected = {rel: path.read_bytes() for rel, path in bundle_files(bundle)}
    assert set(commit.added) == set(expected) | {"delta_v0.1.0.zip"}
    assert all(commit.added[rel] == data for rel, data in expected.items())
    archive = commit.added["delta_v0.1.0.zip"]
    assert (hashlib.sha256(archive).hexdigest(), len(archive)) == (result.sha256, result.size)
    assert sorted(commit.deleted) == ["README.md", "old/stale.txt"]
    assert "logs/train.log" not in hub.files("org/delta", "refs/pr/1")
    assert "old/stale.txt" in hub.files("org/delta", "main")  # main changes only when the PR is merged


def test_publish_creates_a_missing_repository(tmp_path, hub):
    result = publish(make_bundle(tmp_path / "delta"), "hf:org/new-repo", net=False, weights=False)
    assert "org/new-repo" in hub.repos and result.url.endswith("/org/new-repo/discussions/1")


@pytest.mark.parametrize("case", ["tag-exists", "broken", "no-token", "bad-token"])
def test_hub_refusals_upload_nothing(tmp_path, hub, monkeypatch, case):
    bundle = make_bundle(tmp_path / "delta", "0.2.0", "second")
    if case == "tag-exists":
        hub.add_files("org/delta", {"x": b"1"}, tag="v0.2.0")
    elif case == "broken":
        set_version(bundle, "0.3.0", changelog=None)
    elif case == "no-token":
        monkeypatch.delenv("HF_TOKEN")
    else:
        monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    expected = {"tag-exists": (VerificationError, "delta 0.2.0 is already published; a published version never changes"),
                "broken": (VerificationError, "no entry for version '0.3.0'"),
                "no-token": (ZooError, "HF_TOKEN is not set"),
                "bad-token": (ZooError, "the Hub refused listing its tags in org/delta")}[case]
    with pytest.raises(expected[0], match=expected[1]):
        publish(bundle, "hf:org/delta", net=False, weights=False)
    assert hub.commits == []
    assert not any(method == "POST" for method, _ in hub.requests)


def test_hub_dry_run_uploads_nothing(tmp_path, hub, monkeypatch):
    result = publish(make_bundle(tmp_path / "delta"), "hf:org/delta", dry_run=True, net=False, weights=False)
    assert result.dry_run and "delta_v0.1.0.zip" in result.files and "configs/metadata.json" in result.files
    assert [method for method, _ in hub.requests] == ["GET"]  # the tags: is the version published already?
    monkeypatch.delenv("HF_TOKEN")  # without a token, nothing is asked at all
    assert publish(make_bundle(tmp_path / "x" / "delta"), "hf:org/delta", dry_run=True, net=False, weights=False).dry_run
    assert len(hub.requests) == 1 and hub.commits == []


def test_upload_release_mirrors_and_tags_once(tmp_path, hub):
    archive = tmp_path / "delta_v0.1.0.zip"
    archive.write_bytes(b"PK archive bytes")
    assert upload_release(archive, "org/delta", "v0.1.0") is True
    assert hub.files("org/delta", "v0.1.0")["delta_v0.1.0.zip"] == b"PK archive bytes"
    assert upload_release(archive, "org/delta", "v0.1.0") is False
    assert len(hub.commits) == 1


def test_fake_hub_serves_downloads(tmp_path, hub):
    """The fake Hub answers what hf_hub_download and snapshot_download ask (for the download tests)."""
    from huggingface_hub import hf_hub_download, snapshot_download

    hub.add_files("org/delta", {"configs/metadata.json": b"{}", "delta_v0.1.0.zip": b"zip"}, tag="v0.1.0")
    hub.add_files("org/delta", {"configs/metadata.json": b"{\"v\": 2}"})
    path = hf_hub_download("org/delta", "delta_v0.1.0.zip", revision="v0.1.0", cache_dir=tmp_path / "c",
                           endpoint=hub.url, token=TOKEN)
    assert open(path, "rb").read() == b"zip"
    folder = snapshot_download("org/delta", revision="v0.1.0", cache_dir=tmp_path / "c", endpoint=hub.url, token=TOKEN)
    assert open(f"{folder}/configs/metadata.json", "rb").read() == b"{}"
