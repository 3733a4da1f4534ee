"""The table of export formats: name -> ``"module:function"``, imported only when that format is used."""

from __future__ import annotations

import importlib
from typing import Callable

from bundle.errors import ExportError, did_you_mean

__all__ = ["COMPANIONS", "EXPORTERS", "SUFFIXES", "default_suffix", "get_exporter"]

# Each function takes (job: ExportJob, path: Path), writes the export to ``path`` (and any companion
# file beside it as ``path.name + suffix``) and returns a callable that loads ``path`` back and runs
# it: inputs (tensors) -> list of numpy outputs.
EXPORTERS: dict[str, str] = {
    "torchscript": "bundle.export.torchscript:export_torchscript",
    "onnx": "bundle.export.onnx:export_onnx",
    "tensorrt": "bundle.export.tensorrt:export_tensorrt",
    "triton": "bundle.export.triton:export_triton_model",  # the model file of a Triton repository (export_triton)
}

SUFFIXES: dict[str, str] = {"torchscript": ".ts", "onnx": ".onnx", "tensorrt": ".ts", "triton": ".onnx"}

# Suffixes of the files a format may write beside its output (``model.onnx`` + ``.data``): they are
# moved into place with it, and one left from an earlier export is removed when the new one has none.
COMPANIONS: dict[str, tuple[str, ...]] = {"onnx": (".data",), "tensorrt": (".json",), "triton": (".data",)}


def default_suffix(format: str, converter: str = "torch_tensorrt") -> str:
    """The default output suffix of ``format``: TensorRT's onnx converter writes a serialized ``.engine``."""
    if format == "tensorrt" and converter == "onnx":
        return ".engine"
    return SUFFIXES.get(format, "." + format)


def get_exporter(name: str) -> Callable:
    """The export function registered as ``name``.

    Raises:
        ExportError: no format has that name (the hint names close ones).
    """
    if name not in EXPORTERS:
        raise ExportError(f"unknown export format '{name}'",
                          hint=did_you_mean(name, EXPORTERS) or f"formats: {', '.join(EXPORTERS)}")
    module_name, func_name = EXPORTERS[name].split(":")
    return getattr(importlib.import_module(module_name), func_name)
