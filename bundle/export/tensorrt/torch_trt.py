"""TensorRT through Torch-TensorRT: ``torch_tensorrt.compile`` (dynamo frontend) with the input's
shape range, saved as TorchScript with the bundle's metadata and configs as extra files; the file
loads with ``torch.jit.load`` once ``torch_tensorrt`` is imported (it registers the engine op)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bundle.export.device import network_for_export, runtime_input
from bundle.export.parity import as_numpy

if TYPE_CHECKING:
    from bundle.export.job import ExportJob
    from bundle.export.tensorrt.profile import ShapeRange

__all__ = ["compile_settings", "export_torch_tensorrt"]


def compile_settings(job: "ExportJob", shapes: "ShapeRange", torch_tensorrt: Any) -> dict[str, Any]:
    """The keyword arguments of ``torch_tensorrt.compile`` for ``job``.

    fp16 compiles the half-precision network with half inputs (what Torch-TensorRT's strongly
    typed builds follow) and allows fp16 kernels (``enabled_precisions``, for the versions that
    read it); fp32 disables TF32, whose rounding alone exceeds the fp32 tolerance.
    ``job.options.converter_kwargs`` come last and win (``ir``, ``min_block_size``, ``workspace_size``...).
    """
    import torch

    dtype = job.input_spec.dtype
    if job.options.precision == "fp16" and dtype.is_floating_point:
        dtype = torch.float16
    settings: dict[str, Any] = {
        "ir": "dynamo",
        "inputs": [torch_tensorrt.Input(min_shape=shapes.min, opt_shape=shapes.opt, max_shape=shapes.max,
                                        dtype=dtype)],
        "enabled_precisions": {torch.float16 if job.options.precision == "fp16" else torch.float32},
        "device": torch_tensorrt.Device(job.device),
    }
    if job.options.precision == "fp32":
        settings["disable_tf32"] = True
    settings.update(job.options.converter_kwargs)
    return settings


def export_torch_tensorrt(job: "ExportJob", path: Path, shapes: "ShapeRange") -> Callable[[Any], list[Any]]:
    """Compile the network with Torch-TensorRT and save it as TorchScript at ``path``.

    A dynamo-compiled module (a ``torch.fx.GraphModule`` calling the engines) is traced to
    TorchScript, as ``torch_tensorrt.save(..., output_format="torchscript")`` does, and saved with
    ``torch.jit.save`` so that the extra files go in; a module compiled with ``ir="torchscript"``
    (through ``converter_kwargs``) is saved as it is.

    Returns:
        A function running the saved file, loaded back onto ``job.options.device``: input -> numpy outputs.
    """
    import torch
    import torch_tensorrt

    device = torch.device(job.device)
    network = network_for_export(job)
    with torch.no_grad(), torch.cuda.device(device):
        compiled = torch_tensorrt.compile(network, **compile_settings(job, shapes, torch_tensorrt))
        if isinstance(compiled, torch.jit.ScriptModule):
            module = compiled
        else:
            # traced on the profile's usual shape: the engines take the whole range
            module = torch.jit.trace(compiled, runtime_input(job.input_spec.tensor(shapes.opt), job))
        torch.jit.save(module, str(path), _extra_files=job.extra_files)
        loaded = torch.jit.load(str(path), map_location=device)

    def run(x: Any) -> list[Any]:
        with torch.no_grad(), torch.cuda.device(device):
            return as_numpy(loaded(runtime_input(x, job)))

    return run
