"""Evaluation: run a network over a data loader without gradients and compute metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from bundle.components.distributed import all_reduce_sum, is_rank0, unwrap_parallel
from bundle.components.engine import EngineEvent, EventEngine


def _metric_dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict of name -> metric, not {type(value).__name__}")
    for name, metric in value.items():
        if not all(callable(getattr(metric, m, None)) for m in ("reset", "update", "compute")):
            raise TypeError(f"{what} '{name}' needs reset(), update(pred, target) and compute()")
    return dict(value)


class EvaluationLoop(EventEngine):
    """Evaluate ``network`` on ``val_data_loader``: ``run()`` returns ``{metric name: value}``.

    Batches without targets are predicted but not scored, so the same loop serves labelled and
    unlabelled data. Under a process group each rank evaluates its shard of the data and the
    metrics sum their counts over all ranks, so every rank gets the same values.

    Argument names follow MONAI's ``SupervisedEvaluator`` (``validate::evaluator`` in a bundle).

    Args:
        network: the model (a ``DistributedDataParallel`` wrapper is looked through).
        val_data_loader: yields dict batches or ``(x, y)`` pairs.
        device: see ``EventEngine``.
        inferer: ``inferer(inputs, network)`` -> prediction; default ``network(inputs)``.
        postprocessing: a callable, or list of callables applied in order, on each batch's
            prediction before the metrics see it.
        key_val_metric: ``{name: metric}`` with one entry: the metric that decides the best model.
        additional_metrics: more ``{name: metric}`` to compute.
        val_handlers: objects with ``attach(engine)``; attached in order.
        amp: run the forward pass in mixed precision (CUDA only).
        progress: see ``EventEngine``.
        image_key: see ``EventEngine``.
        label_key: see ``EventEngine``.

    Example:
        >>> evaluator = EvaluationLoop(net, loader, key_val_metric={"val_dice": DiceScore(num_classes=2)})
        >>> evaluator.run()
        {'val_dice': 0.83}
    """

    name = "evaluate"

    def __init__(
        self,
        network: nn.Module,
        val_data_loader: Any,
        device: str | torch.device | None = None,
        inferer: Callable[[torch.Tensor, nn.Module], torch.Tensor] | None = None,
        postprocessing: Any = None,
        key_val_metric: Mapping[str, Any] | None = None,
        additional_metrics: Mapping[str, Any] | None = None,
        val_handlers: Sequence[Any] | None = (),
        amp: bool = False,
        progress: bool | None = None,
        image_key: str = "image",
        label_key: str = "label",
    ) -> None:
        super().__init__(device=device, progress=progress, image_key=image_key, label_key=label_key)
        key = _metric_dict(key_val_metric, "key_val_metric")
        if len(key) > 1:
            raise ValueError(f"key_val_metric must name one metric, not {len(key)} ({sorted(key)})")
        self.metrics = {**key, **_metric_dict(additional_metrics, "additional_metrics")}
        self.key_metric_name = next(iter(key), None)
        self.network = network
        self.data_loader = val_data_loader
        self.inferer = inferer
        self.postprocessing = postprocessing
        self.amp = bool(amp) and self.device.type == "cuda"
        self.attach_handlers(val_handlers)

    def run(self, epoch: int | None = None) -> dict[str, float]:
        """Evaluate once.

        Args:
            epoch: the training epoch this evaluation belongs to (``PeriodicValidation`` passes
                it); ``None`` counts the evaluator's own runs.

        Returns:
            The metric values (empty when there are no metrics or no batch had targets).
        """
        state = self.state
        state.epoch = state.epoch + 1 if epoch is None else int(epoch)
        state.iteration = 0
        self.should_terminate = False
        network = unwrap_parallel(self.network).to(self.device)
        for metric in self.metrics.values():
            metric.reset()
        started = time.perf_counter()
        try:
            state.epoch_length = len(self.data_loader)
        except TypeError:
            state.epoch_length = None
        self.fire(EngineEvent.STARTED)
        scored = 0
        was_training = network.training
        network.eval()
        try:
            with torch.no_grad():
                for batch in self._progress_bar(self.data_loader, f"{self.name} {state.epoch}"):
                    scored += self._step(network, batch)
                    state.iteration += 1
                    self.fire(EngineEvent.ITERATION_COMPLETED)
                    if self.should_terminate:
                        break
        finally:
            network.train(was_training)
        values: dict[str, float] = {}
        # every rank must take part in the metrics' all-reduce, or none: agree on whether any scored
        if self.metrics and float(all_reduce_sum(torch.tensor(float(scored)))) > 0:
            values = {name: float(metric.compute()) for name, metric in self.metrics.items()}
            state.record_metrics(values, self.key_metric_name)
            self.fire(EngineEvent.METRICS_COMPUTED)
        self.fire(EngineEvent.COMPLETED)
        self._log_summary(values, time.perf_counter() - started)
        return values

    def _log_summary(self, values: Mapping[str, float], elapsed: float) -> None:
        if is_rank0():
            shown = ", ".join(f"{k} {v:.4f}" for k, v in values.items()) or "no metrics"
            self.logger.info("%s: %s (%d batches, %.1f s)", self.name, shown, self.state.iteration, elapsed)

    def _step(self, network: nn.Module, batch: Any) -> int:
        """Predict one batch, hand it to the metrics; returns 1 when it was scored."""
        inputs, targets = self._split_batch(batch)
        with self._autocast(self.amp):
            pred = self.inferer(inputs, network) if self.inferer is not None else network(inputs)
        pred = _apply_postprocessing(self.postprocessing, pred.float() if self.amp else pred)
        self.state.batch, self.state.output = batch, pred
        if targets is None or not self.metrics:
            return 0
        for metric in self.metrics.values():
            metric.update(pred, targets)
        return 1


def _apply_postprocessing(postprocessing: Any, pred: torch.Tensor) -> torch.Tensor:
    """Apply a callable, or a list of callables in order, to a batch of predictions."""
    if postprocessing is None:
        return pred
    steps = postprocessing if isinstance(postprocessing, (list, tuple)) else [postprocessing]
    for step in steps:
        if step is not None:
            pred = step(pred)
    return pred
