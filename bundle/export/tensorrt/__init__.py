"""TensorRT export on a CUDA GPU, by one of two converters: Torch-TensorRT (``torch_tensorrt``: a
TorchScript file with the engines inside) or TensorRT's ONNX parser (``onnx``: a serialized engine,
the bundle metadata in ``<output>.json``); without CUDA or the converter's package, a clear
``MissingDependencyError``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bundle.errors import ExportError, MissingDependencyError
from bundle.export.device import require_cuda
from bundle.export.options import check_converter
from bundle.export.tensorrt.onnx_trt import export_onnx_tensorrt
from bundle.export.tensorrt.profile import shape_range
from bundle.export.tensorrt.torch_trt import export_torch_tensorrt

if TYPE_CHECKING:
    from bundle.export.job import ExportJob

__all__ = ["CONVERTERS", "check_requirements", "export_tensorrt"]

# converter -> (the package it needs, what for)
CONVERTERS: dict[str, tuple[str, str]] = {
    "torch_tensorrt": ("torch_tensorrt", "TensorRT export through Torch-TensorRT (--converter torch_tensorrt)"),
    "onnx": ("tensorrt", "TensorRT export through TensorRT's ONNX parser (--converter onnx)"),
}


def check_requirements(converter: str, device: str = "cuda:0") -> None:
    """Raise unless a TensorRT export through ``converter`` can run here: CUDA, then its package.

    Raises:
        ExportError: ``device`` is not a CUDA device, or the converter is unknown.
        MissingDependencyError: no CUDA GPU (package ``CUDA``), or ``torch_tensorrt`` /
            ``tensorrt`` cannot be imported (the message names the converter).
    """
    package, purpose = CONVERTERS[check_converter(converter)]
    if not device.startswith("cuda"):
        raise ExportError(f"TensorRT engines run on CUDA GPUs, not on device '{device}'",
                          hint="leave --device out (cuda), or give cuda or cuda:N")
    require_cuda("TensorRT export (TensorRT engines are built on an NVIDIA GPU)",
                 hint="run on a machine with an NVIDIA GPU and CUDA, or export to ONNX here (--format onnx) and "
                      "build the engine there with trtexec --onnx=model.onnx")
    try:
        importlib.import_module(package)
    except ImportError:
        raise MissingDependencyError(package, extra="tensorrt", purpose=purpose) from None


def export_tensorrt(job: "ExportJob", path: Path) -> Callable[[Any], list[Any]]:
    """Build a TensorRT engine for the network on ``job.options.device`` and write it to ``path``.

    The engine takes inputs from the profile ``shape_range`` gives (batch over
    ``job.options.dynamic_batchsize``, spatial sizes from ``network_data_format``); the parity check runs
    its usual, smallest and largest shapes (set here as ``job.parity_shapes``).

    Returns:
        A function running the written file on the GPU: input tensor -> numpy outputs.

    Raises:
        MissingDependencyError, ExportError: see ``check_requirements``; the converter fails
            (``torch_tensorrt.compile``'s errors are explained by ``export_configs``).
    """
    converter = check_converter(job.options.converter)
    check_requirements(converter, job.device)
    shapes = shape_range(job.input_spec, job.options.dynamic_batchsize,
                         dynamic_spatial=bool(job.options.dynamic_spatial))
    job.parity_shapes = shapes.parity_shapes()
    if converter == "torch_tensorrt":
        return export_torch_tensorrt(job, Path(path), shapes)
    return export_onnx_tensorrt(job, Path(path), shapes)
