"""``zoo/ellipsoid_segmentation`` as users run it: inference and evaluation with the committed weights
reach the stated Dice, a tiny training run writes only where it is told, two processes under
``torchrun`` end with the same weights, and its configs agree with each other."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from bundle.format import Bundle
from tests.zoo.conftest import ZOO, bundle_command, folder_snapshot, logged_metric, subprocess_env

BUNDLE = ZOO / "ellipsoid_segmentation"
STATED = Bundle(BUNDLE).metadata["eval_metrics"]["mean_dice"]
# the summary lines print 4 decimals; another CPU or thread count may round a voxel differently
TOLERANCE = 2e-4

# a training run of seconds: 2 small volumes, 1 epoch, validated once
TINY_TRAINING = {
    "train::trainer::max_epochs": "1", "num_train": "2", "num_val": "1", "val_interval": "1",
    "image_size": "[16,16,16]",
}  # fmt: skip


def _overrides(values: dict) -> list[str]:
    return [item for key, value in values.items() for item in (f"--{key}", str(value))]


@pytest.mark.parametrize("mode", [[], ["--safe"]], ids=["trusted", "safe-mode"])
def test_inference_writes_predictions_and_reaches_the_stated_dice(tmp_path, mode):
    before = folder_snapshot(BUNDLE)
    out = tmp_path / "predictions"
    proc = bundle_command("run", str(BUNDLE), "inference", *mode, "--output_dir", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"trusted: {not mode}" in proc.stderr
    dice = logged_metric(proc.stderr, "inference", "mean_dice")
    assert dice >= STATED - TOLERANCE

    num_samples = Bundle(BUNDLE).load_config("inference").get("num_samples")
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"test_{i:04d}.pt" for i in range(num_samples)]
    torch = pytest.importorskip("torch")
    labels = torch.load(out / written[0], weights_only=True)
    assert labels.dtype == torch.uint8 and labels.shape == (1, 32, 32, 32)
    assert set(labels.unique().tolist()) <= {0, 1, 2} and labels.any()
    assert folder_snapshot(BUNDLE) == before  # nothing written into the bundle


def test_evaluate_reproduces_the_stated_metric(tmp_path):
    proc = bundle_command("run", str(BUNDLE), "evaluate", "--output_dir", str(tmp_path / "eval"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert logged_metric(proc.stderr, "evaluate", "mean_dice") == pytest.approx(STATED, abs=TOLERANCE)
    records = [json.loads(line) for line in (tmp_path / "eval" / "evaluate_metrics.jsonl").read_text().splitlines()]
    assert records[-1]["metrics"]["mean_dice"] == pytest.approx(STATED, abs=TOLERANCE)


def test_evaluate_alone_and_layered_on_train_are_the_same_config():
    bundle = Bundle(BUNDLE)
    alone = bundle.load_config("evaluate")
    layered = bundle.load_config("train", "evaluate")
    for id in alone.get():
        assert layered.get(id) == alone.get(id), id


def test_inference_and_train_describe_the_same_network_and_data():
    bundle = Bundle(BUNDLE)
    train, inference = bundle.load_config("train"), bundle.load_config("inference")
    for id in ("network_def", "num_classes", "image_size", "noise", "data_seed"):
        assert inference.get(id) == train.get(id), id
    assert inference.get("dataset::split") == "test"
    assert inference.get("num_samples") == bundle.load_config("evaluate").get("num_test")


def test_tiny_training_run_writes_only_where_it_is_told(tmp_path):
    before = folder_snapshot(BUNDLE)
    models, logs = tmp_path / "models", tmp_path / "logs"
    args = _overrides({**TINY_TRAINING, "ckpt_dir": models, "output_dir": logs})
    proc = bundle_command("run", str(BUNDLE), "train", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "training finished after epoch 1" in proc.stderr
    assert sorted(p.name for p in models.iterdir()) == ["model.pt"]
    records = [json.loads(line) for line in (logs / "train_metrics.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records] == ["epoch", "metrics"]
    assert "val_mean_dice" in records[-1]["metrics"]
    assert folder_snapshot(BUNDLE) == before  # the committed weights are untouched


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_torchrun_two_processes_train_to_identical_weights(tmp_path):
    torch = pytest.importorskip("torch")
    before = folder_snapshot(BUNDLE)
    models = tmp_path / "models"
    models.mkdir()  # rank 1 may save before rank 0's checkpoint writer creates the folder
    # each rank saves the state dict it ends with, next to the checkpoint rank 0 writes
    save_each_rank = (
        "$torch.save(@network.state_dict(), @ckpt_dir + '/rank' + str(torch.distributed.get_rank()) + '.pt')"
    )
    # torchrun's own parser would take "--run" for a prefix of its "--run-path": an args file it is
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"run": ["$@train::trainer.run()", save_each_rank]}))
    args = _overrides({**TINY_TRAINING, "num_train": "4", "ckpt_dir": models, "output_dir": tmp_path / "logs"})
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", "--master_port", str(_free_port()),
        "-m", "bundle", "run", str(BUNDLE), "train", "--args_file", str(args_file), *args,
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=subprocess_env(OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 processes: layering" in proc.stderr and "multi_gpu_train.json" in proc.stderr
    assert "[rank 0]" in proc.stderr and "rank 0 of 2" in proc.stderr  # init_distributed ran
    rank1_info = [line for line in proc.stderr.splitlines() if line.startswith("[rank 1]") and " INFO " in line]
    assert rank1_info == []  # only rank 0 logs INFO by default (BUNDLE_LOG_RANKS)
    assert "training finished after epoch 1" in proc.stderr

    ranks = [torch.load(models / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    assert any(key.endswith("running_mean") for key in ranks[0])  # batch-norm statistics are compared too
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    best = torch.load(models / "model.pt", weights_only=True)  # rank 0's checkpoint, loadable as usual
    assert best.keys() == ranks[0].keys()
    assert folder_snapshot(BUNDLE) == before
