"""Where and in which precision an export runs: the network and inputs moved and cast for the export,
exact float32 for the reference, and the CUDA requirement (the options' values: ``bundle.export.options``)."""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Any, Iterator

from bundle.errors import MissingDependencyError

if TYPE_CHECKING:
    from bundle.export.job import ExportJob

__all__ = ["exact_fp32", "example_for_export", "network_for_export", "require_cuda", "runtime_input"]

def require_cuda(purpose: str, hint: str = "") -> None:
    """Raise unless PyTorch sees a CUDA GPU.

    Raises:
        MissingDependencyError: ``torch.cuda.is_available()`` is False (package ``CUDA``).
    """
    import torch

    if not torch.cuda.is_available():
        err = MissingDependencyError("CUDA", purpose=purpose)
        err.hint = hint or ("run on a machine with an NVIDIA GPU and a CUDA build of PyTorch, or export on the CPU "
                            "(--device cpu)")
        raise err


def network_for_export(job: "ExportJob") -> Any:
    """The network on ``job.options.device`` in ``job.options.precision`` (a half-precision copy for fp16; the
    fp32 network stays the parity reference)."""
    network = job.network.to(job.device)
    if job.options.precision == "fp16":
        network = copy.deepcopy(network).half()
    return network.eval()


def runtime_input(x: Any, job: "ExportJob") -> Any:
    """An input tensor as the export takes it: on ``job.options.device``, half precision for fp16 (floats only)."""
    x = x.to(job.device)
    return x.half() if job.options.precision == "fp16" and x.dtype.is_floating_point else x


def example_for_export(job: "ExportJob") -> Any:
    """The example input on ``job.options.device`` in ``job.options.precision``."""
    return runtime_input(job.example, job)


@contextlib.contextmanager
def exact_fp32(device: str) -> Iterator[None]:
    """On a CUDA device, run float32 convolutions and matmuls in full float32 (no TF32) while inside.

    The parity reference must be eager PyTorch's exact float32 result: TF32 (cuDNN's default for
    convolutions) alone differs from it by about 1e-3, ten times the fp32 tolerance.
    """
    if not device.startswith("cuda"):
        yield
        return
    import warnings

    import torch

    with warnings.catch_warnings():  # newer PyTorch prefers fp32_precision; allow_tf32 still works
        warnings.simplefilter("ignore")
        saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
