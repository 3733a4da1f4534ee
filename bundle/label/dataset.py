"""A labeling dataset folder in the layout MONAI Label's local datastore uses: ``images/`` and ``labels/``,
a label named as its image (``images/case_01.nii.gz`` <-> ``labels/case_01.nii.gz``). Images without a
label are the unlabeled ones (for active learning); a label without an image is an error."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bundle.errors import LabelError, Location

__all__ = ["LabelDataset", "read_dataset"]


@dataclass
class LabelDataset:
    """What a dataset folder holds.

    Attributes:
        root: the folder.
        labeled: ``[{"image": path, "label": path}]`` (MONAI Label's datalist), sorted by name.
        unlabeled: image paths that have no label yet, sorted by name.
    """

    root: Path
    labeled: list[dict[str, str]] = field(default_factory=list)
    unlabeled: list[str] = field(default_factory=list)


def _volumes(folder: Path) -> dict[str, Path]:
    from bundle.components.volumes import volume_stem, volume_suffix

    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and volume_suffix(path):
            found.setdefault(volume_stem(path), path)
    return found


def read_dataset(folder: str | os.PathLike, *, check_shapes: bool = False) -> LabelDataset:
    """Pair ``images/`` with ``labels/`` by name (the suffix may differ: ``a.nii.gz`` with ``a.npy``).

    Args:
        folder: the dataset folder.
        check_shapes: read every pair and check the label has its image's spatial shape.

    Raises:
        LabelError: the folder or its ``images/`` is missing, there are labels without an image (all
            listed), or (``check_shapes``) a label does not fit its image.
    """
    root = Path(folder).expanduser()
    images_dir = root / "images"
    if not images_dir.is_dir():
        raise LabelError(f"dataset folder '{root}' has no images/ folder", location=Location(str(root)),
                         hint="put the images in DIR/images/ and their labels, named alike, in DIR/labels/")
    images, labels = _volumes(images_dir), _volumes(root / "labels")
    orphans = sorted(set(labels) - set(images))
    if orphans:
        listing = ", ".join(labels[name].name for name in orphans)
        raise LabelError(f"{len(orphans)} label{'s' * (len(orphans) != 1)} in '{root / 'labels'}' match no image: "
                         f"{listing}", location=Location(str(root / "labels")),
                         hint="name each label as its image (images/NAME.*, labels/NAME.*), or remove it")
    dataset = LabelDataset(root)
    for name, image in images.items():
        if name in labels:
            dataset.labeled.append({"image": str(image), "label": str(labels[name])})
        else:
            dataset.unlabeled.append(str(image))
    if check_shapes:
        check_pairs(dataset.labeled)
    return dataset


def check_pairs(pairs: list[dict[str, str]]) -> None:
    """Check each label has its image's spatial shape (the image may have a channel axis more).

    Raises:
        LabelError: every pair that does not fit, listed.
    """
    from bundle.components.volumes import read_volume

    problems = []
    for pair in pairs:
        image, _ = read_volume(pair["image"])
        label, _ = read_volume(pair["label"], what="label")
        spatial = label.shape[1:] if label.ndim == image.ndim and label.shape[0] == 1 else label.shape
        if tuple(spatial) not in (tuple(image.shape), tuple(image.shape[1:]), tuple(image.shape[:-1])):
            problems.append(f"{Path(pair['label']).name} is {tuple(label.shape)}, its image is {tuple(image.shape)}")
    if problems:
        raise LabelError(f"{len(problems)} label{'s' * (len(problems) != 1)} do not fit their image: "
                         + "; ".join(problems), hint="a label map has its image's spatial shape")
