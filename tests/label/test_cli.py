"""``python -m bundle label infer|train|next|app`` as users run it, on a folder and on a zoo name fetched
through the cache (a download is trained as a copy, never in the cache), and its errors' exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.label.conftest import SEGMENTATION, write_dataset
from tests.zoo.conftest import folder_snapshot, subprocess_env


def label(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bundle", "label", *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=180)


def test_infer_prints_the_result_and_writes_the_label(tmp_path, volumes):
    image = tmp_path / "case.npy"
    np.save(image, volumes[0]["image"])
    proc = label("infer", str(SEGMENTATION), "--image", str(image), "--output", str(tmp_path / "out"),
                 "--params", '{"result_extension": ".pt"}', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["file"] == str(tmp_path / "out" / "case.pt") and Path(result["file"]).is_file()
    assert set(result["latencies"]) == {"pre", "infer", "invert", "post", "write", "total"}


def test_next_ranks_the_unlabeled_images(tmp_path, volumes):
    data = write_dataset(tmp_path / "data", volumes, labeled=3)
    proc = label("next", str(SEGMENTATION), "--dataset", str(data), "--strategy", "entropy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ranked = json.loads(proc.stdout)
    assert sorted(r["id"] for r in ranked) == [v["name"] for v in volumes[3:]]
    assert [r["rank"] for r in ranked] == [1, 2, 3]
    proc = label("next", str(SEGMENTATION), "--dataset", str(data), "--strategy", "epistemic", "--samples", "2",
                 "--+network_def::dropout", "0.2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 3


def test_train_a_zoo_name_trains_a_copy_and_leaves_the_cache_alone(tmp_path, dataset, zoo_name):
    from bundle.registry.load import locate

    cached = locate(zoo_name)
    before = folder_snapshot(cached)
    proc = label("train", zoo_name, "--dataset", str(dataset), "--max_epochs", "1", "--nopretrained",
                 "--output", str(tmp_path / "mine"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["model"] == str(tmp_path / "mine" / "models" / "model.pt")
    assert folder_snapshot(cached) == before
    default = label("train", zoo_name, "--dataset", str(dataset), "--max_epochs", "1", cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout)["model"] == str(tmp_path / "ellipsoid_segmentation" / "models" / "model.pt")
    assert json.loads(default.stdout)["pretrained"]  # the zoo's weights, read from the copy


def test_app_writes_the_folder(tmp_path, zoo_name):
    proc = label("app", str(tmp_path / "app"), "--bundle", f"{zoo_name},{SEGMENTATION.parent / 'digits_classification'}",
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["start"].startswith(f"monailabel start_server --app {tmp_path / 'app'}")
    assert sorted(p.name for p in (tmp_path / "app" / "model").iterdir()) == ["digits_classification",
                                                                             "ellipsoid_segmentation"]


def test_errors_exit_1_with_a_message(tmp_path, dataset, volumes):
    proc = label("train", str(SEGMENTATION), "--dataset", str(dataset), "--val_split", "1.5", cwd=tmp_path)
    assert proc.returncode == 1 and "val_split must be between 0 and 1" in proc.stderr
    proc = label("infer", str(SEGMENTATION), cwd=tmp_path)
    assert proc.returncode == 1 and "needs --image" in proc.stderr
    proc = label("guess", str(SEGMENTATION), cwd=tmp_path)
    assert proc.returncode == 1 and "unknown label action 'guess'" in proc.stderr
    unlabeled = write_dataset(tmp_path / "unlabeled", volumes[:3], labeled=1)
    proc = label("next", str(SEGMENTATION), "--dataset", str(unlabeled), "--strategy", "epistemic", cwd=tmp_path)
    assert proc.returncode == 1 and "has no dropout layer" in proc.stderr
