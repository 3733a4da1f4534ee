"""Handlers for the training loop: periodic validation, early stopping, LR scheduling, metric logs.

Each is an object with ``attach(engine)``; list them in an engine's handlers
(``train_handlers``/``val_handlers``). The checkpoint handlers live in ``checkpoints``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from bundle.atomic import write_atomic
from bundle.components.distributed import is_rank0
from bundle.components.engine import EngineEvent
from bundle.components.training import TrainingLoop

logger = logging.getLogger(__name__)


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, not {value!r}")
    return value


def _metric(engine: Any, name: str | None, who: str) -> float | None:
    """The value of metric ``name`` (default: the key metric) in ``engine.state``, None if absent."""
    state = engine.state
    name = name or state.key_metric
    if name is None:
        return None
    if name not in state.metrics:
        raise KeyError(f"{who}: no metric '{name}' (metrics: {sorted(state.metrics)})")
    return state.metrics[name]


class PeriodicValidation:
    """Run an evaluator every ``interval`` epochs (or iterations) of the trainer it is attached to.

    After each run the evaluator's metrics and best key metric are copied into the trainer's
    state and the trainer fires ``METRICS_COMPUTED``, which ``CheckpointWriter(save_key_metric=True)``,
    ``EarlyStopping``, ``SchedulerStepper`` (ReduceLROnPlateau) and ``MetricsLogger`` act on.

    Args:
        validator: the evaluator (``@validate::evaluator``), an ``EvaluationLoop``.
        interval: validate after every ``interval``-th epoch (or iteration).
        epoch_level: count epochs (default) or iterations.

    Example:
        ``{"_target_": "PeriodicValidation", "validator": "@validate::evaluator", "interval": "@val_interval"}``
    """

    def __init__(self, validator: Any, interval: int = 1, epoch_level: bool = True) -> None:
        if not callable(getattr(validator, "run", None)):
            raise TypeError(f"validator must be an evaluator with run(), not {type(validator).__name__}")
        self.validator = validator
        self.interval = _positive(interval, "interval")
        self.epoch_level = epoch_level

    def attach(self, engine: Any) -> None:
        """Register with the trainer's ``EPOCH_COMPLETED`` (or ``ITERATION_COMPLETED``)."""
        event = EngineEvent.EPOCH_COMPLETED if self.epoch_level else EngineEvent.ITERATION_COMPLETED
        engine.add_event_handler(event, self._maybe_validate)

    def _maybe_validate(self, engine: Any) -> None:
        count = engine.state.epoch if self.epoch_level else engine.state.iteration
        if count % self.interval:
            return
        metrics = self.validator.run(epoch=engine.state.epoch)
        if not metrics:
            return
        theirs, ours = self.validator.state, engine.state
        ours.metrics.update(metrics)
        ours.key_metric = theirs.key_metric
        ours.best_metric, ours.best_metric_epoch = theirs.best_metric, theirs.best_metric_epoch
        ours.metric_improved = theirs.metric_improved
        engine.fire(EngineEvent.METRICS_COMPUTED)


class EarlyStopping:
    """Stop training when a metric has not improved for ``patience`` validations.

    Attach it to the trainer; it listens to ``METRICS_COMPUTED`` (so it needs ``PeriodicValidation``).

    Args:
        patience: validations without improvement before stopping.
        min_delta: the smallest change that counts as an improvement.
        metric_name: the metric to watch; ``None`` watches the key metric.
        mode: ``"max"`` (higher is better, e.g. Dice) or ``"min"`` (e.g. a loss).

    Example:
        ``{"_target_": "EarlyStopping", "patience": 5, "min_delta": 0.001}``
    """

    def __init__(
        self, patience: int, min_delta: float = 0.0, metric_name: str | None = None, mode: str = "max"
    ) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, not {min_delta!r}")
        self.patience = _positive(patience, "patience")
        self.min_delta = float(min_delta)
        self.metric_name = metric_name
        self.mode = mode
        self.best: float | None = None
        self.best_epoch = -1
        self.counter = 0

    def attach(self, engine: Any) -> None:
        """Register with the trainer's ``METRICS_COMPUTED``."""
        if not isinstance(engine, TrainingLoop):
            raise TypeError("EarlyStopping stops training: attach it to the trainer (train_handlers)")
        engine.add_event_handler(EngineEvent.METRICS_COMPUTED, self._check)

    def _check(self, engine: Any) -> None:
        value = _metric(engine, self.metric_name, "EarlyStopping")
        if value is None or math.isnan(value):
            return
        sign = 1.0 if self.mode == "max" else -1.0
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best, self.best_epoch, self.counter = value, engine.state.epoch, 0
            return
        self.counter += 1
        if self.counter >= self.patience:
            if is_rank0():
                logger.info(
                    "early stopping after epoch %d: %s has not improved for %d validations (best %.4f at epoch %d)",
                    engine.state.epoch, self.metric_name or engine.state.key_metric, self.counter, self.best,
                    self.best_epoch,
                )  # fmt: skip
            engine.terminate()


class SchedulerStepper:
    """Step a learning-rate scheduler every epoch or iteration; ``ReduceLROnPlateau`` with a metric.

    ``ReduceLROnPlateau`` steps after each validation with the watched metric (attach to the
    trainer, with ``PeriodicValidation``); other schedulers step after every epoch
    (``epoch_level``) or iteration.

    Args:
        lr_scheduler: a ``torch.optim.lr_scheduler`` scheduler.
        epoch_level: step per epoch (default) or per iteration.
        metric_name: the metric ``ReduceLROnPlateau`` watches; ``None`` means the key metric.

    Example:
        ``{"_target_": "SchedulerStepper", "lr_scheduler": "@lr_scheduler"}``
    """

    def __init__(self, lr_scheduler: Any, epoch_level: bool = True, metric_name: str | None = None) -> None:
        if not callable(getattr(lr_scheduler, "step", None)):
            raise TypeError(f"lr_scheduler needs a step() method; got {type(lr_scheduler).__name__}")
        self.lr_scheduler = lr_scheduler
        self.epoch_level = epoch_level
        self.metric_name = metric_name
        self.on_plateau = isinstance(lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    def attach(self, engine: Any) -> None:
        """Register with ``METRICS_COMPUTED`` (plateau), ``EPOCH_COMPLETED`` or ``ITERATION_COMPLETED``."""
        if self.on_plateau:
            event = EngineEvent.METRICS_COMPUTED
        else:
            event = EngineEvent.EPOCH_COMPLETED if self.epoch_level else EngineEvent.ITERATION_COMPLETED
        engine.add_event_handler(event, self._step)

    def _step(self, engine: Any) -> None:
        if self.on_plateau:
            value = _metric(engine, self.metric_name, "SchedulerStepper")
            if value is not None and not math.isnan(value):
                self.lr_scheduler.step(value)
        else:
            self.lr_scheduler.step()


class MetricsLogger:
    """Log the loss per epoch and every metric update; optionally append them to a JSON-lines file.

    Records: ``{"event": "epoch", "engine", "epoch", "iteration", "loss", "lr", "time"}`` after
    each training epoch, ``{"event": "metrics", "engine", "epoch", "metrics", "key_metric",
    "best_metric", "best_metric_epoch", "time"}`` whenever metrics are computed, and (with
    ``iteration_interval``) ``{"event": "iteration", ...}``. The file is rewritten whole through a
    temporary file on each record, so it always holds complete lines; lines already in the file
    are kept. Only rank 0 logs and writes.

    Args:
        log_file: the JSON-lines file; ``None`` only logs.
        iteration_interval: also log every N-th iteration's loss (0: never).

    Example:
        ``{"_target_": "MetricsLogger", "log_file": "$@bundle_root + '/eval/metrics.jsonl'"}``
    """

    def __init__(self, log_file: str | os.PathLike | None = None, iteration_interval: int = 0) -> None:
        self.log_file = Path(log_file) if log_file is not None else None
        if not isinstance(iteration_interval, int) or iteration_interval < 0:
            raise ValueError(f"iteration_interval must be a non-negative integer, not {iteration_interval!r}")
        self.iteration_interval = iteration_interval
        self.records: list[dict[str, Any]] = []
        self._text: str | None = None

    def attach(self, engine: Any) -> None:
        """Register with ``EPOCH_COMPLETED`` (trainers), ``METRICS_COMPUTED`` and, optionally, iterations."""
        if hasattr(engine, "optimizer"):
            engine.add_event_handler(EngineEvent.EPOCH_COMPLETED, self._on_epoch)
        engine.add_event_handler(EngineEvent.METRICS_COMPUTED, self._on_metrics)
        if self.iteration_interval:
            engine.add_event_handler(EngineEvent.ITERATION_COMPLETED, self._on_iteration)

    def _on_iteration(self, engine: Any) -> None:
        state = engine.state
        if state.iteration % self.iteration_interval == 0 and state.loss is not None:
            logger.info("%s epoch %d iteration %d: loss %.4f", engine.name, state.epoch, state.iteration, state.loss)
            self._record(engine, "iteration", {"loss": state.loss})

    def _on_epoch(self, engine: Any) -> None:
        state = engine.state
        lr = engine.optimizer.param_groups[0]["lr"] if engine.optimizer.param_groups else None
        loss = f"{state.epoch_loss:.4f}" if state.epoch_loss is not None else "n/a"
        self._log("epoch %d/%d: loss %s, lr %.3g", state.epoch, state.max_epochs, loss, lr or 0.0)
        self._record(engine, "epoch", {"loss": state.epoch_loss, "lr": lr})

    def _on_metrics(self, engine: Any) -> None:
        state = engine.state
        shown = ", ".join(f"{k} {v:.4f}" for k, v in state.metrics.items())
        best = ""
        if state.key_metric and state.best_metric_epoch >= 0:
            best = f" (best {state.key_metric} {state.best_metric:.4f} at epoch {state.best_metric_epoch})"
        self._log("epoch %d metrics: %s%s", state.epoch, shown, best)
        self._record(engine, "metrics", {
            "metrics": dict(state.metrics), "key_metric": state.key_metric,
            "best_metric": state.best_metric if state.best_metric_epoch >= 0 else None,
            "best_metric_epoch": state.best_metric_epoch,
        })  # fmt: skip

    def _log(self, message: str, *args: Any) -> None:
        if is_rank0():
            logger.info(message, *args)

    def _record(self, engine: Any, event: str, values: dict[str, Any]) -> None:
        state = engine.state
        record = {"event": event, "engine": engine.name, "epoch": state.epoch, "iteration": state.iteration}
        record.update(values)
        record["time"] = round(time.time(), 3)
        self.records.append(record)
        if self.log_file is None or not is_rank0():
            return
        if self._text is None:
            try:
                self._text = self.log_file.read_text(encoding="utf-8")
            except FileNotFoundError:
                self._text = ""
            if self._text and not self._text.endswith("\n"):
                self._text += "\n"
        self._text += json.dumps(_finite(record), allow_nan=False) + "\n"
        write_atomic(self.log_file, self._text)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has neither), recursing into dicts and lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
