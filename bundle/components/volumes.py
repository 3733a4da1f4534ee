"""Images and label maps as files: reading and writing ``.npy``, ``.pt`` and NIfTI (``.nii``, ``.nii.gz``,
through nibabel when it is installed), and ``VolumeDataset``, the dataset of such files that MONAI
Label's datastore hands to training (``[{"image": path, "label": path}, ...]``).

An image is read as ``float32`` with its spatial axes as stored; a label as ``int64``. A NIfTI file's
affine is kept, so a label written for an image lies where the image does. Every file is written
whole (a temporary file, then a rename).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from bundle.atomic import write_atomic
from bundle.errors import LabelError, Location, MissingDependencyError

__all__ = ["SUFFIXES", "VolumeDataset", "read_volume", "volume_suffix", "write_volume"]

#: The file endings read and written, longest first (``.nii.gz`` before ``.gz``).
SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".npy", ".pt")


def volume_suffix(path: str | os.PathLike) -> str:
    """The suffix of ``path`` among ``SUFFIXES`` ("" when it has none of them)."""
    name = Path(path).name.lower()
    return next((s for s in SUFFIXES if name.endswith(s)), "")


def volume_stem(path: str | os.PathLike) -> str:
    """The name of ``path`` without its volume suffix (``case_001.nii.gz`` -> ``case_001``)."""
    name = Path(path).name
    suffix = volume_suffix(name)
    return name[: len(name) - len(suffix)] if suffix else Path(name).stem


def _nibabel() -> Any:
    try:
        import nibabel
    except ImportError:
        raise MissingDependencyError("nibabel", purpose="reading and writing NIfTI images") from None
    return nibabel


def read_volume(path: str | os.PathLike, *, what: str = "image") -> tuple[np.ndarray, np.ndarray | None]:
    """Read an image or label file: its array and, for NIfTI, its affine (else None).

    Raises:
        LabelError: the file is missing, has an unknown suffix, or cannot be read (truncated, not an
            array, an object array that would need unpickling).
    """
    path = Path(path)
    where = Location(str(path))
    if not path.is_file():
        raise LabelError(f"{what} '{path}' does not exist", location=where)
    suffix = volume_suffix(path)
    try:
        if suffix == ".npy":
            return np.asarray(np.load(path, allow_pickle=False)), None
        if suffix == ".pt":
            value = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(value, torch.Tensor):
                raise LabelError(f"{what} '{path}' holds a {type(value).__name__}, not a tensor", location=where)
            return value.numpy(), None
        if suffix in (".nii", ".nii.gz"):
            nib = _nibabel()
            image = nib.load(str(path))
            return np.asarray(image.dataobj), np.asarray(image.affine)
    except (LabelError, MissingDependencyError):
        raise
    except Exception as err:  # noqa: BLE001 - numpy, torch and nibabel each raise their own kinds
        raise LabelError(f"cannot read {what} '{path}': {type(err).__name__}: {err}", location=where,
                         hint="the file may be truncated or not what its name says; write it again") from err
    raise LabelError(f"{what} '{path}' has an unknown file type", location=where,
                     hint=f"use one of {', '.join(SUFFIXES)}")


def write_volume(path: str | os.PathLike, array: np.ndarray | torch.Tensor, *, affine: np.ndarray | None = None) -> Path:
    """Write ``array`` to ``path`` (the suffix chooses the format), atomically; returns the path.

    Raises:
        LabelError: the suffix is not one of ``SUFFIXES``.
    """
    path = Path(path)
    data = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    suffix = volume_suffix(path)
    buffer = io.BytesIO()
    if suffix == ".npy":
        np.save(buffer, data, allow_pickle=False)
    elif suffix == ".pt":
        torch.save(torch.from_numpy(np.ascontiguousarray(data)), buffer)
    elif suffix in (".nii", ".nii.gz"):
        nib = _nibabel()
        image = nib.Nifti1Image(data, affine if affine is not None else np.eye(4))
        raw = image.to_bytes()
        if suffix == ".nii.gz":
            import gzip

            raw = gzip.compress(raw, mtime=0)
        buffer.write(raw)
    else:
        raise LabelError(f"cannot write '{path}': unknown file type", hint=f"use one of {', '.join(SUFFIXES)}")
    write_atomic(path, buffer.getvalue())
    return path


def as_channels_first(array: np.ndarray, *, spatial_dims: int, channels: int, what: str, path: str) -> np.ndarray:
    """An array of ``spatial_dims`` spatial axes, with or without a channel axis, as ``(C, *spatial)``.

    A channel axis may come first (``.npy``/``.pt`` habit) or last (NIfTI's habit for multi-channel).

    Raises:
        LabelError: the array has the wrong number of axes or channels.
    """
    where = Location(path)
    if array.ndim == spatial_dims:
        array = array[None]
    elif array.ndim == spatial_dims + 1:
        if array.shape[0] != channels and array.shape[-1] == channels:
            array = np.moveaxis(array, -1, 0)
    else:
        raise LabelError(f"{what} '{path}' has {array.ndim} axes {tuple(array.shape)}; the bundle takes "
                         f"{spatial_dims}D images ({spatial_dims} spatial axes, optionally a channel axis)",
                         location=where, hint=f"give a {spatial_dims}D image")
    if array.shape[0] != channels:
        raise LabelError(f"{what} '{path}' has {array.shape[0]} channels {tuple(array.shape)}; the bundle takes "
                         f"{channels}", location=where, hint="check network_data_format::inputs in the metadata")
    return array


class VolumeDataset(Dataset):
    """Images (and labels) from files: ``data`` is MONAI Label's datalist, ``[{"image": path, "label": path}]``.

    Each sample is ``{"image": float32 (C, *spatial), "label": int64 (1, *spatial), "name": str}`` (no
    ``"label"`` when the entry has none). Files are read when a sample is asked for.

    Args:
        data: the entries; each has ``image`` and optionally ``label`` (paths).
        spatial_dims: spatial axes of an image (2 or 3).
        channels: image channels.
        transform: called on each sample dict (``dataset::transform``).

    Raises:
        LabelError: (when a sample is read) a file cannot be read, has the wrong shape, or a label's
            spatial shape differs from its image's.

    Example:
        ``{"_target_": "VolumeDataset", "data": [{"image": "images/a.npy", "label": "labels/a.npy"}]}``
    """

    def __init__(self, data: Sequence[Mapping[str, Any]], spatial_dims: int = 3, channels: int = 1,
                 transform: Callable[[dict], Any] | None = None) -> None:
        self.data = [dict(entry) for entry in data]
        for n, entry in enumerate(self.data):
            if "image" not in entry:
                raise LabelError(f"VolumeDataset entry {n} has no 'image' (keys: {sorted(entry)})")
        self.spatial_dims = int(spatial_dims)
        self.channels = int(channels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> Any:
        entry = self.data[index]
        image_path = str(entry["image"])
        image, _ = read_volume(image_path)
        image = as_channels_first(image, spatial_dims=self.spatial_dims, channels=self.channels, what="image",
                                  path=image_path)
        item: dict[str, Any] = {"image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
                                "name": volume_stem(image_path)}
        if entry.get("label") is not None:
            label_path = str(entry["label"])
            label, _ = read_volume(label_path, what="label")
            label = as_channels_first(label, spatial_dims=self.spatial_dims, channels=1, what="label",
                                      path=label_path)
            if label.shape[1:] != image.shape[1:]:
                raise LabelError(f"label '{label_path}' is {tuple(label.shape[1:])}, its image '{image_path}' is "
                                 f"{tuple(image.shape[1:])}", location=Location(label_path),
                                 hint="a label map has its image's spatial shape")
            item["label"] = torch.from_numpy(np.ascontiguousarray(label).astype(np.int64))
        return self.transform(item) if self.transform is not None else item
