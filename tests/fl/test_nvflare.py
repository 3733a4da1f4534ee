"""The NVFlare recipe of docs/federated.md (docs/nvflare/job.py and client.py) on NVFlare's own
simulator: two sites train the digits bundle through BundleAlgo for two FedAvg rounds of three local epochs."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytest.importorskip("nvflare")
torch = pytest.importorskip("torch")

from tests.conftest import REPO  # noqa: E402

DIGITS = REPO / "zoo" / "digits_classification"


def test_the_docs_recipe_trains_a_bundle_on_nvflares_simulator(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "docs" / "nvflare" / "job.py"), str(DIGITS), "--clients", "2", "--rounds", "2",
         "--local-epochs", "3", "--workspace", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "Aggregated 2/2 results" in log
    # each site scores the global model it receives: the initial one in round 1, round 1's in round 2
    scores = [float(s) for s in re.findall(r"evaluate: val_accuracy ([0-9.]+)", log)]
    assert len(scores) == 4, scores
    assert min(scores[2:]) > max(scores[:2]) + 0.1, scores
    saved = torch.load(tmp_path / DIGITS.name / "server" / "simulate_job" / "app_server" / "FL_global_model.pt",
                       weights_only=True)
    import bundle

    network = bundle.load(str(DIGITS))
    network.load_state_dict(saved["model"])  # the global model is the bundle's network, every key and shape


def test_the_docs_show_the_tested_client_script():
    text = (REPO / "docs" / "federated.md").read_text(encoding="utf-8")
    script = (REPO / "docs" / "nvflare" / "client.py").read_text(encoding="utf-8")
    body = script[script.index("import argparse"):]
    assert body in text, "docs/federated.md's NVFlare client differs from docs/nvflare/client.py"


def test_the_job_names_a_bundle_it_cannot_use(tmp_path):
    job = [sys.executable, str(REPO / "docs" / "nvflare" / "job.py")]
    done = subprocess.run([*job, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "has no configs/train.json" in done.stderr
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "train.json").write_text('{"lr": 0.1}')
    done = subprocess.run([*job, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "has no 'network_def'" in done.stderr
