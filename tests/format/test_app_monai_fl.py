"""``verify --app monai-fl``: the ids a federated client needs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from tests.conftest import REPO

DIGITS = REPO / "zoo" / "digits_classification"


def _verify(path):
    return subprocess.run([sys.executable, "-m", "bundle", "verify", str(path), "--app", "monai-fl", "--no_net",
                           "--json_output"], capture_output=True, text=True, timeout=120)


def test_digits_bundle_is_a_federated_client():
    done = _verify(DIGITS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_missing_trainer_parts_are_named(tmp_path):
    bundle = tmp_path / "b"
    shutil.copytree(DIGITS, bundle)
    config = json.loads((bundle / "configs" / "train.json").read_text())
    del config["train"]["trainer"]["max_epochs"]
    del config["validate"]
    config.pop("lr_scheduler")
    config["train"]["handlers"] = []
    (bundle / "configs" / "train.json").write_text(json.dumps(config))
    done = _verify(bundle)
    problems = [p for p in json.loads(done.stdout)["problems"] if p["check"] == "app:monai-fl"]
    assert {(p["config_id"], p["severity"]) for p in problems} == {
        ("train::trainer::max_epochs", "error"), ("validate::evaluator", "warning")}
    assert done.returncode == 1


def test_unknown_app_is_a_clear_error():
    done = subprocess.run([sys.executable, "-m", "bundle", "verify", str(DIGITS), "--app", "monai-f", "--no_net"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "unknown app 'monai-f'" in done.stderr and "monai-fl" in done.stderr
