"""Streaming metrics: ``reset()``, ``update(pred, target)`` per batch, ``compute()`` -> float.

Each metric keeps sums (never per-sample lists), so the result over a sharded dataset is exact:
``compute()`` adds the sums of all ranks when a process group is up. Every rank must therefore
call ``compute()`` (the evaluators do).
"""

from __future__ import annotations

import math

import torch

from bundle.components.distributed import all_reduce_sum


def _pred_labels(pred: torch.Tensor, target: torch.Tensor, *, binary: bool, from_logits: bool) -> torch.Tensor:
    """Class indices ``(B, *spatial)`` from a prediction.

    A float prediction has a channel axis at dim 1: several channels are logits or probabilities
    (argmax); one channel is a binary score when ``binary`` (thresholded at 0 for logits, 0.5 for
    probabilities), else float labels. An integer prediction holds labels, with or without a
    channel axis of size 1.
    """
    if pred.is_floating_point():
        if pred.dim() < 2:
            return pred.round().long()
        if pred.shape[1] > 1:
            return pred.argmax(dim=1)
        if binary:
            return (pred[:, 0] > (0.0 if from_logits else 0.5)).long()
        return pred[:, 0].round().long()
    if pred.dim() > 1 and pred.shape[1] == 1 and pred.dim() >= target.dim():
        pred = pred[:, 0]
    return pred.long()


def _target_labels(target: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Target class indices shaped like ``labels``: labels, labels with a channel of 1, or one-hot."""
    if target.dim() == labels.dim() + 1:
        target = target[:, 0] if target.shape[1] == 1 else target.argmax(dim=1)
    if target.shape != labels.shape:
        raise ValueError(
            f"target of shape {tuple(target.shape)} does not match the prediction's labels {tuple(labels.shape)}"
        )
    return (target.round() if target.is_floating_point() else target).long().to(labels.device)


class DiceScore:
    """Mean Dice overlap of discrete segmentations, per class and averaged over classes.

    Predictions are ``(B, C, *spatial)`` logits or probabilities (the class is the argmax over
    channels; a single float channel is a binary score when ``num_classes`` is 2, else labels), or
    ``(B, *spatial)`` / ``(B, 1, *spatial)`` integer labels. Targets are labels of either shape,
    or one-hot ``(B, C, *spatial)``. For each sample and class, Dice is ``2|P∩G| / (|P| + |G|)``;
    ``compute()`` averages over samples, then classes.

    Args:
        num_classes: number of classes, background (class 0) included.
        include_background: also score class 0.
        ignore_empty: a sample whose ground truth lacks a class does not count for that class;
            when False it counts 1.0 if the prediction lacks it too, else 0.0.
        from_logits: for a single-channel prediction, threshold at 0 (logits) instead of 0.5.

    Example:
        >>> metric = DiceScore(num_classes=2)
        >>> metric.update(torch.tensor([[[0, 1, 1]]]), torch.tensor([[[0, 1, 0]]]))
        >>> round(metric.compute(), 4)
        0.6667
    """

    def __init__(
        self, num_classes: int, include_background: bool = False, ignore_empty: bool = True, from_logits: bool = True
    ) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2 (background included), not {num_classes!r}")
        self.num_classes = num_classes
        self.include_background = include_background
        self.ignore_empty = ignore_empty
        self.from_logits = from_logits
        self.reset()

    def reset(self) -> None:
        """Forget every update."""
        self._sums = torch.zeros(2, self.num_classes, dtype=torch.float64)  # [dice sum, sample count]

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch. ``pred`` and ``target`` must describe the same samples and voxels."""
        pred, target = pred.detach(), target.detach()
        binary = self.num_classes == 2
        labels = _pred_labels(pred, target, binary=binary, from_logits=self.from_logits)
        truth = _target_labels(target, labels)
        classes = torch.arange(self.num_classes, device=labels.device).view(1, -1, *([1] * (labels.dim() - 1)))
        p = (labels.unsqueeze(1) == classes).flatten(2)  # (B, C, N) one-hot
        g = (truth.unsqueeze(1) == classes).flatten(2)
        inter = (p & g).sum(-1).double()
        total = (p.sum(-1) + g.sum(-1)).double()
        present = g.any(-1)
        dice = torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))
        counted = present if self.ignore_empty else torch.ones_like(present)
        dice = torch.where(counted, dice, torch.zeros_like(dice))
        self._sums[0] += dice.sum(0).cpu()
        self._sums[1] += counted.sum(0).double().cpu()

    def per_class(self) -> list[float]:
        """Mean Dice of each scored class (NaN for a class never counted), summed over all ranks."""
        sums = all_reduce_sum(self._sums)
        first = 0 if self.include_background else 1
        return [
            float(sums[0, c] / sums[1, c]) if sums[1, c] > 0 else math.nan for c in range(first, self.num_classes)
        ]

    def compute(self) -> float:
        """Mean of ``per_class()`` over the classes that were counted (NaN if none was)."""
        values = [v for v in self.per_class() if not math.isnan(v)]
        return sum(values) / len(values) if values else math.nan


class ClassificationAccuracy:
    """The fraction of samples whose predicted class is the target class.

    Predictions are ``(B, C)`` logits or probabilities (argmax), ``(B, 1)`` binary scores
    (thresholded like ``DiceScore``), or ``(B,)`` labels. Targets are ``(B,)`` or ``(B, 1)``
    labels, or ``(B, C)`` one-hot.

    Args:
        from_logits: for a single-column prediction, threshold at 0 (logits) instead of 0.5.

    Example:
        >>> metric = ClassificationAccuracy()
        >>> metric.update(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
        >>> metric.compute()
        0.5
    """

    def __init__(self, from_logits: bool = True) -> None:
        self.from_logits = from_logits
        self.reset()

    def reset(self) -> None:
        """Forget every update."""
        self._sums = torch.zeros(2, dtype=torch.float64)  # [correct, total]

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of predictions and their targets."""
        pred, target = pred.detach(), target.detach()
        labels = _pred_labels(pred, target, binary=True, from_logits=self.from_logits)
        truth = _target_labels(target, labels)
        self._sums[0] += float((labels == truth).sum())
        self._sums[1] += len(truth)

    def compute(self) -> float:
        """Accuracy over everything added since ``reset()`` on all ranks (NaN when nothing was)."""
        correct, total = all_reduce_sum(self._sums).tolist()
        return correct / total if total else math.nan
