"""``verify --monai``: every config read by MONAI's own ConfigParser, and what MONAI could not resolve
reported with where it is written (issue 11, item 1)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from bundle import verify_bundle
from tests.conftest import REPO

pytest.importorskip("monai")

pytestmark = pytest.mark.monai


def _copy(name, tmp_path):
    folder = tmp_path / name
    shutil.copytree(REPO / "zoo" / name, folder, ignore=shutil.ignore_patterns("eval", "logs", "__pycache__"))
    return folder


def _monai_problems(report):
    return [p for p in report.problems if p.check == "app:monai"]


@pytest.mark.parametrize("name", ["digits_classification", "ellipsoid_segmentation"])
def test_the_zoo_bundles_resolve_under_monai(name, tmp_path):
    report = verify_bundle(_copy(name, tmp_path), net=False, weights=False, apps=["monai"])
    assert "app:monai" in report.checked
    assert _monai_problems(report) == []


def _edit(folder, config, change):
    path = folder / "configs" / f"{config}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=4))


def test_short_names_and_quoted_at_signs_are_what_monai_cannot_resolve(tmp_path):
    folder = _copy("digits_classification", tmp_path)

    def change(data):
        data["inferer"]["_target_"] = "ForwardInferer"  # our engine's short name: MONAI has no such name
        data["contact"] = "$'help' + '@example.org'"  # MONAI reads '@example' as a reference

    _edit(folder, "inference", change)
    ours = verify_bundle(folder, net=False, weights=False)
    assert ours.ok, ours.format()  # our engine resolves both
    report = verify_bundle(folder, net=False, weights=False, apps=["monai"])
    problems = {p.config_id: p for p in _monai_problems(report)}
    assert set(problems) == {"inferer", "contact"}, report.format()
    target = problems["inferer"]
    assert "MONAI cannot locate _target_ 'ForwardInferer'" in target.message
    assert "configs/inference.json" in target.message and "dotted path" in target.hint
    assert str(target.location).startswith("configs/inference.json:")
    assert "MONAI cannot resolve the reference '@example'" in problems["contact"].message
    assert "quoted strings" in problems["contact"].hint


def test_a_config_monai_cannot_parse_is_reported(tmp_path):
    folder = _copy("digits_classification", tmp_path)
    _edit(folder, "inference", lambda data: data.update({"copy": "%configs/nothere.json::x"}))
    report = verify_bundle(folder, net=False, weights=False, apps=["monai"])
    assert any("MONAI cannot parse configs/inference.json" in p.message for p in _monai_problems(report)), report.format()


def test_without_monai_the_check_says_it_could_not_run(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "monai.bundle", None)  # import monai.bundle now raises ImportError
    report = verify_bundle(_copy("digits_classification", tmp_path), net=False, weights=False, apps=["monai"])
    [problem] = _monai_problems(report)
    assert "MONAI is not installed" in problem.message and "bundle[monai]" in problem.hint


@pytest.mark.integration
def test_cli_verify_monai(tmp_path):
    folder = _copy("digits_classification", tmp_path)
    _edit(folder, "inference", lambda data: data["inferer"].update({"_target_": "ForwardInferer"}))
    proc = subprocess.run([sys.executable, "-m", "bundle", "verify", str(folder), "--monai", "--no_net",
                           "--no_weights"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "MONAI cannot locate _target_ 'ForwardInferer'" in proc.stdout
