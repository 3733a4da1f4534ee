"""Two processes on the CPU (gloo): the trainer under DistributedDataParallel, sharded metrics and writers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from bundle.components.checkpoints import CheckpointWriter
from bundle.components.distributed import init_distributed, shutdown_distributed
from bundle.components.engine import EngineEvent
from bundle.components.evaluation import EvaluationLoop
from bundle.components.handlers import PeriodicValidation
from bundle.components.inference import InferenceRunner
from bundle.components.loaders import build_data_loader
from bundle.components.losses import DiceCrossEntropyLoss
from bundle.components.metrics import DiceScore
from bundle.components.networks import CompactUNet
from bundle.components.seeding import seed_everything
from bundle.components.synthetic import SyntheticEllipsoids
from bundle.components.training import TrainingLoop
from bundle.components.writers import ClassPredictionWriter

pytestmark = pytest.mark.integration
WORLD_SIZE = 2


def _datasets():
    return SyntheticEllipsoids("train", 6, size=(12, 12)), SyntheticEllipsoids("val", 5, size=(12, 12))


def _network():
    return CompactUNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(4, 8))


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD_SIZE), RANK=str(rank), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    assert init_distributed(timeout_s=60) is True
    try:
        seed_everything(rank)  # different initial weights: DDP must start every rank from rank 0's
        train, val = _datasets()
        net = _network()
        evaluator = EvaluationLoop(net, build_data_loader(val, batch_size=2), device="cpu",
                                   key_val_metric={"dice": DiceScore(2)})  # fmt: skip
        loader = build_data_loader(train, batch_size=2, shuffle=True)
        trainer = TrainingLoop(
            net, torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9), DiceCrossEntropyLoss(), loader, max_epochs=2,
            device="cpu", train_handlers=[PeriodicValidation(evaluator), CheckpointWriter(out, {"model": net})],
        )  # fmt: skip
        wrapped = []
        trainer.add_event_handler(EngineEvent.STARTED, lambda engine: wrapped.append(type(engine.model)))
        state = trainer.run()
        assert wrapped == [nn.parallel.DistributedDataParallel] and trainer.model is net
        assert isinstance(loader.sampler, torch.utils.data.DistributedSampler) and loader.sampler.epoch == 2
        labels = torch.arange(5) % 3
        runner = InferenceRunner(
            nn.Identity(), dataset=TensorDataset(F.one_hot(labels, 3).float()), batch_size=2, device="cpu",
            writer=ClassPredictionWriter(out, "classes.csv"),
        )  # fmt: skip
        runner.run()
        result = {"weights": net.state_dict(), "metrics": state.metrics, "loss": state.epoch_loss}
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        shutdown_distributed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_train_identically_and_share_metrics(tmp_path):
    # Forked workers start in a blink; spawned ones re-import torch (seconds each). Fork is safe
    # here for the same reason as DataLoader workers: each sets one intra-op thread before any work.
    # Building an optimizer first loads what optimizers import lazily, once, before the fork.
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True, start_method=method)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]
    first, second = ranks
    assert all(torch.equal(first["weights"][k], second["weights"][k]) for k in first["weights"])
    assert first["metrics"] == second["metrics"] and first["loss"] == second["loss"]
    # the sharded, all-reduced Dice equals one process scoring the whole validation set
    net = _network()
    net.load_state_dict(first["weights"])
    _, val = _datasets()
    loader = build_data_loader(val, batch_size=5)
    alone = EvaluationLoop(net, loader, device="cpu", key_val_metric={"dice": DiceScore(2)})
    assert alone.run()["dice"] == pytest.approx(first["metrics"]["dice"], abs=1e-6)
    saved = torch.load(tmp_path / "model_final.pt", weights_only=True)
    assert all(torch.equal(saved[k], first["weights"][k]) for k in saved)
    lines = (tmp_path / "classes.csv").read_text().splitlines()
    assert lines[0] == "name,label"
    assert [int(line.split(",")[1]) for line in lines[1:]] == [0, 1, 2, 0, 1]  # dataset order
