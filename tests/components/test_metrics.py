"""Metrics against values worked out by hand, in every input form they accept."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bundle.components.metrics import ClassificationAccuracy, DiceScore


def _logits(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, N) labels -> (B, C, N) logits whose argmax is ``labels``."""
    return 5.0 * F.one_hot(labels, num_classes).movedim(-1, 1).float() - 1.0


PRED = torch.tensor([[0, 1, 1, 0]])
TRUTH = torch.tensor([[0, 1, 0, 0]])


def test_dice_of_one_sample_by_hand():
    # class 1: |P|=2, |G|=1, |P∩G|=1 -> 2/3; class 0: |P|=2, |G|=3, |P∩G|=2 -> 4/5
    metric = DiceScore(num_classes=2)
    metric.update(PRED, TRUTH)
    assert metric.compute() == pytest.approx(2 / 3)
    with_background = DiceScore(num_classes=2, include_background=True)
    with_background.update(PRED, TRUTH)
    assert with_background.per_class() == pytest.approx([4 / 5, 2 / 3])
    assert with_background.compute() == pytest.approx((4 / 5 + 2 / 3) / 2)


@pytest.mark.parametrize(
    "pred, target",
    [
        pytest.param(PRED, TRUTH, id="labels"),
        pytest.param(PRED.unsqueeze(1), TRUTH.unsqueeze(1), id="labels-with-channel"),
        pytest.param(_logits(PRED, 2), TRUTH, id="logits"),
        pytest.param(_logits(PRED, 2).softmax(1), TRUTH.unsqueeze(1), id="probabilities"),
        pytest.param(_logits(PRED, 2), F.one_hot(TRUTH, 2).movedim(-1, 1), id="one-hot-target"),
        pytest.param(PRED.unsqueeze(1).float() * 4 - 2, TRUTH, id="binary-logit-channel"),
        pytest.param(PRED.unsqueeze(1).float(), TRUTH.float(), id="float-labels"),
    ],
)
def test_dice_accepts_every_input_form(pred, target):
    metric = DiceScore(num_classes=2)
    metric.update(pred, target)
    assert metric.compute() == pytest.approx(2 / 3)


def test_binary_probabilities_are_thresholded_at_one_half():
    probabilities = torch.tensor([[[0.2, 0.6, 0.7, 0.4]]])
    metric = DiceScore(num_classes=2, from_logits=False)
    metric.update(probabilities, TRUTH)
    assert metric.compute() == pytest.approx(2 / 3)


def test_dice_averages_samples_not_voxels():
    # sample A: perfect (1.0); sample B: |P|=1, |G|=2, overlap 1 -> 2/3. Mean 5/6, not the global 6/7.
    pred = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]])
    truth = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0]])
    metric = DiceScore(num_classes=2)
    metric.update(pred[:1], truth[:1])
    metric.update(pred[1:], truth[1:])
    assert metric.compute() == pytest.approx(5 / 6)


def test_three_classes_per_class():
    pred = torch.tensor([[0, 1, 1, 2, 2, 2]])
    truth = torch.tensor([[0, 1, 2, 2, 2, 0]])
    # class 1: P={1,2} G={1} -> 2/3; class 2: P={3,4,5} G={2,3,4} -> 4/6
    metric = DiceScore(num_classes=3)
    metric.update(_logits(pred, 3), truth)
    assert metric.per_class() == pytest.approx([2 / 3, 2 / 3])


def test_empty_ground_truth():
    pred = torch.tensor([[0, 1, 0], [0, 0, 0]])
    truth = torch.tensor([[0, 0, 0], [0, 0, 0]])
    ignoring = DiceScore(num_classes=2)
    ignoring.update(pred, truth)
    assert math.isnan(ignoring.compute())  # class 1 never present: nothing to score
    counting = DiceScore(num_classes=2, ignore_empty=False)
    counting.update(pred, truth)
    assert counting.compute() == pytest.approx(0.5)  # a false positive scores 0, both empty scores 1


def test_reset_forgets_updates():
    metric = DiceScore(num_classes=2)
    metric.update(PRED, 1 - TRUTH)
    metric.reset()
    metric.update(PRED, TRUTH)
    assert metric.compute() == pytest.approx(2 / 3)


def test_dice_3d_volumes():
    truth = torch.zeros(1, 1, 4, 4, 4, dtype=torch.long)
    truth[..., :2, :, :] = 1  # 32 voxels
    pred = torch.zeros_like(truth)
    pred[..., :1, :, :] = 1  # 16 voxels, all inside
    metric = DiceScore(num_classes=2)
    metric.update(pred, truth)
    assert metric.compute() == pytest.approx(2 * 16 / 48)


@pytest.mark.parametrize(
    "kwargs, match", [({"num_classes": 1}, "num_classes"), ({"num_classes": "2"}, "num_classes")]
)
def test_dice_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiceScore(**kwargs)


def test_dice_rejects_mismatched_shapes():
    metric = DiceScore(num_classes=2)
    with pytest.raises(ValueError, match="does not match"):
        metric.update(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))


@pytest.mark.parametrize(
    "pred, target",
    [
        pytest.param(torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), torch.tensor([0, 0, 0]), id="logits"),
        pytest.param(torch.tensor([0, 1, 0]), torch.tensor([[0], [0], [0]]), id="labels"),
        pytest.param(torch.tensor([[0], [1], [0]]), torch.tensor([0, 0, 0]), id="labels-column"),
        pytest.param(torch.tensor([[-1.0], [2.0], [-3.0]]), torch.tensor([0, 0, 0]), id="binary-logits"),
        pytest.param(
            torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), torch.tensor([[1, 0], [1, 0], [1, 0]]), id="one-hot"
        ),
    ],
)
def test_accuracy_by_hand(pred, target):
    metric = ClassificationAccuracy()
    metric.update(pred, target)
    assert metric.compute() == pytest.approx(2 / 3)


def test_accuracy_accumulates_and_resets():
    metric = ClassificationAccuracy()
    assert math.isnan(metric.compute())
    metric.update(torch.tensor([1, 1]), torch.tensor([1, 0]))
    metric.update(torch.tensor([2, 2]), torch.tensor([2, 2]))
    assert metric.compute() == pytest.approx(3 / 4)
    metric.reset()
    metric.update(torch.tensor([1]), torch.tensor([0]))
    assert metric.compute() == 0.0


def test_accuracy_rejects_mismatched_counts():
    with pytest.raises(ValueError, match="does not match"):
        ClassificationAccuracy().update(torch.tensor([0, 1]), torch.tensor([0, 1, 1]))
