"""Checking submissions and zoo pull requests: check_submission, changed_bundles, review_changes on a real
git repository whose branch adds, changes (with and without a version bump), breaks and deletes bundles."""

from __future__ import annotations

import json

import pytest

from bundle.registry.review import changed_bundles, check_submission, review_changes
from tests.zoorepo import commit_all, feature_branch, git, init_zoo, make_bundle, read_index, set_version


def index_with(name: str, *versions: str) -> dict:
    entry = {"sha256": "ab" * 32, "size": 10, "published": "2026-01-01", "sources": [{"url": "x.zip"}]}
    return {"format": 1, "bundles": {name: {"summary": "s", "license": "MIT", "versions": {v: entry for v in versions}}}}


def version_problems(report) -> list[str]:
    return [p.message for p in report.errors if p.check == "version"]


def test_submission_of_a_new_version_passes(tmp_path):
    bundle = make_bundle(tmp_path / "alpha", "0.2.0")
    report = check_submission(bundle, index_with("alpha", "0.1.0"), net=False, weights=False)
    assert report.ok, report.format()
    assert "version" in report.checked


@pytest.mark.parametrize("published, version, expected", [
    (["0.1.0"], "0.1.0", "alpha 0.1.0 is already published (sha256 abababababab...); a published version never changes"),
    (["0.1.0", "0.3.0"], "0.2.0", "version 0.2.0 is older than the published 0.3.0"),
    ([], "1.0-final", "version '1.0-final' cannot be published"),
], ids=["exists", "older", "bad-version"])
def test_submission_version_problems(tmp_path, published, version, expected):
    bundle = make_bundle(tmp_path / "alpha", version)
    report = check_submission(bundle, index_with("alpha", *published), net=False, weights=False)
    assert version_problems(report) == [expected]
    (problem,) = [p for p in report.errors if p.check == "version"]
    assert str(problem.location) == "configs/metadata.json" and problem.hint


def test_submission_lists_every_problem(tmp_path):
    bundle = make_bundle(tmp_path / "alpha", "0.1.0", changelog=None)  # 0.1.0 has an entry: bump to one that has none
    set_version(bundle, "0.2.0", changelog=None)
    (bundle / "LICENSE").unlink()
    report = check_submission(bundle, index_with("alpha", "0.2.0"), net=False, weights=False)
    messages = {(p.check, p.message) for p in report.errors}
    assert ("changelog", "the changelog has no entry for version '0.2.0'") in messages
    assert ("license", "LICENSE is missing") in messages
    assert ("version", "alpha 0.2.0 is already published (sha256 abababababab...); a published version never changes") in messages


def test_submission_runs_the_network_and_weights_checks(tmp_path):
    bundle = make_bundle(tmp_path / "alpha", "0.1.0")
    meta_file = bundle / "configs" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["network_data_format"]["outputs"]["pred"]["num_channels"] = 7
    meta_file.write_text(json.dumps(meta))
    report = check_submission(bundle, {"format": 1, "bundles": {}})
    assert not report.ok and {p.check for p in report.errors} == {"network"}


# -- a zoo pull request ------------------------------------------------------------------------------

@pytest.fixture
def zoo(tmp_path):
    """main: alpha, beta, gamma, epsilon at 0.1.0, released. Branch 'feature' adds delta, bumps alpha,
    changes beta without a bump, breaks gamma (no changelog entry for its new version, no LICENSE), deletes
    epsilon."""
    return feature_branch(init_zoo(tmp_path / "zoo", {"alpha": "0.1.0", "beta": "0.1.0", "gamma": "0.1.0", "epsilon": "0.1.0"}),
                          delete=("epsilon",))


@pytest.mark.integration
def test_changed_bundles_leaves_out_deleted_ones(zoo):
    assert changed_bundles(zoo, "main") == ["alpha", "beta", "delta", "gamma"]
    assert changed_bundles(zoo, "main", "main") == []


@pytest.mark.integration
def test_review_reports_exactly_the_problems(zoo):
    review = review_changes(zoo, "main")
    found = {name: sorted((p.check, p.message) for p in problems) for name, problems in review.problems().items()}
    assert found == {
        "beta": [("version", "beta 0.1.0 is already published (sha256 "
                  f"{read_index(zoo)['bundles']['beta']['versions']['0.1.0']['sha256'][:12]}...); "
                  "a published version never changes")],
        "gamma": [("changelog", "the changelog has no entry for version '0.2.0'"), ("license", "LICENSE is missing")],
    }
    assert not review.ok
    text = review.format()
    for line in ("zoo/alpha: ok", "zoo/delta: ok", "zoo/beta: 1 problem", "zoo/gamma: 2 problems", "zoo/index.json: ok",
                 "FAILED: 3 problems in 2 subjects", 'hint: bump "version" in configs/metadata.json'):
        assert line in text, text


@pytest.mark.integration
def test_review_of_a_good_branch_passes(tmp_path):
    repo = init_zoo(tmp_path / "zoo", {"alpha": "0.1.0"})
    git(repo, "checkout", "--quiet", "-b", "good")
    set_version(repo / "zoo" / "alpha", "0.2.0", "better")
    make_bundle(repo / "zoo" / "delta", "0.1.0")
    commit_all(repo, "good")
    review = review_changes(repo, "main", net=False, weights=False)
    assert review.ok, review.format()
    assert review.changed == ["alpha", "delta"]


@pytest.mark.integration
def test_review_checks_the_index(tmp_path):
    from bundle.registry.release import release_zoo

    repo = init_zoo(tmp_path / "zoo", {"alpha": "0.1.0", "beta": "0.1.0"})
    git(repo, "checkout", "--quiet", "-b", "edit-index")
    make_bundle(repo / "zoo" / "delta", "0.1.0")
    release_zoo(repo, tmp_path / "dist", published="2026-03-04")  # adds delta 0.1.0, as publish does
    data = read_index(repo)
    data["bundles"]["alpha"]["versions"]["0.1.0"]["size"] += 1                      # a published entry edited
    data["bundles"]["beta"]["versions"]["0.1.0"]["yanked"] = "broken weights"      # allowed
    data["bundles"]["delta"]["versions"]["0.1.0"]["sha256"] = "0" * 64             # does not match zoo/delta
    data["bundles"]["beta"]["versions"]["0.9.0"] = dict(data["bundles"]["beta"]["versions"]["0.1.0"])  # not in zoo/
    (repo / "zoo" / "index.json").write_text(json.dumps(data, indent=2))
    commit_all(repo, "edit the index")
    problems = review_changes(repo, "main", net=False, weights=False).problems()
    assert sorted(problems) == ["alpha", "delta", "zoo/index.json"]
    messages = [p.message for p in problems["zoo/index.json"]]
    assert messages == ["alpha 0.1.0 is changed in the index (size); published entries never change",
                        "the index adds beta 0.9.0, but zoo/beta is at version 0.1.0"]
    assert "packs to sha256" in problems["alpha"][0].message and "unchanged here" in problems["alpha"][0].hint
    assert f"the index records {'0' * 64}" in problems["delta"][0].message


@pytest.mark.integration
def test_review_reports_an_index_that_breaks_its_schema(tmp_path):
    repo = init_zoo(tmp_path / "zoo", {"alpha": "0.1.0"})
    git(repo, "checkout", "--quiet", "-b", "bad-index")
    (repo / "zoo" / "index.json").write_text('{"format": 1, "bundles": {"alpha": {"versions": {}}}}\n')
    commit_all(repo, "bad index")
    problems = review_changes(repo, "main", net=False, weights=False).problems()
    assert list(problems) == ["zoo/index.json"]
    assert problems["zoo/index.json"][0].message.startswith("the index breaks its schema")
