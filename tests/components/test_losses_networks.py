"""The Dice + cross-entropy loss and the small networks: values, learning, shapes, sizes."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F

from bundle.components.losses import DiceCrossEntropyLoss
from bundle.components.networks import CompactCNN, CompactUNet

# --- loss ---------------------------------------------------------------------------------------


def test_loss_by_hand_on_uniform_logits():
    # two classes, zero logits: probabilities 1/2, cross-entropy ln 2. All voxels are class 0:
    # Dice(class 0) = 2 * N/2 / (N/2 + N) = 2/3, Dice(class 1) ~ 0 (smooth is tiny).
    logits = torch.zeros(1, 2, 10)
    target = torch.zeros(1, 10, dtype=torch.long)
    assert DiceCrossEntropyLoss()(logits, target).item() == pytest.approx(1 - 1 / 3 + math.log(2), abs=1e-4)
    no_background = DiceCrossEntropyLoss(include_background=False)
    assert no_background(logits, target).item() == pytest.approx(1 + math.log(2), abs=1e-4)
    dice_only = DiceCrossEntropyLoss(lambda_ce=0.0)
    assert dice_only(logits, target).item() == pytest.approx(2 / 3, abs=1e-4)


def test_loss_near_zero_for_confident_correct_logits():
    target = torch.randint(0, 3, (2, 1, 6, 6), generator=torch.Generator().manual_seed(0))
    logits = 30.0 * F.one_hot(target[:, 0], 3).movedim(-1, 1).float()
    assert DiceCrossEntropyLoss()(logits, target).item() < 1e-3


def test_binary_single_channel():
    target = torch.tensor([[[0, 1, 1, 0]]])
    good = torch.tensor([[[-20.0, 20.0, 20.0, -20.0]]])
    assert DiceCrossEntropyLoss()(good, target).item() < 1e-3
    assert DiceCrossEntropyLoss()(-good, target).item() > 1.0


def test_loss_decreases_on_a_toy_batch():
    torch.manual_seed(0)
    images = torch.rand(4, 1, 12, 12)
    labels = (images > 0.5).long()
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1))
    loss_fn = DiceCrossEntropyLoss(batch_dice=True)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = loss_fn(net(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_loss_rejects_bad_targets_and_weights():
    with pytest.raises(ValueError, match="does not match"):
        DiceCrossEntropyLoss()(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="one channel"):
        DiceCrossEntropyLoss()(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="lambda"):
        DiceCrossEntropyLoss(lambda_dice=0, lambda_ce=0)


# --- networks -----------------------------------------------------------------------------------


def _parameters(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _state_bytes(net: torch.nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return len(buffer.getvalue())


@pytest.mark.parametrize(
    "spatial_dims, shape",
    [
        pytest.param(3, (2, 1, 16, 16, 16), id="3d"),
        pytest.param(3, (1, 1, 17, 20, 9), id="3d-odd"),
        pytest.param(2, (3, 1, 32, 32), id="2d"),
        pytest.param(2, (1, 1, 13, 7), id="2d-odd"),
    ],
)
def test_unet_output_matches_input_size(spatial_dims, shape):
    net = CompactUNet(spatial_dims=spatial_dims, in_channels=1, out_channels=3, channels=(4, 8, 16))
    assert net(torch.zeros(shape)).shape == (shape[0], 3, *shape[2:])


def test_unet_sizes():
    net3d = CompactUNet(spatial_dims=3, in_channels=1, out_channels=2)
    # encoder blocks 1976 + 10432 + 41600, up-convs 1032 + 4112, decoder blocks 5216 + 20800, head 18
    assert _parameters(net3d) == 85_186
    assert _state_bytes(net3d) < 500_000  # a trained 3D bundle model stays well under 2 MB
    assert _parameters(CompactUNet(spatial_dims=2, in_channels=1, out_channels=2)) == 29_490
    assert _parameters(CompactUNet(spatial_dims=3, channels=(4, 8))) < _parameters(net3d)


def test_unet_norms_and_arguments():
    for norm in ("instance", "batch", "none"):
        net = CompactUNet(spatial_dims=2, channels=(4, 8), norm=norm).eval()
        assert net(torch.zeros(1, 1, 8, 8)).shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="spatial_dims"):
        CompactUNet(spatial_dims=1)
    with pytest.raises(ValueError, match="channels"):
        CompactUNet(channels=[])
    with pytest.raises(ValueError, match="norm"):
        CompactUNet(norm="layer")


@pytest.mark.parametrize("size", [8, 28])
def test_classifier_output_shape(size):
    net = CompactCNN(in_channels=1, num_classes=10).eval()
    assert net(torch.zeros(5, 1, size, size)).shape == (5, 10)


def test_classifier_size_and_arguments():
    assert _parameters(CompactCNN()) == 5_178
    assert CompactCNN(in_channels=3, num_classes=4, channels=(8,), norm="none")(torch.zeros(2, 3, 9, 9)).shape == (2, 4)
    with pytest.raises(ValueError, match="norm"):
        CompactCNN(norm="instance")


@pytest.mark.parametrize("spatial_dims, channels", [(2, (8, 16, 32)), (3, (8, 16)), (3, (4, 8, 16, 32))])
def test_unet_scripts_to_the_same_outputs(spatial_dims, channels):
    net = CompactUNet(spatial_dims=spatial_dims, in_channels=1, out_channels=3, channels=channels).eval()
    x = torch.randn(2, 1, *([17, 20, 19][:spatial_dims]))
    with torch.no_grad():
        assert torch.equal(torch.jit.script(net)(x), net(x))
