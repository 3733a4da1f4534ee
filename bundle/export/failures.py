"""When an exporter fails on a network: an ``ExportError`` naming the exporter, the config id, the operator
and the source line."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bundle.errors import ExportError, Location

if TYPE_CHECKING:
    from bundle.export.job import ExportJob

__all__ = ["export_failed"]


_SOURCE = re.compile(r'File "([^"]+)", line (\d+)')
_QUOTED_OPERATOR = re.compile(r"operator '(?:::)?([\w.:]+)'")
_OPERATOR = re.compile(r"\b((?:aten|prim|onnx)::[A-Za-z_][\w.]*|torch\.ops\.aten\.[\w.]+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SUMMARY = re.compile(r"## Exception summary\s*\n\s*(?:<class '([\w.]+)'>: )?(.+)")


def export_failed(err: Exception, job: "ExportJob", format: str) -> ExportError:
    """An ExportError naming the exporter, the config id, the operator and source line when they are known."""
    text = _ANSI.sub("", str(err)).strip()
    kind = type(err).__name__
    detail = next((line.strip() for line in text.splitlines() if line.strip()), "")  # TorchScript starts with \n
    summary = _SUMMARY.search(text)  # the dynamo exporter puts the root cause under this heading
    if summary:
        kind, detail = (summary.group(1) or kind).rsplit(".", 1)[-1], summary.group(2).strip()
    op = _QUOTED_OPERATOR.search(text) or _OPERATOR.search(text)
    how = {"torchscript": "torch.jit.trace" if job.options.trace else "torch.jit.script",
           "onnx": f"torch.onnx.export ({job.options.exporter} exporter)",
           "tensorrt": "torch_tensorrt.compile" if job.options.converter == "torch_tensorrt" else
           f"TensorRT's ONNX parser (after torch.onnx.export, {job.options.exporter} exporter)"}.get(format, format)
    what = f" at the operator '{op.group(1)}'" if op else ""
    source = _SOURCE.search(text)  # TorchScript names the line of the network's code it cannot compile
    location = Location(source.group(1), int(source.group(2))) if source else None
    if format == "onnx":
        other = "torchscript" if job.options.exporter == "dynamo" else "dynamo"
        hint = f"try --exporter {other}" + (", or without --dynamic_spatial" if job.options.dynamic_spatial else "")
    elif format == "tensorrt":
        other = "onnx" if job.options.converter == "torch_tensorrt" else "torch_tensorrt"
        hint = f"try --converter {other}" + (", or without --dynamic_spatial" if job.options.dynamic_spatial else "")
    else:
        hint = "try " + ("without --trace (torch.jit.script)" if job.options.trace else "--trace (torch.jit.trace)")
    hint += "; otherwise the network's forward needs rewriting without the construct that fails"
    return ExportError(f"{how} cannot export '{job.net_id}' of config '{job.config}'{what}: {kind}: {detail}",
                       location=location, config_id=job.net_id, hint=hint)
