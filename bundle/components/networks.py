"""Small networks for bundles that must train in minutes: a 2D/3D UNet and a 2D image classifier."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

_NORMS = ("instance", "batch", "none")


def _layers(spatial_dims: int) -> tuple[type, type, type, type, type]:
    if spatial_dims == 2:
        return nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.InstanceNorm2d, nn.BatchNorm2d
    if spatial_dims == 3:
        return nn.Conv3d, nn.ConvTranspose3d, nn.MaxPool3d, nn.InstanceNorm3d, nn.BatchNorm3d
    raise ValueError(f"spatial_dims must be 2 or 3, not {spatial_dims!r}")


def _norm(kind: str, spatial_dims: int, channels: int) -> nn.Module:
    *_, instance, batch = _layers(spatial_dims)
    if kind == "instance":
        return instance(channels, affine=True)
    if kind == "batch":
        return batch(channels)
    return nn.Identity()


def _check_channels(channels: Sequence[int], what: str) -> tuple[int, ...]:
    values = tuple(channels)
    if not values or not all(isinstance(c, int) and c > 0 for c in values):
        raise ValueError(f"{what} must be a non-empty list of positive integers, not {channels!r}")
    return values


class _ConvBlock(nn.Sequential):
    """Two 3x3(x3) convolutions, each followed by a norm and a leaky ReLU."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, norm: str, dropout: float) -> None:
        conv = _layers(spatial_dims)[0]
        bias = norm == "none"
        super().__init__(
            conv(in_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, spatial_dims, out_channels),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Dropout(dropout) if dropout else nn.Identity(),
            conv(out_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, spatial_dims, out_channels),
            nn.LeakyReLU(0.01, inplace=True),
        )


class CompactUNet(nn.Module):
    """A UNet for 2D or 3D segmentation: one conv block per level, max-pool down, transposed conv up.

    Any input size works as long as each spatial size is at least ``2 ** (len(channels) - 1)``;
    odd sizes are matched back at each skip connection. With the default widths a 3D model has
    about 85k parameters (a state dict of ~0.35 MB).

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels (classes, background included); the output is logits.
        channels: feature widths per level, shallowest first; one entry per resolution.
        norm: ``"instance"`` (default; batch-size independent), ``"batch"`` or ``"none"``.
        dropout: dropout probability inside each block.

    Example:
        >>> net = CompactUNet(spatial_dims=3, in_channels=1, out_channels=3)
        >>> net(torch.zeros(1, 1, 20, 21, 16)).shape
        torch.Size([1, 3, 20, 21, 16])
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        out_channels: int = 2,
        channels: Sequence[int] = (8, 16, 32),
        norm: str = "instance",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        conv, up, pool, *_ = _layers(spatial_dims)
        widths = _check_channels(channels, "channels")
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, not {norm!r}")
        self.spatial_dims = spatial_dims
        self.encoders = nn.ModuleList()
        previous = in_channels
        for width in widths:
            self.encoders.append(_ConvBlock(spatial_dims, previous, width, norm, dropout))
            previous = width
        self.pool = pool(2)
        # deepest level first, the order forward uses them (plain iteration keeps it scriptable)
        levels = list(reversed(range(len(widths) - 1)))
        self.ups = nn.ModuleList(up(widths[i + 1], widths[i], 2, stride=2) for i in levels)
        self.decoders = nn.ModuleList(_ConvBlock(spatial_dims, 2 * widths[i], widths[i], norm, dropout) for i in levels)
        self.head = conv(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, encoder in enumerate(self.encoders):
            if i:
                x = self.pool(x)
            x = encoder(x)
            skips.append(x)
        for j, (up, decoder) in enumerate(zip(self.ups, self.decoders)):
            skip = skips[len(skips) - 2 - j]
            x = up(x, output_size=skip.shape[2:])
            x = decoder(torch.cat([skip, x], dim=1))
        return self.head(x)


class CompactCNN(nn.Module):
    """A small classifier for 2D images: conv stages with max-pooling, global average pool, linear.

    Works on any image size (8x8 digits, 28x28, ...): pooling rounds up, and the global average
    removes the spatial size before the linear layer.

    Args:
        in_channels: image channels (1 for grey).
        num_classes: number of classes; the output is ``(B, num_classes)`` logits.
        channels: widths of the conv stages; each stage halves the spatial size.
        norm: ``"batch"`` (default) or ``"none"``.
        dropout: dropout probability before the linear layer.

    Example:
        >>> CompactCNN(num_classes=10)(torch.zeros(4, 1, 8, 8)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        channels: Sequence[int] = (16, 32),
        norm: str = "batch",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        widths = _check_channels(channels, "channels")
        if norm not in ("batch", "none"):
            raise ValueError(f"norm must be 'batch' or 'none', not {norm!r}")
        layers: list[nn.Module] = []
        previous = in_channels
        for width in widths:
            layers += [
                nn.Conv2d(previous, width, 3, padding=1, bias=norm == "none"),
                nn.BatchNorm2d(width) if norm == "batch" else nn.Identity(),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            previous = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(previous, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
