"""ONNX export (``torch.onnx.export``, dynamo-based by default or the TorchScript-based one), checked
with ``onnx.checker`` and run back through onnxruntime; bundle metadata goes in ``metadata_props``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bundle.errors import MissingDependencyError

if TYPE_CHECKING:
    from bundle.export.core import ExportJob

__all__ = ["export_onnx", "read_metadata_props"]


def _require(package: str, purpose: str) -> Any:
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingDependencyError(package, extra="onnx", purpose=purpose) from None


def export_onnx(job: "ExportJob", path: Path) -> Callable[[Any], list[Any]]:
    """Export the network to ONNX at ``path``, check it, and add the bundle's metadata.

    Returns:
        A function running ``path`` in onnxruntime (CPU): input tensor -> numpy outputs.

    Raises:
        MissingDependencyError: onnx (or onnxscript, for the dynamo exporter) is not installed;
            onnxruntime is needed when the function returned is called.
    """
    import torch

    onnx = _require("onnx", "ONNX export")
    if job.exporter == "dynamo":
        _require("onnxscript", "the dynamo-based ONNX exporter")
    in_name = job.spec.name
    out_names = list(job.spec.output_names)
    spatial_axes = range(2 if job.spec.channels > 0 or job.spec.fixed_shape else 1, job.example.dim())
    kwargs: dict[str, Any] = {"input_names": [in_name], "output_names": out_names}
    if job.opset is not None:
        kwargs["opset_version"] = int(job.opset)
    if job.exporter == "dynamo":
        axes: dict[int, Any] = {}
        if job.dynamic_batch:
            axes[0] = torch.export.Dim("batch", min=1)
        if job.dynamic_spatial:
            axes.update({a: torch.export.Dim.AUTO for a in spatial_axes})
        if axes:
            kwargs["dynamic_shapes"] = (axes,)
        kwargs["verbose"] = False  # the dynamo exporter otherwise prints its progress
        kwargs.update(job.converter_kwargs)
        program = torch.onnx.export(job.network, (job.example,), dynamo=True, external_data=False, **kwargs)
        model = program.model_proto
    else:
        axes_names: dict[int, str] = {0: "batch"} if job.dynamic_batch else {}
        if job.dynamic_spatial:
            axes_names.update({a: f"dim_{a}" for a in spatial_axes})
        if axes_names:
            kwargs["dynamic_axes"] = {in_name: axes_names, **{o: {0: "batch"} for o in out_names if job.dynamic_batch}}
        kwargs.update(job.converter_kwargs)
        import warnings

        with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated, and chosen on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(job.network, (job.example,), str(path), dynamo=False, **kwargs)
        model = onnx.load(str(path))
    props = {"name": str(job.metadata.get("name", "")), "version": str(job.metadata.get("version", "")),
             "network_data_format": json.dumps(job.metadata.get("network_data_format", {})),
             "net_id": job.net_id, "config": job.config}
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))

    def run(x: Any) -> list[Any]:
        ort = _require("onnxruntime", "checking an ONNX export against PyTorch")
        session = _sessions.get(path) or _sessions.setdefault(
            path, ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]))
        return list(session.run(None, {session.get_inputs()[0].name: x.detach().cpu().numpy()}))

    _sessions: dict[Path, Any] = {}
    return run


def read_metadata_props(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict.

    Example:
        >>> json.loads(read_metadata_props("models/model.onnx")["network_data_format"])
    """
    onnx = _require("onnx", "reading an ONNX file")
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
