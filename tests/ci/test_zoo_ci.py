"""The zoo's CI as the zoo repository runs it: the ci/ scripts in subprocesses on a real git repository
(a branch that adds, changes and breaks bundles), the workflows under .github/workflows/, and this
repository's own zoo/index.json."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from bundle.registry.review import review_changes
from tests.zoorepo import REPO, commit_all, feature_branch, git, init_zoo, make_bundle, read_index, run_script, set_version


@pytest.fixture
def zoo(tmp_path):
    """main: alpha, beta, gamma at 0.1.0 (released); branch 'feature' adds delta, bumps alpha, changes beta
    without a bump and breaks gamma (a new version with no changelog entry, LICENSE removed)."""
    return feature_branch(init_zoo(tmp_path / "zoo", {"alpha": "0.1.0", "beta": "0.1.0", "gamma": "0.1.0"}))


@pytest.mark.integration
def test_changed_bundles_script(zoo):
    done = run_script("changed_bundles.py", "--base", "main", cwd=zoo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["alpha", "beta", "delta", "gamma"]


@pytest.mark.integration
def test_verify_pr_script_reports_every_problem(zoo):
    done = run_script("verify_pr.py", "--base", "main", "--json", cwd=zoo)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["changed"] == ["alpha", "beta", "delta", "gamma"]
    found = {name: sorted(p["check"] for p in problems) for name, problems in report["problems"].items()}
    assert found == {"beta": ["version"], "gamma": ["changelog", "license"]}


@pytest.mark.integration
def test_verify_pr_script_passes_a_good_branch_and_release_updates_the_index(zoo, tmp_path):
    git(zoo, "checkout", "--quiet", "main")
    git(zoo, "checkout", "--quiet", "-b", "good")
    set_version(zoo / "zoo" / "alpha", "0.2.0", "better")
    make_bundle(zoo / "zoo" / "delta", "0.1.0")
    commit_all(zoo, "good")
    done = run_script("verify_pr.py", "--base", "main", cwd=zoo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("all checks passed")

    # merged: the release packs, adds alpha 0.2.0 and delta 0.1.0, and says what to upload
    git(zoo, "checkout", "--quiet", "main")
    git(zoo, "merge", "--quiet", "--ff-only", "good")
    done = run_script("release.py", "--dist", str(tmp_path / "dist"), "--date", "2026-05-06", cwd=zoo)
    assert done.returncode == 0, done.stderr
    assert "2 new in zoo/index.json" in done.stdout
    assert re.search(r"gh release create alpha-v0\.2\.0 \S+alpha_v0\.2\.0\.zip --repo bundle-zoo/zoo", done.stdout)
    index = read_index(zoo)
    assert list(index["bundles"]["alpha"]["versions"]) == ["0.2.0", "0.1.0"]
    assert index["bundles"]["delta"]["versions"]["0.1.0"]["published"] == "2026-05-06"
    index_bytes = (zoo / "zoo" / "index.json").read_bytes()
    archives = {p.name: p.read_bytes() for p in (tmp_path / "dist").glob("*.zip")}
    assert set(archives) == {"alpha_v0.2.0.zip", "beta_v0.1.0.zip", "delta_v0.1.0.zip", "gamma_v0.1.0.zip"}

    again = run_script("release.py", "--dist", str(tmp_path / "dist2"), cwd=zoo)
    assert again.returncode == 0 and "0 new in zoo/index.json" in again.stdout
    assert (zoo / "zoo" / "index.json").read_bytes() == index_bytes
    assert {p.name: p.read_bytes() for p in (tmp_path / "dist2").glob("*.zip")} == archives

    # the released main is what the next pull request is checked against: unchanged bundles pack to the index
    commit_all(zoo, "index")
    git(zoo, "checkout", "--quiet", "-b", "next")
    make_bundle(zoo / "zoo" / "epsilon", "1.0.0")
    commit_all(zoo, "next")
    review = review_changes(zoo, "main", net=False, weights=False)
    assert review.ok and review.changed == ["epsilon"], review.format()


@pytest.mark.integration
def test_release_script_refuses_a_changed_published_version(zoo, tmp_path):
    git(zoo, "checkout", "--quiet", "main")
    (zoo / "zoo" / "beta" / "docs" / "README.md").write_text("edited on main without a bump\n")
    before = (zoo / "zoo" / "index.json").read_bytes()
    done = run_script("release.py", "--dist", str(tmp_path / "dist"), cwd=zoo)
    assert done.returncode == 1
    assert "zoo/beta: version 0.1.0 packs to sha256" in done.stderr
    assert (zoo / "zoo" / "index.json").read_bytes() == before


@pytest.mark.integration
def test_scripts_report_a_missing_base(zoo):
    done = run_script("verify_pr.py", "--base", "no-such-branch", cwd=zoo)
    assert done.returncode == 2 and "no-such-branch" in done.stderr and "hint: fetch" in done.stderr


# -- the workflows ---------------------------------------------------------------------------------------

WORKFLOWS = REPO / ".github" / "workflows"


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def run_lines(data: dict) -> list[str]:
    return [line for job in data["jobs"].values() for step in job["steps"] for line in step.get("run", "").splitlines()]


@pytest.mark.parametrize("name", ["zoo-pr.yml", "zoo-release.yml"])
def test_workflows_call_scripts_that_exist(name):
    lines = run_lines(workflow(name))
    scripts = re.findall(r"python (ci/\w+\.py)", "\n".join(lines))
    assert scripts, lines
    for script in scripts:
        assert (REPO / script).is_file(), script
    assert any("pip install torch==2.13.0" in line for line in lines)
    assert any(line.strip().startswith("python -m pip install -e .") for line in lines)


def test_pr_workflow_verifies_against_the_base_branch():
    data = workflow("zoo-pr.yml")
    assert "pull_request" in data["on"]
    (job,) = data["jobs"].values()
    assert job["steps"][0]["with"]["fetch-depth"] == 0
    assert job["steps"][1]["with"]["python-version"] == "3.11"
    assert 'python ci/verify_pr.py --base "origin/${{ github.base_ref }}"' in run_lines(data)


def test_release_workflow_uploads_before_committing_the_index():
    data = workflow("zoo-release.yml")
    assert data["on"]["push"]["branches"] == ["main"] and data["on"]["push"]["paths"] == ["zoo/**"]
    assert data["permissions"]["contents"] == "write"
    text = "\n".join(run_lines(data))
    assert text.index("python ci/release.py") < text.index("gh release create") < text.index("git push")


# -- this repository's zoo ---------------------------------------------------------------------------------

def test_this_repository_index_matches_its_zoo(tmp_path):
    """zoo/index.json is schema-valid and every zoo bundle packs to the archive it records (ci/release.py
    regenerates it; a bundle that changes must bump its version)."""
    from bundle.registry.archive import pack
    from bundle.registry.release import bundle_folders, read_index_data, read_zoo_config

    data = read_index_data(REPO / "zoo" / "index.json")
    config = read_zoo_config(REPO)
    folders = bundle_folders(REPO)
    assert sorted(data["bundles"]) == [f.name for f in folders]
    for folder in folders:
        copy = tmp_path / "zoo" / folder.name  # outputs a run left in the bundle (eval/, logs/) are not packed
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("eval", "logs", "__pycache__"))
        version = json.loads((copy / "configs" / "metadata.json").read_text())["version"]
        entry = data["bundles"][folder.name]["versions"][version]
        info = pack(copy, tmp_path / f"{folder.name}.zip")
        assert (info.sha256, info.size) == (entry["sha256"], entry["size"]), folder.name
        assert entry["sources"] == config.sources(folder.name, version)
