"""Synthetic segmentation data: ellipsoids in noise, generated from a seed, with exact labels.

Nothing is downloaded or stored: each sample is drawn from its own random generator, seeded
from ``(seed, split, index)``, so any sample can be regenerated alone, in any process, and the
train/val/test splits never share a sample.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")


def _item_seed(seed: int, split: str, index: int) -> int:
    digest = hashlib.blake2b(f"{seed}/{split}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def _size(size: int | Sequence[int]) -> tuple[int, ...]:
    values = (size, size, size) if isinstance(size, int) else tuple(size)
    if len(values) not in (2, 3) or not all(isinstance(s, int) and s >= 4 for s in values):
        raise ValueError(f"size must be an integer or 2-3 integers, each >= 4, not {size!r}")
    return values


class SyntheticEllipsoids(Dataset):
    """Volumes (or images) of 1..``max_objects`` ellipsoids of random class, in Gaussian noise.

    Each sample is ``{"image": float32 (1, *size), "label": int64 (1, *size), "name": str}``.
    The label is exact: a voxel belongs to an ellipsoid when its centre satisfies the
    ellipsoid's equation (later objects paint over earlier ones). The image is the label's class
    intensity (class ``k`` is ``k / (num_classes - 1)``, background 0) plus noise of std ``noise``.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        num_samples: samples in this split.
        size: spatial size, one integer (a cube) or 2 (images) or 3 (volumes) integers.
        num_classes: classes including background: 2 (one foreground class) or more.
        max_objects: most ellipsoids per sample (at least one).
        radius: the smallest and largest semi-axis as fractions of the smallest spatial size.
        noise: standard deviation of the Gaussian noise.
        seed: the dataset seed; each sample's generator is seeded from (seed, split, index).
        transform: called on each sample dict, MONAI style (``dataset::transform``).

    Example:
        >>> data = SyntheticEllipsoids("val", num_samples=4, size=16)
        >>> data[0]["image"].shape, data[0]["name"]
        (torch.Size([1, 16, 16, 16]), 'val_0000')
    """

    def __init__(
        self,
        split: str = "train",
        num_samples: int = 16,
        size: int | Sequence[int] = 32,
        num_classes: int = 2,
        max_objects: int = 3,
        radius: Sequence[float] = (0.12, 0.3),
        noise: float = 0.2,
        seed: int = 0,
        transform: Callable[[dict], Any] | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        if not isinstance(num_samples, int) or num_samples < 0:
            raise ValueError(f"num_samples must be a non-negative integer, not {num_samples!r}")
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2 (background included), not {num_classes!r}")
        if not isinstance(max_objects, int) or max_objects < 1:
            raise ValueError(f"max_objects must be a positive integer, not {max_objects!r}")
        low, high = (float(r) for r in radius)
        if not 0 < low <= high <= 0.5:
            raise ValueError(f"radius must be (smallest, largest) with 0 < smallest <= largest <= 0.5, not {radius!r}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, not {noise!r}")
        self.split = split
        self.num_samples = num_samples
        self.size = _size(size)
        self.num_classes = num_classes
        self.max_objects = max_objects
        self.radius = (low, high)
        self.noise = float(noise)
        self.seed = int(seed)
        self.transform = transform

    def __len__(self) -> int:
        return self.num_samples

    def objects(self, index: int) -> list[dict[str, Any]]:
        """The ellipsoids of sample ``index``: ``{"center", "radii", "label"}``, in painting order."""
        return self._draw(index)[0]

    def __getitem__(self, index: int) -> Any:
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"sample {index} of a split with {self.num_samples} samples")
        index %= self.num_samples
        objects, generator = self._draw(index)
        label = self._paint(objects)
        image = label.float() / (self.num_classes - 1)
        if self.noise:
            image += self.noise * torch.randn(self.size, generator=generator)
        item = {"image": image.unsqueeze(0), "label": label.unsqueeze(0), "name": f"{self.split}_{index:04d}"}
        return self.transform(item) if self.transform is not None else item

    def _draw(self, index: int) -> tuple[list[dict[str, Any]], torch.Generator]:
        generator = torch.Generator().manual_seed(_item_seed(self.seed, self.split, index))

        def uniform(low: float, high: float) -> float:
            return low + (high - low) * float(torch.rand((), generator=generator))

        smallest = min(self.size)
        count = int(torch.randint(1, self.max_objects + 1, (), generator=generator))
        objects = []
        for _ in range(count):
            radii = [uniform(*self.radius) * smallest for _ in self.size]
            center = [uniform(r, s - 1 - r) for r, s in zip(radii, self.size)]
            label = int(torch.randint(1, self.num_classes, (), generator=generator))
            objects.append({"center": center, "radii": radii, "label": label})
        return objects, generator

    def _paint(self, objects: list[dict[str, Any]]) -> torch.Tensor:
        grids = torch.meshgrid(*(torch.arange(s, dtype=torch.float64) for s in self.size), indexing="ij")
        label = torch.zeros(self.size, dtype=torch.long)
        for obj in objects:
            inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, obj["center"], obj["radii"])) <= 1.0
            label[inside] = obj["label"]
        return label
