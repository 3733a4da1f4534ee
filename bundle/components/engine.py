"""The event engine under training, evaluation and inference: events, state, handlers, batches, progress.

An engine runs a loop and *fires* events; handlers are objects with ``attach(engine)`` that
register callbacks for the events they care about (``engine.add_event_handler(event, fn)``).
Callbacks run in the order they were added and receive the engine, whose ``state`` says where
the loop is (epoch, iteration, last loss, metrics, best metric).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from bundle.components.distributed import distributed_device, is_rank0


class EngineEvent(str, enum.Enum):
    """What an engine announces, in the order a run fires them.

    ``STARTED`` once per ``run()``; per epoch ``EPOCH_STARTED``, then ``ITERATION_COMPLETED``
    after each batch, then ``EPOCH_COMPLETED``; ``METRICS_COMPUTED`` when ``state.metrics`` got
    new values (an evaluator at the end of each run; a trainer after each validation that
    ``PeriodicValidation`` ran); ``COMPLETED`` once at the end of ``run()``.
    """

    STARTED = "started"
    EPOCH_STARTED = "epoch_started"
    ITERATION_COMPLETED = "iteration_completed"
    EPOCH_COMPLETED = "epoch_completed"
    METRICS_COMPUTED = "metrics_computed"
    COMPLETED = "completed"


@dataclass
class EngineState:
    """Where an engine's loop stands; handlers read it and may change ``metrics``.

    Attributes:
        epoch: epochs completed (a trainer), or the training epoch being evaluated (an evaluator).
        max_epochs: the epoch the trainer stops after.
        iteration: batches processed (a trainer: since the first epoch; an evaluator: in this run).
        epoch_length: batches per epoch on this rank.
        loss: loss of the last batch (trainer).
        epoch_loss: mean loss over the last epoch, averaged over all ranks (trainer).
        batch: the last batch, as the data loader gave it.
        output: the last batch's prediction, after post-processing.
        metrics: latest metric values by name.
        key_metric: the name of the metric that decides "best".
        best_metric: the best key-metric value seen so far (higher is better).
        best_metric_epoch: the epoch it was reached (-1: never).
        metric_improved: whether the latest metrics set a new best.
    """

    epoch: int = 0
    max_epochs: int = 1
    iteration: int = 0
    epoch_length: int | None = None
    loss: float | None = None
    epoch_loss: float | None = None
    batch: Any = field(default=None, repr=False)
    output: Any = field(default=None, repr=False)
    metrics: dict[str, float] = field(default_factory=dict)
    key_metric: str | None = None
    best_metric: float = -math.inf
    best_metric_epoch: int = -1
    metric_improved: bool = False

    def record_metrics(self, metrics: Mapping[str, float], key_metric: str | None) -> None:
        """Store new metric values and update the best key metric (NaN never counts as better)."""
        self.metrics.update(metrics)
        self.key_metric = key_metric
        value = metrics.get(key_metric) if key_metric else None
        self.metric_improved = False
        if value is not None and not math.isnan(value) and value > self.best_metric:
            self.metric_improved = True
            self.best_metric, self.best_metric_epoch = float(value), self.epoch


class EventEngine:
    """Base of the loops: events and handlers, device, progress bars, batches.

    Args:
        device: where the network runs; ``None`` picks ``distributed_device()`` (this rank's
            GPU, else the CPU).
        progress: show a tqdm progress bar; ``None`` shows one on rank 0 when stderr is a terminal.
        image_key: the input's key in dict batches.
        label_key: the target's key in dict batches.
    """

    name = "engine"

    def __init__(
        self,
        device: str | torch.device | None = None,
        progress: bool | None = None,
        image_key: str = "image",
        label_key: str = "label",
    ) -> None:
        self.device = torch.device(device) if device is not None else distributed_device()
        self.progress = progress
        self.image_key = image_key
        self.label_key = label_key
        self.state = EngineState()
        self.logger = logging.getLogger(type(self).__module__)
        self.should_terminate = False
        self._callbacks: dict[EngineEvent, list[tuple[Callable, tuple, dict]]] = {e: [] for e in EngineEvent}

    # --- events ------------------------------------------------------------------------------

    def attach_handlers(self, handlers: Sequence[Any] | None) -> None:
        """Attach each handler (an object with ``attach(engine)``); ``None`` entries are skipped,
        so that a handler disabled in a config (``_disabled_``) simply drops out."""
        for handler in handlers or ():
            if handler is None:
                continue
            attach = getattr(handler, "attach", None)
            if not callable(attach):
                raise TypeError(f"a handler needs an attach(engine) method; got {type(handler).__name__}")
            attach(self)

    def add_event_handler(self, event: EngineEvent, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``callback(engine, *args, **kwargs)`` each time ``event`` fires, after earlier ones."""
        self._callbacks[EngineEvent(event)].append((callback, args, kwargs))

    def fire(self, event: EngineEvent) -> None:
        """Run every callback registered for ``event``."""
        for callback, args, kwargs in list(self._callbacks[EngineEvent(event)]):
            callback(self, *args, **kwargs)

    def terminate(self) -> None:
        """Stop after the current iteration; ``COMPLETED`` still fires."""
        self.should_terminate = True

    # --- helpers for the loops ------------------------------------------------------------------

    def _progress_bar(self, iterable: Iterable, description: str) -> Iterable:
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        if not show or not is_rank0():
            return iterable
        try:
            from tqdm.auto import tqdm
        except ImportError:  # progress is a nicety; the loop runs without it
            return iterable
        return tqdm(iterable, desc=description, leave=False, dynamic_ncols=True)

    def _autocast(self, amp: bool) -> contextlib.AbstractContextManager:
        if amp and self.device.type == "cuda":
            return torch.autocast(device_type="cuda")
        return contextlib.nullcontext()

    def _split_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(inputs, targets or None)`` of a dict, ``(x, y)`` pair, ``(x,)`` or tensor batch, on the device."""
        if isinstance(batch, Mapping):
            if self.image_key not in batch:
                raise KeyError(f"batch has no '{self.image_key}' (keys: {sorted(map(str, batch))}); set image_key")
            inputs, targets = batch[self.image_key], batch.get(self.label_key)
        elif isinstance(batch, (list, tuple)):
            inputs, targets = batch[0], batch[1] if len(batch) > 1 else None
        else:
            inputs, targets = batch, None
        inputs = inputs.to(self.device, non_blocking=True)
        if isinstance(targets, torch.Tensor):
            targets = targets.to(self.device, non_blocking=True)
        else:
            targets = None
        return inputs, targets
