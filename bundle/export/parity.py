"""Parity of an export with eager PyTorch: both run on the same inputs, every output compared."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from bundle.errors import BundleError, ExportError
from bundle.export.device import exact_fp32
from bundle.export.report import ParityCheck, compare_outputs

if TYPE_CHECKING:
    from bundle.export.job import ExportJob

__all__ = ["as_numpy", "check_parity"]


def check_parity(job: "ExportJob", runner: Callable, *, atol: float, rtol: float) -> list[ParityCheck]:
    """Run the export and eager PyTorch on every parity shape; compare every output.

    The reference is the float32 network on ``job.options.device`` (in exact float32 on CUDA, TF32 off),
    whatever the export's precision: an fp16 export is measured against full precision.
    The shapes are ``job.parity_shapes`` when the exporter set them (TensorRT: its profile's
    smallest, usual and largest shapes), else those the input spec gives for the dynamic axes.

    Args:
        job: the export's job (network, input spec, device).
        runner: the exporter's function running the written file: input tensor -> numpy outputs.
        atol, rtol: an element fails when ``|export - eager| > atol + rtol * |eager|``.

    Returns:
        One ``ParityCheck`` per input shape.

    Raises:
        BundleError: the runtime needed to run the export is missing (not a finding about it).
    """
    import torch

    checks = []
    shapes = job.parity_shapes or job.input_spec.parity_shapes(
        dynamic_batch=job.options.dynamic_batch, dynamic_spatial=bool(job.options.dynamic_spatial)
    )
    network = job.network.to(job.device)
    with exact_fp32(job.device):
        for i, shape in enumerate(shapes):
            x = job.input_spec.tensor(shape, seed=i + 1)
            with torch.no_grad():
                expected = as_numpy(network(x.to(job.device)))
            check = ParityCheck(tuple(shape))
            try:
                got = runner(x)
            except BundleError:  # a missing runtime, not a finding about the export
                raise
            except Exception as err:  # the runtime rejected this input: the export does not take it
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                check.error = f"{type(err).__name__}: {first}"
            else:
                check.outputs = compare_outputs(job.input_spec.output_names, expected, got, atol=atol, rtol=rtol)
            checks.append(check)
    return checks


def as_numpy(output: Any) -> list[Any]:
    """A network's output(s) as a flat list of numpy arrays (tensor, tuple/list, or dict in order).

    Raises:
        ExportError: an output is not a tensor (nor a tuple, list or dict of them).
    """
    import torch

    if isinstance(output, torch.Tensor):
        return [output.detach().cpu().numpy()]
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [x for o in output for x in as_numpy(o)]
    raise ExportError(f"the network returns a {type(output).__name__}; only tensors, and tuples, lists and dicts "
                      "of tensors, can be exported")
