"""Exporting a bundle's network to TorchScript, ONNX or TensorRT, each export checked against eager PyTorch.

Example:
    >>> from bundle.export import export_bundle
    >>> report = export_bundle("zoo/digits_classification", format="torchscript", output="digits.ts")
    >>> report.ok, report.output
    (True, 'digits.ts')
    >>> print(report.format_text())  # doctest: +ELLIPSIS
    exported 'network_def' of config 'inference' to torchscript: digits.ts ...
"""

from __future__ import annotations

from bundle.export.options import ExportOptions
from bundle.export.registry import EXPORTERS, get_exporter

__all__ = ["EXPORTERS", "ExportOptions", "ExportReport", "ckpt_export", "export_bundle", "export_configs",
           "get_exporter", "onnx_export", "trt_export"]

_LAZY = {
    "ExportReport": "bundle.export.report",
    "export_bundle": "bundle.export.core",
    "export_configs": "bundle.export.core",
    "ckpt_export": "bundle.export.monai",
    "onnx_export": "bundle.export.monai",
    "trt_export": "bundle.export.monai",
}


def __getattr__(name: str):  # torch is imported only when an export function is used
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bundle.export' has no attribute '{name}'")
