"""Seeding, and the distributed helpers in a single process (the 2-process run is in test_ddp)."""

from __future__ import annotations

import random

import numpy
import pytest
import torch

from bundle.components.distributed import (
    all_reduce_sum,
    distributed_device,
    distributed_rank,
    distributed_world_size,
    init_distributed,
    is_rank0,
    shutdown_distributed,
)
from bundle.components.seeding import seed_everything


def _draws():
    return random.random(), torch.rand(3).tolist(), numpy.random.rand(2).tolist()


def test_same_seed_same_draws():
    assert seed_everything(5) == 5
    first = _draws()
    seed_everything(5)
    assert _draws() == first
    seed_everything(6)
    assert _draws() != first


def test_deterministic_algorithms(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    was = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(was[0], warn_only=was[1])
        torch.backends.cudnn.deterministic = False


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "1", True])
def test_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(seed)


@pytest.mark.parametrize("world_size", [None, "", "1"])
def test_single_process_is_a_no_op(monkeypatch, world_size):
    if world_size is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", world_size)
    assert init_distributed() is False
    assert not torch.distributed.is_initialized()
    shutdown_distributed()  # nothing to shut down: no error
    assert (distributed_rank(), distributed_world_size(), is_rank0()) == (0, 1, True)


def test_bad_environment(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE"):
        init_distributed()


def test_single_process_helpers():
    tensor = torch.tensor([1.0, 2.0])
    total = all_reduce_sum(tensor)
    assert torch.equal(total, tensor) and total is not tensor
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert distributed_device().type == expected
