"""Reproducible runs: one call that seeds every random generator a training run draws from."""

from __future__ import annotations

import logging
import os
import random

import torch

logger = logging.getLogger(__name__)

# cuBLAS needs a fixed workspace to be deterministic (see torch.use_deterministic_algorithms).
_CUBLAS_WORKSPACE = ":4096:8"


def seed_everything(seed: int = 0, deterministic: bool = False, warn_only: bool = True) -> int:
    """Seed Python's ``random``, torch (CPU and every GPU) and NumPy when it is installed.

    Args:
        seed: the seed, a non-negative integer below 2**32 (NumPy's limit).
        deterministic: also make torch choose deterministic algorithms (slower on GPU) and turn
            off cuDNN's benchmark mode, so that repeated runs give the same numbers bit for bit.
        warn_only: with ``deterministic``, an operation that has no deterministic implementation
            warns instead of raising.

    Returns:
        The seed, so that a config can reference the step's value.

    Raises:
        ValueError: ``seed`` is negative, too large or not an integer.

    Example:
        ``"initialize": [{"_target_": "seed_everything", "seed": 42}]``
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), not {seed!r}")
    random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device as well
    try:
        import numpy
    except ImportError:
        pass
    else:
        numpy.random.seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", _CUBLAS_WORKSPACE)
        torch.use_deterministic_algorithms(True, warn_only=warn_only)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    logger.debug("seeded random, torch and numpy with %d (deterministic=%s)", seed, deterministic)
    return seed
