"""Inference: inferers (how a network sees its input) and the runner that predicts and writes a dataset."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bundle.components.distributed import all_reduce_sum, distributed_rank, distributed_world_size, is_rank0
from bundle.components.evaluation import EvaluationLoop
from bundle.components.loaders import build_data_loader


class ForwardInferer:
    """``inferer(inputs, network)`` = ``network(inputs)``: the whole input in one forward pass."""

    def __call__(self, inputs: torch.Tensor, network: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return network(inputs)


def _window_starts(size: int, window: int, step: int) -> list[int]:
    """Start offsets that tile ``size`` with windows of ``window``, the last one flush with the end."""
    if size <= window:
        return [0]
    starts = list(range(0, size - window + 1, step))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


class TiledInferer:
    """Predict a large image or volume window by window and average where windows overlap.

    For segmentation networks, whose output has the input's spatial size. An input smaller than
    the window is padded for the forward pass and the output cropped back.

    Args:
        roi_size: the window's spatial size, one integer per spatial dim (or one for all).
        sw_batch_size: windows per forward pass.
        overlap: fraction of the window shared with its neighbour along each dim, in [0, 1).

    Example:
        >>> inferer = TiledInferer(roi_size=[32, 32, 32], overlap=0.25)
        >>> inferer(torch.zeros(1, 1, 70, 64, 40), net).shape[2:]
        torch.Size([70, 64, 40])
    """

    def __init__(self, roi_size: int | Sequence[int], sw_batch_size: int = 1, overlap: float = 0.25) -> None:
        roi = (roi_size,) if isinstance(roi_size, int) else tuple(roi_size)
        if not roi or not all(isinstance(r, int) and r > 0 for r in roi):
            raise ValueError(f"roi_size must be positive integers, not {roi_size!r}")
        if not isinstance(sw_batch_size, int) or sw_batch_size < 1:
            raise ValueError(f"sw_batch_size must be a positive integer, not {sw_batch_size!r}")
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), not {overlap!r}")
        self.roi_size = roi
        self.sw_batch_size = sw_batch_size
        self.overlap = float(overlap)

    def __call__(self, inputs: torch.Tensor, network: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        spatial = tuple(inputs.shape[2:])
        roi = self.roi_size * len(spatial) if len(self.roi_size) == 1 else self.roi_size
        if len(roi) != len(spatial):
            raise ValueError(f"roi_size {self.roi_size} has {len(roi)} dims; the input has {len(spatial)} spatial dims")
        padded = tuple(max(s, r) for s, r in zip(spatial, roi))
        if padded != spatial:
            pads = [p for s, full in reversed(list(zip(spatial, padded))) for p in (0, full - s)]
            inputs = F.pad(inputs, pads)
        starts = [_window_starts(s, r, max(1, int(r * (1 - self.overlap)))) for s, r in zip(padded, roi)]
        # index tuples are built by concatenation: mypy misreads x[(a, *b)] as 3.11-only syntax (x[a, *b] is)
        every = (slice(None), slice(None))  # all of the batch and channel dims
        windows = [
            every + tuple(slice(o, o + r) for o, r in zip(origin, roi)) for origin in itertools.product(*starts)
        ]
        batch = inputs.shape[0]
        output: torch.Tensor | None = None
        counts = torch.zeros((1, 1, *padded), device=inputs.device)
        for first in range(0, len(windows), self.sw_batch_size):
            chunk = windows[first : first + self.sw_batch_size]
            patches = torch.cat([inputs[w] for w in chunk])
            pred = network(patches)
            if tuple(pred.shape[2:]) != roi:
                raise ValueError(
                    f"TiledInferer needs outputs of the window's size {roi}; the network gave {tuple(pred.shape[2:])}"
                )
            if output is None:
                output = torch.zeros((batch, pred.shape[1], *padded), dtype=torch.float32, device=pred.device)
            for i, w in enumerate(chunk):
                output[w] += pred[i * batch : (i + 1) * batch].float()
                counts[w] += 1
        assert output is not None  # at least one window always exists
        output /= counts
        return output[every + tuple(slice(0, s) for s in spatial)]


class ChannelArgmax:
    """Post-processing: the class index, argmax over the channel axis (``(B, C, ...)`` -> ``(B, 1, ...)``).

    Args:
        dim: the channel axis.
        keepdim: keep it with size 1 (a label map with one channel).
    """

    def __init__(self, dim: int = 1, keepdim: bool = True) -> None:
        self.dim = dim
        self.keepdim = keepdim

    def __call__(self, pred: torch.Tensor) -> torch.Tensor:
        return pred.argmax(dim=self.dim, keepdim=self.keepdim)


class InferenceRunner(EvaluationLoop):
    """Predict every input of a dataset, write one output per input, score it when labels exist.

    Fits a bundle's inference config: ``evaluator`` is the runner, ``dataset``, ``inferer``,
    ``postprocessing`` and ``handlers`` (``val_handlers``) its arguments. ``run()`` writes
    through ``writer`` (``TensorWriter``, ``ClassPredictionWriter``), logs one summary line and
    returns the metrics (empty when the data has no labels). Under a process group each rank
    predicts its shard and writes its own outputs; a table writer gathers them on rank 0.

    Args:
        network: the model.
        dataset: the inputs; a loader is built with ``build_data_loader`` (unshuffled).
        writer: where outputs go; ``None`` writes nothing (evaluation only).
        data_loader: give this instead of ``dataset`` to control batching yourself.
        batch_size: inputs per forward pass when the runner builds the loader.
        num_workers: loader worker processes when the runner builds the loader.
        name_key: key of each input's name in dict batches (file names of the outputs);
            inputs without one are numbered.
        The other arguments are ``EvaluationLoop``'s.

    Example:
        >>> runner = InferenceRunner(net, dataset=SyntheticEllipsoids("test", 4, size=32),
        ...                          writer=TensorWriter("out"), postprocessing=ChannelArgmax())
        >>> runner.run()
    """

    name = "infer"

    def __init__(
        self,
        network: nn.Module,
        dataset: Any = None,
        writer: Any = None,
        data_loader: Any = None,
        batch_size: int = 1,
        num_workers: int = 0,
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
        name_key: str = "name",
    ) -> None:
        if (dataset is None) == (data_loader is None):
            raise ValueError("give InferenceRunner either a dataset or a data_loader (exactly one)")
        if data_loader is None:
            data_loader = build_data_loader(dataset, batch_size=batch_size, num_workers=num_workers)
        self.writer = writer
        self.name_key = name_key
        self._count = 0
        super().__init__(
            network, data_loader, device=device, inferer=inferer, postprocessing=postprocessing,
            key_val_metric=key_val_metric, additional_metrics=additional_metrics, val_handlers=val_handlers,
            amp=amp, progress=progress, image_key=image_key, label_key=label_key,
        )  # fmt: skip

    def run(self, epoch: int | None = None) -> dict[str, float]:
        """Predict and write every input; returns the metrics (see ``EvaluationLoop.run``)."""
        started = time.perf_counter()
        self._count = 0
        if self.writer is not None:
            self.writer.begin()
        values = super().run(epoch)
        location = self.writer.finish() if self.writer is not None else None
        total = int(all_reduce_sum(torch.tensor(float(self._count))))
        if is_rank0():
            where = f" to {location}" if location is not None else ""
            scores = "".join(f", {k} {v:.4f}" for k, v in values.items())
            elapsed = time.perf_counter() - started
            self.logger.info("inference: %d outputs%s%s (%.1f s)", total, where, scores, elapsed)
        return values

    def _log_summary(self, values: Mapping[str, float], elapsed: float) -> None:
        pass  # run() logs one line that also says how many outputs were written, and where

    def _step(self, network: nn.Module, batch: Any) -> int:
        scored = super()._step(network, batch)
        if self.writer is not None:
            pred = self.state.output
            for name, item in zip(self._names(batch, len(pred)), pred):
                self.writer.write(name, item)
        self._count += len(self.state.output)
        return scored

    def _names(self, batch: Any, count: int) -> list[str]:
        names = batch.get(self.name_key) if isinstance(batch, Mapping) else None
        if isinstance(names, (list, tuple)) and len(names) == count:
            return [str(n) for n in names]
        prefix = f"rank{distributed_rank()}_" if distributed_world_size() > 1 else ""
        return [f"{prefix}{self._count + i:05d}" for i in range(count)]
