"""Releasing a zoo: zoo/zoo.json, index entries, release_zoo (packs, adds new versions, same bytes twice)."""

from __future__ import annotations

import hashlib
import json

import pytest

from bundle.errors import FormatError, ZooError
from bundle.registry.release import ZooConfig, index_entry, read_index_data, read_zoo_config, release_zoo
from tests.zoorepo import DATE, GITHUB, REPO, make_bundle, read_index, set_version


def zoo_folder(root, bundles: dict[str, str], config: dict | None = None):
    (root / "zoo").mkdir(parents=True)
    (root / "zoo" / "zoo.json").write_text(json.dumps(config or {"github": GITHUB}))
    for name, version in bundles.items():
        make_bundle(root / "zoo" / name, version)
    return root


@pytest.mark.parametrize("config, sources", [
    ({"github": "o/r"}, [{"github": "o/r", "tag": "b-v1.0.0", "asset": "b_v1.0.0.zip"}]),
    ({"github": "o/r", "url": "https://x.org/zoo/", "hf": "org"},
     [{"url": "https://x.org/zoo/b_v1.0.0.zip"}, {"github": "o/r", "tag": "b-v1.0.0", "asset": "b_v1.0.0.zip"},
      {"hf": "org/b", "revision": "v1.0.0", "filename": "b_v1.0.0.zip"}]),
], ids=["github-only", "all-mirrors"])
def test_zoo_config_sources(tmp_path, config, sources):
    (tmp_path / "zoo").mkdir()
    (tmp_path / "zoo" / "zoo.json").write_text(json.dumps(config))
    assert read_zoo_config(tmp_path).sources("b", "1.0.0") == sources


@pytest.mark.parametrize("text, match", [
    (None, "is not a bundle zoo"),
    ("{", "not valid JSON"),
    ('{"github": "o/r", "hff": "x"}', "unknown key 'hff'"),
    ('{"url": "https://x.org"}', 'no "github"'),
    ('{"github": "no-slash"}', "not OWNER/REPO"),
    ('{"github": "o/r", "url": "ftp://x"}', "not an http"),
], ids=["missing", "not-json", "typo", "no-github", "bad-repo", "bad-url"])
def test_zoo_config_errors(tmp_path, text, match):
    (tmp_path / "zoo").mkdir()
    if text is not None:
        (tmp_path / "zoo" / "zoo.json").write_text(text)
    with pytest.raises((ZooError, FormatError), match=match):
        read_zoo_config(tmp_path)


def test_this_repository_zoo_config_names_the_zoo_repository():
    assert read_zoo_config(REPO) == ZooConfig(github="bundle-zoo/zoo")


def test_index_entry_describes_the_packed_bundle(tmp_path):
    from bundle.registry.archive import pack

    bundle = make_bundle(tmp_path / "alpha", "0.3.0", "third")
    archive = pack(bundle, tmp_path / "alpha_v0.3.0.zip")
    entry = index_entry(bundle, archive, ZooConfig(github=GITHUB), published=DATE)
    assert (entry.name, entry.version, entry.license) == ("alpha", "0.3.0", "Apache-2.0")
    assert entry.summary.startswith("Handwritten digit classification")
    assert entry.release == {
        "sha256": hashlib.sha256(archive.path.read_bytes()).hexdigest(), "size": archive.path.stat().st_size,
        "published": DATE, "changelog": "third",
        "sources": [{"github": GITHUB, "tag": "alpha-v0.3.0", "asset": "alpha_v0.3.0.zip"}],
    }


def test_release_adds_new_versions_and_is_idempotent(tmp_path):
    repo = zoo_folder(tmp_path / "repo", {"alpha": "0.1.0", "beta": "0.2.0"})
    first = release_zoo(repo, tmp_path / "dist", published=DATE)
    assert [(r.name, r.version, r.new, r.tag) for r in first] == [
        ("alpha", "0.1.0", True, "alpha-v0.1.0"), ("beta", "0.2.0", True, "beta-v0.2.0")]
    index_bytes = (repo / "zoo" / "index.json").read_bytes()
    archives = {p.name: p.read_bytes() for p in (tmp_path / "dist").glob("*.zip")}
    assert set(archives) == {"alpha_v0.1.0.zip", "beta_v0.2.0.zip"}
    data = read_index_data(repo / "zoo" / "index.json")  # schema-valid
    assert data["bundles"]["beta"]["versions"]["0.2.0"]["sha256"] == hashlib.sha256(archives["beta_v0.2.0.zip"]).hexdigest()

    second = release_zoo(repo, tmp_path / "dist2", published="2030-12-31")
    assert not any(r.new for r in second)
    assert (repo / "zoo" / "index.json").read_bytes() == index_bytes
    assert {p.name: p.read_bytes() for p in (tmp_path / "dist2").glob("*.zip")} == archives
    manifest = json.loads((tmp_path / "dist2" / "release.json").read_text())
    assert [(m["tag"], m["asset"], m["new"]) for m in manifest] == [
        ("alpha-v0.1.0", "alpha_v0.1.0.zip", False), ("beta-v0.2.0", "beta_v0.2.0.zip", False)]


def test_release_of_a_bumped_version_keeps_the_old_one(tmp_path):
    repo = zoo_folder(tmp_path / "repo", {"alpha": "0.1.0"})
    release_zoo(repo, tmp_path / "dist", published=DATE)
    set_version(repo / "zoo" / "alpha", "0.2.0", "second")
    (releases,) = release_zoo(repo, tmp_path / "dist", published="2026-02-03")
    assert (releases.version, releases.new) == ("0.2.0", True)
    versions = read_index(repo)["bundles"]["alpha"]["versions"]
    assert list(versions) == ["0.2.0", "0.1.0"]  # newest first
    assert versions["0.2.0"]["published"] == "2026-02-03" and versions["0.2.0"]["changelog"] == "second"


def test_release_refuses_a_published_version_that_changed(tmp_path):
    repo = zoo_folder(tmp_path / "repo", {"alpha": "0.1.0", "beta": "0.1.0"})
    release_zoo(repo, tmp_path / "dist", published=DATE)
    before = (repo / "zoo" / "index.json").read_bytes()
    (repo / "zoo" / "alpha" / "docs" / "README.md").write_text("changed without a version bump\n")
    (repo / "zoo" / "beta" / "LICENSE").write_text("changed too\n")
    with pytest.raises(ZooError) as caught:
        release_zoo(repo, tmp_path / "dist", published=DATE)
    assert "zoo/alpha: version 0.1.0 packs to sha256" in str(caught.value)
    assert "zoo/beta: version 0.1.0 packs to sha256" in str(caught.value)
    assert "bump 'version'" in caught.value.hint
    assert (repo / "zoo" / "index.json").read_bytes() == before
