"""Data loaders that shard their dataset over the ranks of a process group, when one is up."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from bundle.components.distributed import distributed_rank, distributed_world_size


class _ShardSampler(Sampler[int]):
    """Rank ``r`` of ``n`` takes indices ``r, r + n, r + 2n, ...``: every sample exactly once.

    Unlike ``DistributedSampler`` nothing is repeated to even out the shards, so metrics summed
    over the ranks count each sample once; ranks may get one batch more or less (fine for
    evaluation, which has no collective step per batch).
    """

    def __init__(self, dataset: Dataset, rank: int, world_size: int) -> None:
        self.length = len(dataset)  # type: ignore[arg-type]
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.world_size))

    def __len__(self) -> int:
        return max(0, math.ceil((self.length - self.rank) / self.world_size))


def build_data_loader(
    dataset: Dataset,
    batch_size: int = 1,
    shuffle: bool = False,
    num_workers: int = 0,
    drop_last: bool = False,
    seed: int = 0,
    pin_memory: bool = False,
    collate_fn: Callable[[list], Any] | None = None,
) -> DataLoader:
    """A ``DataLoader`` over ``dataset``, sharded across ranks when a process group is up.

    In one process, shuffling draws from a generator seeded with ``seed`` (same order every run).
    Under a process group, a shuffled (training) loader uses ``DistributedSampler``, which pads
    the shards to equal length so that every rank runs the same number of steps; the trainer
    calls its ``set_epoch`` so each epoch has a new order. An unshuffled (evaluation) loader
    gives each rank a disjoint shard with every sample exactly once.

    Args:
        dataset: a map-style dataset (with ``__len__``).
        batch_size: samples per batch on each rank.
        shuffle: shuffle every epoch (training).
        num_workers: worker processes for loading (0 loads in the main process).
        drop_last: drop the last incomplete batch.
        seed: seed of the shuffle order.
        pin_memory: pin batches in page-locked memory (faster copies to a GPU).
        collate_fn: how to merge samples into a batch (default: torch's ``default_collate``).

    Returns:
        The loader; its ``sampler`` has ``set_epoch`` when it is distributed.

    Example:
        ``"train": {"dataloader": {"_target_": "build_data_loader", "dataset": "@train::dataset",
        "batch_size": 2, "shuffle": true}}``
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")
    world_size = distributed_world_size()
    options: dict[str, Any] = {
        "batch_size": batch_size,
        "num_workers": num_workers,
        "drop_last": drop_last,
        "pin_memory": pin_memory,
        "collate_fn": collate_fn,
    }
    if world_size > 1:
        rank = distributed_rank()
        if shuffle:
            sampler: Sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        else:
            sampler = _ShardSampler(dataset, rank, world_size)
        return DataLoader(dataset, sampler=sampler, **options)
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, shuffle=shuffle, generator=generator, **options)
