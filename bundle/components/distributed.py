"""Multi-process runs: starting and ending the process group from torchrun's environment, rank helpers.

``init_distributed`` reads what ``torchrun`` exports (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``) and does nothing in a single-process run, so one config serves
both. The other components ask ``torch.distributed`` themselves whether a group is up: a trainer
wraps its network in ``DistributedDataParallel``, a data loader shards its dataset, metrics sum
their counts over all ranks.
"""

from __future__ import annotations

import datetime
import gc
import logging
import os
from typing import Any

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


def _group_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _env_world_size() -> int:
    value = os.environ.get("WORLD_SIZE", "").strip()
    if not value:
        return 1
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"WORLD_SIZE must be an integer, not {value!r}") from None


def init_distributed(backend: str | None = None, timeout_s: float = 1800.0) -> bool:
    """Join the process group ``torchrun`` describes in the environment; no-op for one process.

    With CUDA, the backend is NCCL and this process's GPU is ``cuda:LOCAL_RANK`` (made current);
    without, it is Gloo. Calling it again once the group is up changes nothing.

    Args:
        backend: ``"nccl"`` or ``"gloo"``; ``None`` picks NCCL when CUDA is available, else Gloo.
        timeout_s: how long collective operations wait for the other ranks.

    Returns:
        True when this process is part of a multi-process group (already or now), else False.

    Raises:
        ValueError: ``WORLD_SIZE`` or ``LOCAL_RANK`` is not an integer.

    Example:
        In a config run with ``torchrun --nproc_per_node 2``::

            "initialize": [{"_target_": "init_distributed"}],
            "finalize": [{"_target_": "shutdown_distributed"}]
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    if _env_world_size() <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this build of torch has no torch.distributed")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(_local_rank())
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    logger.info("joined process group: rank %d of %d (%s)", dist.get_rank(), dist.get_world_size(), backend)
    return dist.get_world_size() > 1


def shutdown_distributed() -> None:
    """Leave the process group if one is up (call it from ``finalize``); otherwise do nothing."""
    if dist.is_available() and dist.is_initialized():
        # Free unreachable DistributedDataParallel wrappers first: their reducers hold the group,
        # and the group must not be destroyed later from a reducer's destructor (a Gloo deadlock).
        gc.collect()
        dist.destroy_process_group()


def _local_rank() -> int:
    value = os.environ.get("LOCAL_RANK", "0").strip() or "0"
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"LOCAL_RANK must be an integer, not {value!r}") from None


def distributed_rank() -> int:
    """This process's rank in the group, 0 when no group is up."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def distributed_world_size() -> int:
    """The number of processes in the group, 1 when no group is up."""
    return _group_size()


def is_rank0() -> bool:
    """Whether this process is rank 0 (always true without a process group): it writes the files."""
    return distributed_rank() == 0


def distributed_device() -> torch.device:
    """The device this process should use: ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU.

    Example:
        ``"device": {"_target_": "distributed_device"}`` serves single- and multi-GPU runs alike.
    """
    if torch.cuda.is_available():
        return torch.device("cuda", _local_rank() if _env_world_size() > 1 else torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``tensor`` over all ranks (a copy; the input is unchanged).

    Without a multi-process group this is just a copy. NCCL reduces on the GPU only, so the
    tensor travels to this rank's GPU and back when the backend needs it.
    """
    result = tensor.detach().clone()
    if _group_size() <= 1:
        return result
    device = result.device
    if dist.get_backend() == "nccl" and device.type != "cuda":
        result = result.to(torch.device("cuda", torch.cuda.current_device()))
    dist.all_reduce(result, op=dist.ReduceOp.SUM)
    return result.to(device)


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` without a process group)."""
    if _group_size() <= 1:
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def unwrap_parallel(network: torch.nn.Module) -> torch.nn.Module:
    """The module inside a ``DistributedDataParallel``/``DataParallel`` wrapper, else ``network`` itself
    (the module whose state dict a checkpoint keeps)."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    return network.module if isinstance(network, (DistributedDataParallel, DataParallel)) else network
