"""A Triton Inference Server model repository from a bundle: ``REPO/NAME/config.pbtxt`` and
``REPO/NAME/1/model.onnx`` (the onnxruntime backend) or ``REPO/NAME/1/model.pt`` (TorchScript, the
pytorch/libtorch backend), with inputs, outputs, dims (-1 where ``network_data_format`` leaves a size
open), ``max_batch_size`` and dynamic batching filled in from the metadata.

The model file goes through the exporter registry (format ``triton``: ONNX or TorchScript by the file's
suffix) and the usual parity check against eager PyTorch; the model's folder is assembled beside the
repository and moved into place only when both files are written, so a failed export leaves nothing.

Example:
    >>> report = export_triton("zoo/ellipsoid_segmentation", "triton_models")
    >>> sorted(p.name for p in Path("triton_models/ellipsoid_segmentation").rglob("*"))
    ['1', 'config.pbtxt', 'model.onnx']
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

from bundle.atomic import write_atomic
from bundle.errors import ExportError, did_you_mean
from bundle.export.core import export_bundle
from bundle.export.onnx import export_onnx
from bundle.export.options import ExportOptions
from bundle.export.report import ExportReport
from bundle.export.torchscript import export_torchscript
from bundle.format.bundle import Bundle

__all__ = ["BACKENDS", "export_triton", "export_triton_model", "model_config"]

# backend -> (the model file in the version folder, the backend's name in config.pbtxt)
BACKENDS = {"onnx": ("model.onnx", "onnxruntime"), "libtorch": ("model.pt", "pytorch")}
_TYPES = {"float32": "TYPE_FP32", "float64": "TYPE_FP64", "float16": "TYPE_FP16", "int64": "TYPE_INT64",
          "int32": "TYPE_INT32", "int16": "TYPE_INT16", "int8": "TYPE_INT8", "uint8": "TYPE_UINT8", "bool": "TYPE_BOOL"}


def export_triton_model(job: Any, path: Path) -> Callable[[Any], list[Any]]:
    """The registry's ``triton`` exporter: the model file Triton loads, ONNX for ``.onnx``, TorchScript otherwise."""
    if path.suffix == ".onnx":
        return export_onnx(job, path)
    return export_torchscript(job, path)


def _dims(entry: Mapping[str, Any]) -> list[int]:
    channels = entry.get("num_channels")
    dims = [int(channels)] if channels else []
    for s in entry.get("spatial_shape") or []:
        dims.append(int(s) if isinstance(s, int) and not isinstance(s, bool) else -1)
    return dims or [1]


def _tensor(name: str, entry: Mapping[str, Any]) -> str:
    dtype = str(entry.get("dtype", "float32"))
    if dtype not in _TYPES:
        raise ExportError(f"network_data_format '{name}' has dtype '{dtype}', which Triton has no type for",
                          hint=did_you_mean(dtype, _TYPES) or f"use one of {', '.join(_TYPES)}")
    dims = ", ".join(str(d) for d in _dims(entry))
    return f'  {{\n    name: "{name}"\n    data_type: {_TYPES[dtype]}\n    dims: [ {dims} ]\n  }}'


def model_config(name: str, metadata: Mapping[str, Any], *, backend: str = "onnx", max_batch_size: int = 8,
                 max_queue_delay_us: int = 5000) -> str:
    """``config.pbtxt`` (protobuf text format of Triton's ``ModelConfig``) for the model ``name``.

    Inputs and outputs keep the metadata's names for ONNX; the libtorch backend reads them by
    position, named ``INPUT__0``, ``OUTPUT__0``, ... as its documentation asks.

    Raises:
        ExportError: no ``network_data_format`` inputs/outputs, or a dtype Triton has no type for.
    """
    fmt = metadata.get("network_data_format") or {}
    inputs, outputs = dict(fmt.get("inputs") or {}), dict(fmt.get("outputs") or {})
    if not inputs or not outputs:
        raise ExportError("the metadata's network_data_format describes no inputs or outputs",
                          hint="a Triton model needs each input's and output's dtype and shape there")
    if backend not in BACKENDS:
        raise ExportError(f"unknown Triton backend '{backend}'", hint=f"use one of {', '.join(BACKENDS)}")
    if backend == "libtorch":
        inputs = {f"INPUT__{i}": v for i, v in enumerate(inputs.values())}
        outputs = {f"OUTPUT__{i}": v for i, v in enumerate(outputs.values())}
    lines = [f'name: "{name}"', f'backend: "{BACKENDS[backend][1]}"', f"max_batch_size: {int(max_batch_size)}",
             "input [", ",\n".join(_tensor(k, v) for k, v in inputs.items()), "]",
             "output [", ",\n".join(_tensor(k, v) for k, v in outputs.items()), "]"]
    if max_batch_size > 1:
        lines += ["dynamic_batching {", f"  max_queue_delay_microseconds: {int(max_queue_delay_us)}", "}"]
    version = metadata.get("version")
    if version:
        lines += ["parameters {", '  key: "bundle_version"', f'  value: {{ string_value: "{version}" }}', "}"]
    return "\n".join(lines) + "\n"


def export_triton(bundle_dir: str | os.PathLike, repository: str | os.PathLike | None = None, *,
                  backend: str = "onnx", name: str | None = None, max_batch_size: int = 8,
                  max_queue_delay_us: int = 5000, config: str = "inference", net_id: str = "network_def",
                  checkpoint: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None,
                  options: ExportOptions | None = None, **option_values: Any) -> ExportReport:
    """Write (or replace) the model ``name`` in the Triton model repository ``repository``.

    Args:
        bundle_dir: the bundle folder.
        repository: the repository folder (created if missing; default ``BUNDLE/models/triton``).
        backend: ``onnx`` (onnxruntime backend) or ``libtorch`` (TorchScript).
        name: the model's name in Triton (default: the bundle folder's name).
        max_batch_size: Triton's ``max_batch_size`` (0: no batching; inputs then carry the batch dim).
        max_queue_delay_us: dynamic batching's queue delay.
        config, net_id, checkpoint, overrides: as ``export_bundle``.
        options: how to export and check (``ExportOptions``); ``dynamic_spatial`` left None follows
            whether ``spatial_shape`` leaves a size open, ``exporter`` left None is then ``torchscript``
            (the dynamo exporter cannot keep ConvTranspose's sizes open), else ``dynamo``.
        option_values: ``ExportOptions`` fields as keyword arguments, replacing those of ``options``.

    Returns:
        The ``ExportReport`` of the model file; its ``files`` list the model file and config.pbtxt.

    Raises:
        ExportError: as ``export_bundle``, and for an unknown backend, a precision other than fp32
            (config.pbtxt gives the metadata's types), or a metadata Triton cannot describe.
    """
    if backend not in BACKENDS:
        raise ExportError(f"unknown Triton backend '{backend}'",
                          hint=did_you_mean(backend, BACKENDS) or f"use one of {', '.join(BACKENDS)}")
    options = ExportOptions.of(options, **option_values)
    if options.precision != "fp32":
        raise ExportError(f"a Triton model is exported in fp32, not {options.precision}: config.pbtxt declares the "
                          "types network_data_format gives", hint="leave precision out (fp32)")
    bundle = Bundle(bundle_dir)
    name = name or bundle.name
    repo = Path(repository) if repository is not None else bundle.root / "models" / "triton"
    config_text = model_config(name, bundle.metadata, backend=backend, max_batch_size=max_batch_size,
                               max_queue_delay_us=max_queue_delay_us)  # its errors before any export work
    spatial = (next(iter(bundle.metadata["network_data_format"]["inputs"].values())).get("spatial_shape") or [])
    if options.dynamic_spatial is None:
        options = replace(options, dynamic_spatial=any(not isinstance(s, int) for s in spatial))
    if options.exporter is None:  # the dynamo exporter cannot give ConvTranspose open spatial sizes
        options = replace(options, exporter="torchscript" if options.dynamic_spatial and backend == "onnx" else "dynamo")
    repo.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=repo))
    try:
        model_dir = work / name
        (model_dir / "1").mkdir(parents=True)
        report = export_bundle(bundle.root, format="triton", output=model_dir / "1" / BACKENDS[backend][0],
                               config=config, net_id=net_id, checkpoint=checkpoint, overrides=overrides,
                               options=options)
        write_atomic(model_dir / "config.pbtxt", config_text)
        target = repo / name
        if target.exists():
            old = work / "previous"
            os.replace(target, old)
        os.replace(model_dir, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.output = str(target)
    report.files = [str(target / "1" / BACKENDS[backend][0]), str(target / "config.pbtxt")]
    return report
