"""TorchScript export (``torch.jit.script`` or ``torch.jit.trace``), with the metadata and configs
embedded as extra files (``extra/metadata.json``, ``extra/<config>.json`` in the archive, as MONAI does)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bundle.export.device import example_for_export, network_for_export, runtime_input
from bundle.export.parity import as_numpy

if TYPE_CHECKING:
    from bundle.export.job import ExportJob

__all__ = ["export_torchscript", "read_extra_files"]


def export_torchscript(job: "ExportJob", path: Path) -> Callable[[Any], list[Any]]:
    """Script (or trace, with ``job.options.trace``) the network and save it to ``path``.

    The network is exported on ``job.options.device`` in ``job.options.precision`` (fp16: half-precision weights,
    and the file takes and returns float16 tensors).

    Returns:
        A function running the saved file, loaded back with ``torch.jit.load`` onto ``job.options.device``:
        input -> numpy outputs.
    """
    import warnings

    import torch

    network = network_for_export(job)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, and chosen on purpose
        if job.options.trace:
            module = torch.jit.trace(network, example_for_export(job), **job.options.converter_kwargs)
        else:
            module = torch.jit.script(network, **job.options.converter_kwargs)
        torch.jit.save(module, str(path), _extra_files=job.extra_files)
        loaded = torch.jit.load(str(path), map_location=job.device)

    def run(x: Any) -> list[Any]:
        with torch.no_grad():
            return as_numpy(loaded(runtime_input(x, job)))

    return run


def read_extra_files(path: str | Path, names: tuple[str, ...] = ("metadata.json",)) -> dict[str, str]:
    """The extra files ``names`` of a TorchScript file, as text (what ``torch.jit.load`` reads back).

    Example:
        >>> read_extra_files("models/model.ts", ("metadata.json", "inference.json"))["metadata.json"]
    """
    import torch

    extra = dict.fromkeys(names, "")
    torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in extra.items()}
