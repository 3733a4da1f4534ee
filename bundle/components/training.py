"""Supervised training: epochs of forward, loss, backward and optimizer steps, with events for handlers."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from bundle.components.distributed import all_reduce_sum, distributed_world_size, is_rank0
from bundle.components.engine import EngineEvent, EngineState, EventEngine


class TrainingLoop(EventEngine):
    """Train ``network`` on ``train_data_loader`` for ``max_epochs`` epochs.

    Under a process group (``init_distributed``), ``run()`` wraps the network in
    ``DistributedDataParallel`` (gradients averaged over ranks; the caller's ``network`` object
    is left unwrapped, so evaluators and checkpoints use it directly), calls the loader's
    ``sampler.set_epoch`` every epoch, and copies rank 0's buffers (batch-norm statistics) to
    every rank after each epoch, so all ranks hold the same model when handlers run. ``run()``
    may be called again after ``max_epochs`` is raised: it goes on from ``state.epoch``.

    Argument names follow MONAI's ``SupervisedTrainer`` where they mean the same, so a bundle's
    ``train::trainer::max_epochs``, ``train::handlers`` and ``train::inferer`` ids fit.

    Args:
        network: the model; moved to ``device`` by ``run()``.
        optimizer: built over ``network.parameters()``.
        loss_function: ``loss(pred, target)`` -> scalar tensor.
        train_data_loader: yields dict batches (``image_key``/``label_key``) or ``(x, y)`` pairs.
        max_epochs: the epoch to stop after.
        device: see ``EventEngine``.
        inferer: ``inferer(inputs, network)`` -> prediction; default ``network(inputs)``.
        train_handlers: objects with ``attach(engine)`` (``PeriodicValidation``,
            ``CheckpointWriter``, ``MetricsLogger``, ...); attached in order.
        amp: mixed precision with a gradient scaler (CUDA only; ignored on the CPU).
        clip_grad_norm: clip the gradients' total 2-norm to this value before each step.
        progress: see ``EventEngine``.
        image_key: see ``EventEngine``.
        label_key: see ``EventEngine``.

    Example:
        >>> trainer = TrainingLoop(net, torch.optim.Adam(net.parameters()), DiceCrossEntropyLoss(),
        ...                        loader, max_epochs=5, train_handlers=[MetricsLogger()])
        >>> trainer.run().epoch_loss
    """

    name = "train"

    def __init__(
        self,
        network: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        train_data_loader: Any,
        max_epochs: int = 1,
        device: str | torch.device | None = None,
        inferer: Callable[[torch.Tensor, nn.Module], torch.Tensor] | None = None,
        train_handlers: Sequence[Any] | None = (),
        amp: bool = False,
        clip_grad_norm: float | None = None,
        progress: bool | None = None,
        image_key: str = "image",
        label_key: str = "label",
    ) -> None:
        super().__init__(device=device, progress=progress, image_key=image_key, label_key=label_key)
        if not isinstance(max_epochs, int) or max_epochs < 0:
            raise ValueError(f"max_epochs must be a non-negative integer, not {max_epochs!r}")
        if clip_grad_norm is not None and clip_grad_norm <= 0:
            raise ValueError(f"clip_grad_norm must be > 0 (or null), not {clip_grad_norm!r}")
        self.network = network
        self.optimizer = optimizer
        self.loss_function = loss_function
        self.data_loader = train_data_loader
        self.inferer = inferer
        self.amp = bool(amp) and self.device.type == "cuda"
        if amp and not self.amp:
            self.logger.info("amp is CUDA-only; training in full precision on %s", self.device)
        self.clip_grad_norm = clip_grad_norm
        self.state = EngineState(max_epochs=max_epochs)
        self._model: nn.Module | None = None
        self._scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self.attach_handlers(train_handlers)

    @property
    def model(self) -> nn.Module:
        """The module that trains: the network, or its ``DistributedDataParallel`` wrapper while running."""
        return self._model if self._model is not None else self.network

    def _prepare_model(self) -> nn.Module:
        if self._model is None:
            self.network.to(self.device)
            self._model = self.network
            if distributed_world_size() > 1:
                from torch.nn.parallel import DistributedDataParallel

                on_gpu = self.device.type == "cuda" and self.device.index is not None
                device_ids = [self.device.index] if on_gpu else None
                self._model = DistributedDataParallel(self.network, device_ids=device_ids)
        return self._model

    def run(self) -> EngineState:
        """Train until ``state.epoch == max_epochs`` or a handler calls ``terminate()``.

        Returns:
            The final ``state``.
        """
        state = self.state
        self.should_terminate = False
        started = time.perf_counter()
        if is_rank0():
            self.logger.info("training: epochs %d to %d on %s", state.epoch + 1, state.max_epochs, self.device)
        model = self._prepare_model()
        try:
            self.fire(EngineEvent.STARTED)
            while state.epoch < state.max_epochs and not self.should_terminate:
                self._run_epoch(model)
            self.fire(EngineEvent.COMPLETED)
        finally:
            # Drop the DistributedDataParallel wrapper while the process group is still up: its
            # reducer holds the group, and a Gloo group destroyed from the reducer's destructor
            # (after shutdown_distributed) can deadlock with Gloo's worker threads over the GIL.
            self._model = None
            del model
        if is_rank0():
            best = ""
            if state.key_metric and state.best_metric_epoch >= 0:
                best = f"; best {state.key_metric} {state.best_metric:.4f} at epoch {state.best_metric_epoch}"
            elapsed = time.perf_counter() - started
            self.logger.info("training finished after epoch %d (%.1f s)%s", state.epoch, elapsed, best)
        return state

    def _run_epoch(self, model: nn.Module) -> None:
        state = self.state
        state.epoch += 1
        sampler = getattr(self.data_loader, "sampler", None)
        if sampler is not None and hasattr(sampler, "set_epoch"):
            sampler.set_epoch(state.epoch)
        try:
            state.epoch_length = len(self.data_loader)
        except TypeError:  # an iterable loader without a length
            state.epoch_length = None
        self.fire(EngineEvent.EPOCH_STARTED)
        model.train()
        total, count = torch.zeros((), dtype=torch.float64), 0
        batches = self._progress_bar(self.data_loader, f"epoch {state.epoch}/{state.max_epochs}")
        for batch in batches:
            loss = self._step(model, batch)
            total += loss.detach().double().cpu()
            count += 1
            state.iteration += 1
            state.loss = float(loss.detach())
            self.fire(EngineEvent.ITERATION_COMPLETED)
            if self.should_terminate:
                break
        sums = all_reduce_sum(torch.stack([total, torch.tensor(float(count), dtype=torch.float64)]))
        state.epoch_loss = float(sums[0] / sums[1]) if sums[1] > 0 else None
        self._share_buffers()
        self.fire(EngineEvent.EPOCH_COMPLETED)

    def _share_buffers(self) -> None:
        """Give every rank rank 0's buffers (batch-norm running statistics) at the end of an epoch.

        DistributedDataParallel broadcasts them before each forward pass, so after the last step
        each rank holds its own update: validation would score a different model on each rank,
        none of them exactly the one rank 0 saves.
        """
        if distributed_world_size() <= 1:
            return
        import torch.distributed as dist

        for buffer in self.network.buffers():
            dist.broadcast(buffer.data, src=0)

    def _step(self, model: nn.Module, batch: Any) -> torch.Tensor:
        inputs, targets = self._split_batch(batch)
        if targets is None:
            raise ValueError(f"a training batch needs targets ('{self.label_key}' in dict batches, or (x, y) pairs)")
        self.state.batch = batch
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast(self.amp):
            pred = self.inferer(inputs, model) if self.inferer is not None else model(inputs)
            loss = self.loss_function(pred, targets)
        self.state.output = pred.detach()
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
            if self.clip_grad_norm is not None:
                self._scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.clip_grad_norm)
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            loss.backward()
            if self.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.clip_grad_norm)
            self.optimizer.step()
        return loss
