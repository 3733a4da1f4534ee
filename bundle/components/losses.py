"""Segmentation loss: soft Dice plus cross-entropy, on logits and integer label maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DiceCrossEntropyLoss(nn.Module):
    """``lambda_dice * (1 - soft Dice) + lambda_ce * cross-entropy`` for ``(B, C, *spatial)`` logits.

    Targets are class indices ``(B, *spatial)`` or ``(B, 1, *spatial)``. With several channels the
    probabilities are a softmax and the cross-entropy is categorical; with one channel the task is
    binary (sigmoid and binary cross-entropy, foreground = label 1).

    Args:
        include_background: count class 0 in the Dice term (ignored for one channel).
        lambda_dice: weight of the Dice term.
        lambda_ce: weight of the cross-entropy term.
        smooth: added to the Dice numerator and denominator, so empty classes give Dice 1, not NaN.
        batch_dice: compute Dice over the whole batch per class (stabler for small structures)
            instead of per sample and then averaged.

    Example:
        >>> loss = DiceCrossEntropyLoss()
        >>> loss(torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 8, 8, dtype=torch.long)).item() > 0
        True
    """

    def __init__(
        self,
        include_background: bool = True,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        smooth: float = 1e-5,
        batch_dice: bool = False,
    ) -> None:
        super().__init__()
        if lambda_dice < 0 or lambda_ce < 0 or lambda_dice + lambda_ce == 0:
            raise ValueError(f"lambda_dice and lambda_ce must be >= 0, not both 0 (got {lambda_dice}, {lambda_ce})")
        self.include_background = include_background
        self.lambda_dice = float(lambda_dice)
        self.lambda_ce = float(lambda_ce)
        self.smooth = float(smooth)
        self.batch_dice = batch_dice

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == logits.dim():
            if target.shape[1] != 1:
                raise ValueError(f"target must hold class indices with one channel, not shape {tuple(target.shape)}")
            target = target[:, 0]
        if target.shape != logits.shape[:1] + logits.shape[2:]:
            raise ValueError(f"target {tuple(target.shape)} does not match logits {tuple(logits.shape)}")
        target = target.long()
        channels = logits.shape[1]
        if channels == 1:
            foreground = target.float().unsqueeze(1)
            ce = F.binary_cross_entropy_with_logits(logits, foreground)
            probs, onehot = torch.sigmoid(logits), foreground
        else:
            ce = F.cross_entropy(logits, target)
            probs = logits.softmax(dim=1)
            onehot = F.one_hot(target, channels).movedim(-1, 1).to(probs.dtype)
            if not self.include_background:
                probs, onehot = probs[:, 1:], onehot[:, 1:]
        dims = tuple(range(2, logits.dim()))
        if self.batch_dice:
            dims = (0, *dims)
        inter = (probs * onehot).sum(dims)
        total = probs.sum(dims) + onehot.sum(dims)
        dice = (2 * inter + self.smooth) / (total + self.smooth)
        return self.lambda_dice * (1 - dice.mean()) + self.lambda_ce * ce
