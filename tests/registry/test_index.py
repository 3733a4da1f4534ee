"""The zoo index: schema checks with file:line, combining indexes, resolving names and versions."""

from __future__ import annotations

import json

import pytest

from bundle.errors import FormatError, ZooError
from bundle.registry.index import Index, canonical_index, write_index
from tests.conftest import REPO
from tests.registry.conftest import release, write_index as write_test_index


def test_resolve_latest_range_and_exact(zoo_index):
    index = Index.load(str(zoo_index))
    assert index.resolve("spleen_ct_segmentation").version == "0.10.0"
    assert index.resolve("spleen_ct_segmentation", "~0.9").version == "0.9.0"
    assert index.resolve("spleen_ct_segmentation", "1.0.0rc1").version == "1.0.0rc1"
    record = index.resolve("spleen_ct_segmentation", "0.10.0")
    assert record.changelog == "bigger patches" and record.size == 1 and record.license == "Apache-2.0"


def test_yanked_versions_are_skipped_by_ranges_but_reachable_exactly(zoo_index):
    index = Index.load(str(zoo_index))
    assert index.resolve("brats_mri_segmentation").version == "0.3.0"
    assert index.resolve("brats_mri_segmentation", "0.4.0").yanked == "wrong weights"
    assert index.versions("brats_mri_segmentation") == ["0.3.0"]


def test_unknown_bundle_names_close_matches(zoo_index):
    with pytest.raises(ZooError) as caught:
        Index.load(str(zoo_index)).resolve("spleen_ct_segmentaton")
    assert "no bundle named 'spleen_ct_segmentaton'" in str(caught.value)
    assert "did you mean 'spleen_ct_segmentation'" in str(caught.value)


def test_unknown_version_lists_the_versions(zoo_index):
    with pytest.raises(ZooError) as caught:
        Index.load(str(zoo_index)).resolve("spleen_ct_segmentation", "^2")
    assert "versions there: 1.0.0rc1, 0.10.0, 0.9.0, 0.2.0" in str(caught.value)


def test_search_matches_every_word(zoo_index):
    index = Index.load(str(zoo_index))
    assert [b.name for b in index.search("spleen")] == ["spleen_ct_segmentation", "spleen_deepedit_annotation"]
    assert [b.name for b in index.search("SPLEEN deepedit")] == ["spleen_deepedit_annotation"]
    assert index.search("liver") == []


def test_schema_violation_is_reported_at_file_and_line(tmp_path):
    bad = tmp_path / "index.json"
    data = json.loads((REPO / "zoo" / "index.json").read_text())
    name = sorted(data["bundles"])[0]
    version = next(iter(data["bundles"][name]["versions"]))
    data["bundles"][name]["versions"][version]["sha256"] = "not-a-hash"
    bad.write_text(json.dumps(data, indent=2))
    with pytest.raises(FormatError) as caught:
        Index.load(str(bad))
    message = str(caught.value)
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "not-a-hash" in text)
    assert f"{bad}:{line}:" in message and "sha256" in message


def test_invalid_json_names_line_and_column(tmp_path):
    bad = tmp_path / "index.json"
    bad.write_text('{"format": 1,\n "bundles": {,}}')
    with pytest.raises(FormatError, match=rf"{bad}:2:"):
        Index.load(str(bad))


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(ZooError, match="does not exist"):
        Index.load(str(tmp_path / "nope.json"))


def test_indexes_combine_and_disagreeing_hashes_are_refused(tmp_path, zoo_index):
    extra = write_test_index(tmp_path / "extra.json", {"spleen_ct_segmentation": {"2.0.0": release(b"z")},
                                                       "liver": {"0.1.0": release(b"l")}})
    index = Index.load(f"{zoo_index},{extra}")
    assert index.resolve("spleen_ct_segmentation").version == "2.0.0"
    assert "liver" in index and len(index) == 4
    clash = write_test_index(tmp_path / "clash.json", {"spleen_ct_segmentation": {"0.9.0": release(b"other")}})
    with pytest.raises(ZooError, match="two different archives"):
        Index.load([str(zoo_index), str(clash)])


def test_bundle_index_environment_variable(monkeypatch, zoo_index):
    monkeypatch.setenv("BUNDLE_INDEX", str(zoo_index))
    assert "spleen_deepedit_annotation" in Index.load()


def test_write_index_is_canonical_and_refuses_invalid_data(tmp_path, zoo_index):
    data = json.loads(zoo_index.read_text())
    out = tmp_path / "out.json"
    write_index(out, data)
    assert json.loads(out.read_text()) == canonical_index(data)
    assert list(json.loads(out.read_text())["bundles"]["spleen_ct_segmentation"]["versions"]) == [
        "1.0.0rc1", "0.10.0", "0.9.0", "0.2.0"]
    data["bundles"]["liver"] = {"summary": "", "license": "MIT", "versions": {}}
    with pytest.raises(FormatError, match="refusing to write an invalid index"):
        write_index(out, data)
    assert "liver" not in out.read_text()


def test_the_zoo_index_is_valid_and_names_every_zoo_bundle():
    index = Index.load(str(REPO / "zoo" / "index.json"))
    folders = sorted(p.parent.parent.name for p in (REPO / "zoo").glob("*/configs/metadata.json"))
    assert index.names() == folders
    for name in folders:
        version = json.loads((REPO / "zoo" / name / "configs" / "metadata.json").read_text())["version"]
        assert version in index.bundle(name).versions
