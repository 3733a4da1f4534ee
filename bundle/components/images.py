"""Image classification data shipped in one file: a CSV table or a ``.pt`` tensor file.

Formats (chosen by the file suffix):

* ``.csv``: a header row, then one image per row. A ``label`` column holds the class (without
  one the images are unlabelled, for inference); optional ``split`` and ``name`` columns; every
  other column is a pixel value, row-major.
* ``.pt``: a dict saved with ``torch.save`` and read with ``weights_only=True`` (no code is
  unpickled): ``{"images": (N, H, W) or (N, C, H, W), "labels": (N,) (optional), "splits": [str] * N
  (optional), "names": [str] * N (optional)}``, or ``{split: {"images": ..., "labels": ...}}``.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from bundle.errors import FormatError

_RESERVED = ("label", "split", "name")
ALL_SPLITS = "*"  # split="*": every row


def _read_csv(path: Path) -> dict[str, Any]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise FormatError(f"'{path}' has no header row", hint="start the file with e.g. label,p0,p1,...")
        columns = {name: i for i, name in enumerate(header)}
        pixels = [i for i, name in enumerate(header) if name not in _RESERVED]
        rows, labels, splits, names = [], [], [], []
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise FormatError(f"'{path}' line {number}: {len(row)} values, but the header names {len(header)}")
            try:
                rows.append([float(row[i]) for i in pixels])
                if "label" in columns:
                    labels.append(int(row[columns["label"]]))
            except ValueError as err:
                raise FormatError(f"'{path}' line {number}: {err}") from None
            if "split" in columns:
                splits.append(row[columns["split"]].strip())
            if "name" in columns:
                names.append(row[columns["name"]].strip())
    return {
        "images": torch.tensor(rows, dtype=torch.float32).reshape(len(rows), len(pixels)),
        "labels": torch.tensor(labels, dtype=torch.long) if "label" in columns else None,
        "splits": splits or None,
        "names": names or None,
    }


def _read_pt(path: Path, split: str | None) -> dict[str, Any]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # weights_only refuses anything but tensors and plain containers
        raise FormatError(f"cannot read '{path}': {err}", hint="save a dict of tensors and lists of strings") from err
    if not isinstance(data, dict):
        raise FormatError(f"'{path}' holds a {type(data).__name__}, not a dict with 'images' and 'labels'")
    if "images" not in data and split is not None and isinstance(data.get(split), dict):
        part = data[split]
        count = len(part.get("images", ()))
        data = {**part, "splits": [split] * count}
    if "images" not in data:
        raise FormatError(f"'{path}' has no 'images' (keys: {sorted(map(str, data))})")
    images = torch.as_tensor(data["images"])
    labels = data.get("labels")
    return {
        "images": images.float() if images.is_floating_point() else images.to(torch.float32),
        "labels": torch.as_tensor(labels).long().reshape(-1) if labels is not None else None,
        "splits": data.get("splits"),
        "names": data.get("names"),
    }


class ImageTableDataset(Dataset):
    """Labelled 2D images from a ``.csv`` or ``.pt`` file (see the module docstring for the layout).

    Each sample is ``{"image": float32 (C, H, W), "label": int64 scalar, "name": str}`` (no
    ``"label"`` when the file has no labels: evaluators then predict without scoring). Pixels are
    mapped from ``value_range`` to [0, 1], then standardised: ``(x - mean) / std``.

    Args:
        path: the file.
        split: keep only the rows of this split (``None`` or ``"*"`` keeps all: ``--split '*'`` on the
            command line, where MONAI's meaning makes ``null`` the text ``'null'``); the file must name splits.
        image_shape: ``(H, W)`` or ``(C, H, W)`` of a flat CSV row; ``None`` means a square grey
            image, or the shape of the ``.pt`` images.
        value_range: the ``(low, high)`` pixel range mapped to [0, 1] (e.g. ``[0, 16]`` for the
            8x8 digits, ``[0, 255]`` for bytes); ``None`` keeps the values.
        mean: subtracted after the range mapping.
        std: divided by after subtracting ``mean``.
        transform: called on each sample dict (``dataset::transform``).

    Raises:
        FormatError: the file is missing, malformed, has no such split, or its rows do not make
            images of ``image_shape``.

    Example:
        >>> data = ImageTableDataset("data/digits.csv", split="train", value_range=[0, 16])
        >>> data[0]["image"].shape
        torch.Size([1, 8, 8])
    """

    def __init__(
        self,
        path: str | os.PathLike,
        split: str | None = None,
        image_shape: Sequence[int] | None = None,
        value_range: Sequence[float] | None = None,
        mean: float = 0.0,
        std: float = 1.0,
        transform: Callable[[dict], Any] | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FormatError(f"image table '{self.path}' does not exist")
        suffix = self.path.suffix.lower()
        if suffix == ".csv":
            data = _read_csv(self.path)
        elif suffix in (".pt", ".pth"):
            data = _read_pt(self.path, None if split == ALL_SPLITS else split)
        else:
            raise FormatError(f"'{self.path}': unknown image table format '{suffix}'", hint="use a .csv or .pt file")
        images, labels = data["images"], data["labels"]
        if labels is not None and len(images) != len(labels):
            raise FormatError(f"'{self.path}' has {len(images)} images but {len(labels)} labels")
        for key in ("splits", "names"):
            if data[key] is not None and len(data[key]) != len(images):
                raise FormatError(f"'{self.path}' has {len(images)} images but {len(data[key])} {key}")
        keep = list(range(len(images)))
        split = None if split == ALL_SPLITS else split
        if split is not None:
            if data["splits"] is None:
                raise FormatError(f"'{self.path}' names no splits, so split '{split}' cannot be chosen")
            keep = [i for i, s in enumerate(data["splits"]) if s == split]
            if not keep:
                found = sorted(set(data["splits"]))
                raise FormatError(f"'{self.path}' has no rows of split '{split}' (splits: {found})")
        if data["names"] is not None:
            names = [str(data["names"][i]) for i in keep]
        else:
            names = [f"{split or 'image'}_{n:05d}" for n in range(len(keep))]
        self.images = self._shape(images[keep], image_shape)
        self.labels = labels[keep] if labels is not None else None
        self.names = names
        if value_range is not None:
            low, high = (float(v) for v in value_range)
            if high <= low:
                raise ValueError(f"value_range must be (low, high) with low < high, not {value_range!r}")
            self.images = (self.images - low) / (high - low)
        if std <= 0:
            raise ValueError(f"std must be > 0, not {std!r}")
        self.images = (self.images - float(mean)) / float(std)
        self.transform = transform

    def _shape(self, images: torch.Tensor, image_shape: Sequence[int] | None) -> torch.Tensor:
        count = len(images)
        if image_shape is not None:
            shape = tuple(int(s) for s in image_shape)
            shape = (1, *shape) if len(shape) == 2 else shape
        elif images.dim() == 2:
            side = math.isqrt(images.shape[1])
            if side * side != images.shape[1]:
                raise FormatError(
                    f"'{self.path}': {images.shape[1]} pixels per row is not a square image",
                    hint="give image_shape, e.g. [8, 8] or [3, 32, 32]",
                )
            shape = (1, side, side)
        else:
            shape = tuple(images.shape[1:]) if images.dim() == 4 else (1, *images.shape[1:])
        if len(shape) != 3 or (count and math.prod(shape) != images[0].numel()):
            raise FormatError(f"'{self.path}': images of {tuple(images.shape[1:])} cannot be shaped {shape}")
        return images.reshape(count, *shape)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Any:
        item = {"image": self.images[index], "name": self.names[index]}
        if self.labels is not None:
            item["label"] = self.labels[index]
        return self.transform(item) if self.transform is not None else item

    @property
    def num_classes(self) -> int:
        """One more than the largest label (0 when empty or unlabelled)."""
        return int(self.labels.max()) + 1 if self.labels is not None and len(self.labels) else 0
