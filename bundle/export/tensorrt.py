"""TensorRT export: needs CUDA and Torch-TensorRT; this module says clearly what is missing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bundle.errors import ExportError, MissingDependencyError

if TYPE_CHECKING:
    from bundle.export.core import ExportJob

__all__ = ["export_tensorrt"]


def export_tensorrt(job: "ExportJob", path: Path) -> Callable[[Any], list[Any]]:
    """Check what a TensorRT export needs.

    Raises:
        MissingDependencyError: CUDA is not available, or ``torch_tensorrt`` is not installed.
        ExportError: both are there, but this version builds no TensorRT engines itself.
    """
    import torch

    if not torch.cuda.is_available():
        err = MissingDependencyError("CUDA", purpose="TensorRT export (TensorRT engines are built on an NVIDIA GPU)")
        err.hint = ("run on a machine with an NVIDIA GPU and CUDA, or export to ONNX here (--format onnx) and build "
                    "the engine there with trtexec --onnx=model.onnx")
        raise err
    try:
        import torch_tensorrt  # noqa: F401
    except ImportError:
        raise MissingDependencyError("torch_tensorrt", extra="tensorrt", purpose="TensorRT export") from None
    raise ExportError("TensorRT export is not built into this version",
                      hint="export to ONNX (--format onnx) and build the engine with trtexec --onnx=model.onnx")
