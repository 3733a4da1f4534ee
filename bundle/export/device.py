"""Where and in which precision an export runs: the device and precision options, their parity
tolerances, the network and inputs moved and cast for the export, and the CUDA requirement."""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Any, Iterator

from bundle.errors import ExportError, MissingDependencyError, did_you_mean

if TYPE_CHECKING:
    from bundle.export.job import ExportJob

__all__ = ["PRECISIONS", "TOLERANCES", "check_device", "check_precision", "exact_fp32", "example_for_export",
           "network_for_export", "require_cuda", "runtime_input", "tolerance"]

PRECISIONS = ("fp32", "fp16")
# The default parity tolerance (absolute and relative) for each precision.
TOLERANCES = {"fp32": 1e-4, "fp16": 1e-2}


def check_precision(precision: Any) -> str:
    """``precision`` as ``fp32`` or ``fp16``.

    Raises:
        ExportError: it is neither (the hint names the close one).

    Example:
        >>> check_precision("FP16")
        'fp16'
    """
    text = str(precision).strip().lower()
    if text not in PRECISIONS:
        raise ExportError(f"unknown precision '{precision}'",
                          hint=did_you_mean(text, PRECISIONS) or "use 'fp32' (default) or 'fp16'")
    return text


def tolerance(precision: str, value: float | None) -> float:
    """``value``, or the default parity tolerance of ``precision`` when it is None."""
    return TOLERANCES[check_precision(precision)] if value is None else float(value)


def check_device(device: Any) -> str:
    """``device`` as ``cpu`` or ``cuda:N`` (an int N and ``cuda`` mean ``cuda:N`` and ``cuda:0``).

    Raises:
        ExportError: it names no CPU or CUDA device.

    Example:
        >>> check_device("cuda"), check_device(1), check_device(None)
        ('cuda:0', 'cuda:1', 'cpu')
    """
    if device is None:
        return "cpu"
    if isinstance(device, int) and not isinstance(device, bool) and device >= 0:
        return f"cuda:{device}"
    text = str(device).strip().lower()
    if text == "cpu":
        return "cpu"
    if text == "cuda":
        return "cuda:0"
    kind, _, index = text.partition(":")
    if kind == "cuda" and index.isdigit():
        return f"cuda:{int(index)}"
    raise ExportError(f"unknown device '{device}'", hint="use 'cpu', 'cuda' or 'cuda:N' (N: the GPU's index)")


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
    """The network on ``job.device`` in ``job.precision`` (a half-precision copy for fp16; the
    fp32 network stays the parity reference)."""
    network = job.network.to(job.device)
    if job.precision == "fp16":
        network = copy.deepcopy(network).half()
    return network.eval()


def runtime_input(x: Any, job: "ExportJob") -> Any:
    """An input tensor as the export takes it: on ``job.device``, half precision for fp16 (floats only)."""
    x = x.to(job.device)
    return x.half() if job.precision == "fp16" and x.dtype.is_floating_point else x


def example_for_export(job: "ExportJob") -> Any:
    """The example input on ``job.device`` in ``job.precision``."""
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
