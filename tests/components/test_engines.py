"""Trainer, evaluator and handlers on tiny problems: learning, events, validation, best model, stopping."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.utils.data import TensorDataset

from bundle.components.checkpoints import CheckpointWriter, load_checkpoint
from bundle.components.engine import EngineEvent, EngineState
from bundle.components.evaluation import EvaluationLoop
from bundle.components.handlers import EarlyStopping, MetricsLogger, PeriodicValidation, SchedulerStepper
from bundle.components.loaders import build_data_loader
from bundle.components.losses import DiceCrossEntropyLoss
from bundle.components.metrics import ClassificationAccuracy, DiceScore
from bundle.components.networks import CompactUNet
from bundle.components.seeding import seed_everything
from bundle.components.synthetic import SyntheticEllipsoids
from bundle.components.training import TrainingLoop


class _ScriptedValidator:
    """Stands in for an evaluator: returns the next scripted score on each run."""

    def __init__(self, scores):
        self.scores = list(scores)
        self.state = EngineState()
        self.epochs: list[int] = []

    def run(self, epoch=None):
        self.epochs.append(epoch)
        self.state.epoch = epoch
        score = self.scores[len(self.epochs) - 1]
        self.state.record_metrics({"score": score}, "score")
        return {"score": score}


class _Recorder:
    def __init__(self):
        self.events: list[tuple[EngineEvent, int]] = []

    def attach(self, engine):
        for event in EngineEvent:
            engine.add_event_handler(event, lambda eng, event=event: self.events.append((event, eng.state.epoch)))


def _toy_trainer(handlers=(), max_epochs=3, lr=0.1, batches=2, **kwargs):
    """A linear classifier on 8 random points, ``batches`` batches per epoch."""
    seed_everything(0)
    x = torch.randn(8, 4)
    data = TensorDataset(x, (x[:, 0] > 0).long())
    net = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loader = build_data_loader(data, batch_size=8 // batches)
    trainer = TrainingLoop(
        net, optimizer, torch.nn.CrossEntropyLoss(), loader, max_epochs=max_epochs, device="cpu",
        train_handlers=list(handlers), **kwargs,
    )  # fmt: skip
    return trainer, net, optimizer


def test_segmentation_trains_validates_and_saves(tmp_path):
    seed_everything(0)
    train = SyntheticEllipsoids("train", num_samples=4, size=(16, 16), noise=0.1)
    val = SyntheticEllipsoids("val", num_samples=2, size=(16, 16), noise=0.1)
    net = CompactUNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(4, 8))
    evaluator = EvaluationLoop(
        net, build_data_loader(val, batch_size=2), device="cpu", key_val_metric={"val_dice": DiceScore(2)}
    )
    log = MetricsLogger(tmp_path / "logs" / "metrics.jsonl")
    trainer = TrainingLoop(
        net, torch.optim.Adam(net.parameters(), lr=0.02), DiceCrossEntropyLoss(),
        build_data_loader(train, batch_size=2, shuffle=True), max_epochs=6, device="cpu",
        train_handlers=[
            PeriodicValidation(evaluator, interval=2), log,
            CheckpointWriter(tmp_path / "models", {"model": net}, save_key_metric=True),
        ],
    )  # fmt: skip
    state = trainer.run()
    losses = [r["loss"] for r in log.records if r["event"] == "epoch"]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert state.epoch == 6 and state.iteration == 12 and "val_dice" in state.metrics
    assert state.key_metric == "val_dice" and state.best_metric_epoch in (2, 4, 6)
    for name in ("model.pt", "model_final.pt"):
        weights = torch.load(tmp_path / "models" / name, weights_only=True)
        assert list(weights) == list(net.state_dict())
    fresh = CompactUNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(4, 8))
    load_checkpoint(tmp_path / "models" / "model_final.pt", {"model": fresh})
    image = val[0]["image"].unsqueeze(0)
    assert torch.equal(fresh.eval()(image), net.eval()(image))
    lines = (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records if r["event"] == "metrics"] == [2, 4, 6]
    assert records == log.records


def test_events_fire_in_order():
    recorder = _Recorder()
    trainer, *_ = _toy_trainer([recorder], max_epochs=2)
    trainer.run()
    epoch = [EngineEvent.EPOCH_STARTED, EngineEvent.ITERATION_COMPLETED, EngineEvent.ITERATION_COMPLETED,
             EngineEvent.EPOCH_COMPLETED]  # fmt: skip
    assert [e for e, _ in recorder.events] == [EngineEvent.STARTED, *epoch, *epoch, EngineEvent.COMPLETED]
    assert [n for e, n in recorder.events if e == EngineEvent.EPOCH_COMPLETED] == [1, 2]


def test_validation_interval_is_respected():
    validator = _ScriptedValidator([0.1] * 10)
    trainer, *_ = _toy_trainer([PeriodicValidation(validator, interval=2)], max_epochs=5)
    trainer.run()
    assert validator.epochs == [2, 4]
    by_iteration = _ScriptedValidator([0.1] * 10)
    trainer, *_ = _toy_trainer([PeriodicValidation(by_iteration, interval=3, epoch_level=False)], max_epochs=3)
    trainer.run()  # 2 iterations per epoch: iterations 3 and 6 end in epochs 2 and 3
    assert by_iteration.epochs == [2, 3]
    with pytest.raises(ValueError, match="interval"):
        PeriodicValidation(validator, interval=0)


def test_best_checkpoint_follows_the_key_metric(tmp_path):
    snapshots = {}

    class Snapshot:
        def attach(self, engine):
            engine.add_event_handler(
                EngineEvent.EPOCH_COMPLETED,
                lambda eng: snapshots.__setitem__(eng.state.epoch, {k: v.clone() for k, v in net.state_dict().items()}),
            )

    validator = _ScriptedValidator([0.5, 0.7, 0.6])
    trainer, net, _ = _toy_trainer(max_epochs=3)
    writer = CheckpointWriter(tmp_path, {"model": net}, save_key_metric=True, final_filename="last.pt")
    trainer.attach_handlers([Snapshot(), PeriodicValidation(validator), writer])
    state = trainer.run()
    assert (state.best_metric, state.best_metric_epoch) == (0.7, 2)
    best = torch.load(tmp_path / "model.pt", weights_only=True)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert all(torch.equal(best[k], snapshots[2][k]) for k in best)
    assert all(torch.equal(last[k], snapshots[3][k]) for k in last)
    assert not all(torch.equal(best[k], last[k]) for k in best)


@pytest.mark.parametrize(
    "scores, kwargs, stop_epoch",
    [
        pytest.param([0.5, 0.6, 0.6, 0.55, 0.9], {"patience": 2}, 4, id="patience"),
        pytest.param([0.5, 0.505, 0.509, 0.9], {"patience": 2, "min_delta": 0.01}, 3, id="min-delta"),
        pytest.param([0.5, 0.4, 0.45, 0.3, 0.35, 0.36], {"patience": 2, "mode": "min"}, 6, id="min-mode"),
        pytest.param([math.nan, 0.5, 0.6, 0.7, 0.8, 0.9], {"patience": 1}, 6, id="nan-ignored"),
    ],
)
def test_early_stopping(tmp_path, scores, kwargs, stop_epoch):
    recorder = _Recorder()
    trainer, net, _ = _toy_trainer(max_epochs=6)
    trainer.attach_handlers([
        PeriodicValidation(_ScriptedValidator(scores)), EarlyStopping(**kwargs),
        CheckpointWriter(tmp_path, {"model": net}), recorder,
    ])  # fmt: skip
    assert trainer.run().epoch == stop_epoch
    assert recorder.events[-1][0] == EngineEvent.COMPLETED
    assert (tmp_path / "model_final.pt").is_file()


def test_early_stopping_belongs_to_the_trainer():
    evaluator = EvaluationLoop(torch.nn.Linear(2, 2), [], device="cpu")
    with pytest.raises(TypeError, match="trainer"):
        EarlyStopping(patience=1).attach(evaluator)


@pytest.mark.parametrize("epoch_level, steps", [(True, 3), (False, 6)])
def test_scheduler_steps_per_epoch_or_iteration(epoch_level, steps):
    trainer, _, optimizer = _toy_trainer(max_epochs=3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    trainer.attach_handlers([SchedulerStepper(scheduler, epoch_level=epoch_level)])
    trainer.run()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**steps)


def test_plateau_scheduler_uses_the_metric():
    trainer, _, optimizer = _toy_trainer(max_epochs=3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=0)
    trainer.attach_handlers([PeriodicValidation(_ScriptedValidator([0.5, 0.5, 0.5])), SchedulerStepper(scheduler)])
    trainer.run()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025)  # no gain at validations 2 and 3


def test_gradient_clipping():
    norms = []

    class GradNorm:
        def attach(self, engine):
            engine.add_event_handler(EngineEvent.ITERATION_COMPLETED, lambda eng: norms.append(
                torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in eng.network.parameters()])).item()
            ))  # fmt: skip

    trainer, *_ = _toy_trainer([GradNorm()], max_epochs=2, clip_grad_norm=1e-3)
    trainer.run()
    assert len(norms) == 4 and max(norms) <= 1e-3 + 1e-9


def test_run_again_goes_on_from_the_last_epoch():
    trainer, *_ = _toy_trainer(max_epochs=2)
    trainer.run()
    trainer.state.max_epochs = 3
    state = trainer.run()
    assert (state.epoch, state.iteration) == (3, 6)


def test_trainer_argument_and_batch_errors():
    with pytest.raises(ValueError, match="max_epochs"):
        _toy_trainer(max_epochs=-1)
    with pytest.raises(TypeError, match="attach"):
        _toy_trainer([object()])
    trainer, *_ = _toy_trainer([None], max_epochs=1)  # a disabled handler is skipped
    trainer.data_loader = build_data_loader(TensorDataset(torch.zeros(2, 4)), batch_size=2)
    with pytest.raises(ValueError, match="needs targets"):
        trainer.run()


def test_evaluator_metrics_and_unlabelled_data():
    net = torch.nn.Linear(3, 2)
    x = torch.randn(6, 3)
    y = net(x).argmax(1)
    evaluator = EvaluationLoop(
        net, build_data_loader(TensorDataset(x, y), batch_size=4), device="cpu",
        key_val_metric={"acc": ClassificationAccuracy()}, additional_metrics={"wrong": _Flipped()},
    )  # fmt: skip
    net.train()
    assert evaluator.run() == {"acc": 1.0, "wrong": 0.0}
    assert net.training  # restored after evaluation
    assert (evaluator.state.epoch, evaluator.state.best_metric_epoch) == (1, 1)
    assert evaluator.run(epoch=7) == {"acc": 1.0, "wrong": 0.0} and not evaluator.state.metric_improved
    unlabelled = EvaluationLoop(net, build_data_loader(TensorDataset(x), batch_size=4), device="cpu",
                                key_val_metric={"acc": ClassificationAccuracy()})  # fmt: skip
    assert unlabelled.run() == {}


class _Flipped(ClassificationAccuracy):
    def update(self, pred, target):
        super().update(pred, 1 - target)


def test_evaluator_argument_errors():
    net = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="one metric"):
        EvaluationLoop(net, [], device="cpu", key_val_metric={"a": DiceScore(2), "b": DiceScore(2)})
    with pytest.raises(TypeError, match="compute"):
        EvaluationLoop(net, [], device="cpu", additional_metrics={"a": object()})
    with pytest.raises(TypeError, match="dict"):
        EvaluationLoop(net, [], device="cpu", key_val_metric=DiceScore(2))


def test_metrics_log_keeps_earlier_lines_and_writes_nan_as_null(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"event": "earlier"}', encoding="utf-8")  # no final newline
    log = MetricsLogger(path, iteration_interval=2)
    trainer, *_ = _toy_trainer([PeriodicValidation(_ScriptedValidator([math.nan, 0.5])), log], max_epochs=2)
    trainer.run()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0] == {"event": "earlier"}
    assert [r["event"] for r in records[1:]] == ["iteration", "metrics", "epoch", "iteration", "metrics", "epoch"]
    assert records[2]["metrics"] == {"score": None} and records[2]["best_metric"] is None
    assert records[5]["metrics"] == {"score": 0.5} and records[5]["best_metric_epoch"] == 2
    assert not list(tmp_path.glob(".*.tmp"))


def test_progress_bar_only_when_asked(capsys):
    trainer, *_ = _toy_trainer(max_epochs=1, progress=True)
    trainer.run()
    assert "epoch 1/1" in capsys.readouterr().err
    quiet, *_ = _toy_trainer(max_epochs=1, progress=False)
    quiet.run()
    assert capsys.readouterr().err == ""
