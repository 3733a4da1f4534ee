"""From nothing to predictions with the command line, as the tutorial does it: ``bundle init``, then
``verify``, ``run ... train``, ``run ... evaluate`` and ``run ... inference`` on the scaffold, each a
``python -m bundle`` subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def bundle(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BUNDLE_DEBUG", "WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, "-m", "bundle", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, f"bundle {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _metric(text: str, pattern: str) -> float:
    found = re.findall(pattern, text)
    assert found, f"no {pattern!r} in:\n{text}"
    return float(found[-1])


def test_init_verify_train_evaluate_infer(tmp_path):
    import torch

    proc = bundle(tmp_path, "init", "seg", "--authors", "Tests")
    root = tmp_path / "seg"
    assert "created" in proc.stdout and (root / "models" / "model.pt").is_file()
    initial = torch.load(root / "models" / "model.pt", weights_only=True)

    proc = bundle(tmp_path, "verify", "seg")
    assert "verified: 0 errors, 0 warnings" in proc.stdout

    proc = bundle(tmp_path, "run", "seg", "train", "--train::trainer::max_epochs", "3")
    assert "training finished after epoch 3" in proc.stderr
    trained = torch.load(root / "models" / "model.pt", weights_only=True)
    assert trained.keys() == initial.keys()
    assert not all(torch.equal(trained[k], initial[k]) for k in initial)  # the best checkpoint replaced them
    records = [json.loads(line) for line in (root / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [1, 2, 3]
    best = max(r["metrics"]["val_dice"] for r in records if r["event"] == "metrics")
    assert best > 0.3  # three epochs on synthetic ellipses: well above chance

    proc = bundle(tmp_path, "run", "seg", "evaluate")
    assert "extends" in proc.stderr and "train.json" in proc.stderr  # evaluate.json is layered on train.json
    dice = _metric(proc.stderr, r"evaluate: dice ([0-9.]+)")
    assert 0.0 < dice <= 1.0

    proc = bundle(tmp_path, "run", "seg", "inference", "--output_dir", str(tmp_path / "out"))
    assert _metric(proc.stderr, r"inference: 16 outputs to .*, dice ([0-9.]+)") == dice  # same test images, weights
    outputs = sorted((tmp_path / "out").glob("*.pt"))
    assert [p.name for p in outputs] == [f"test_{i:04d}.pt" for i in range(16)]
    label_map = torch.load(outputs[0], weights_only=True)
    assert label_map.dtype == torch.uint8 and tuple(label_map.shape) == (1, 32, 32)
    assert int(label_map.max()) <= 2
