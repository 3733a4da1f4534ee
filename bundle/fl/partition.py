"""Splitting one dataset into the shards of simulated sites: IID or label-skewed, the same for a
given seed on every machine."""

from __future__ import annotations

import random
from typing import Any, Sequence

from bundle.fl.exchange import FederatedLearningError

__all__ = ["MODES", "parse_partition", "partition_indices", "dataset_labels"]

MODES = ("iid", "label")


def parse_partition(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``.

    Raises:
        FederatedLearningError: not of that form.

    Example:
        >>> parse_partition("1/3")
        (1, 3)
    """
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError as err:
        raise FederatedLearningError(
            f"partition '{text}' is not I/N", hint="write e.g. --partition 0/3 (site 0 of 3)"
        ) from err
    if count < 1 or not 0 <= index < count:
        raise FederatedLearningError(f"partition '{text}': need 0 <= I < N", hint="sites are numbered 0 to N-1")
    return index, count


def dataset_labels(dataset: Any) -> list[int]:
    """Each sample's class: the dataset's ``labels`` attribute when it has one, else each item's
    ``"label"`` (dict samples) or second element (``(x, y)`` samples)."""
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        return [int(v) for v in labels]
    out = []
    for i in range(len(dataset)):
        item = dataset[i]
        value = item["label"] if isinstance(item, dict) else item[1]
        out.append(int(value.item() if hasattr(value, "item") else value))
    return out


def partition_indices(
    labels_or_size: Sequence[int] | int, index: int, count: int, *, mode: str = "iid", seed: int = 0
) -> list[int]:
    """The sample indices of shard ``index`` of ``count``.

    ``iid``: a seeded shuffle cut into ``count`` near-equal parts. ``label``: each site holds
    only some classes: with at least ``count`` classes, site ``i`` holds the classes ``k`` (in
    sorted order) with ``k % count == i``, so shards differ in size as classes do; with fewer
    classes, the samples sorted by class are cut into ``count`` contiguous parts. Every sample
    is in exactly one shard.

    Args:
        labels_or_size: the labels (needed for ``label``) or, for ``iid``, the dataset's size.
        index: this shard (0-based).
        count: the number of shards.
        mode: ``"iid"`` or ``"label"``.
        seed: the shuffle's seed.

    Raises:
        FederatedLearningError: an unknown mode, ``label`` without labels, or a shard that would be empty.
    """
    if mode not in MODES:
        raise FederatedLearningError(f"unknown partition mode '{mode}'", hint=f"use one of {', '.join(MODES)}")
    if isinstance(labels_or_size, int):
        if mode == "label":
            raise FederatedLearningError("a label-skewed partition needs the labels, not only the size")
        size, labels = labels_or_size, None
    else:
        labels = list(labels_or_size)
        size = len(labels)
    if size < count:
        raise FederatedLearningError(f"{size} samples cannot be split into {count} non-empty shards")
    order = list(range(size))
    random.Random(seed).shuffle(order)
    if mode == "label":
        assert labels is not None
        classes = sorted(set(labels))
        if len(classes) >= count:
            mine = {c for k, c in enumerate(classes) if k % count == index}
            return [i for i in range(size) if labels[i] in mine]
        order.sort(key=lambda i: labels[i])  # stable: ties keep the seeded order
    start, stop = size * index // count, size * (index + 1) // count
    return sorted(order[start:stop])
