"""The network an export starts from: built from the configs, its checkpoint loaded, and, when an
exporter fails on it, an ``ExportError`` naming the exporter, the config id, the operator and the source line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from bundle.errors import ExportError, Location, did_you_mean

if TYPE_CHECKING:
    from bundle.export.core import ExportJob

__all__ = ["build_network", "export_failed", "load_checkpoint"]


def build_network(files: Sequence[Path], meta_file: Any, root: Path, net_id: str,
                  overrides: Mapping[str, Any] | None, *, trusted: bool = True, error: type = ExportError) -> Any:
    """Build ``net_id`` from the configs, in eval mode on the CPU; a config's ``bundle_root`` is ``root``.

    Args:
        trusted: False builds in safe mode, and ``root``'s ``scripts/`` are not importable.
        error: the error class raised (``bundle.load`` raises FormatError, the exporters ExportError).

    Raises:
        error: ``net_id`` is not defined (close ids named) or is not a ``torch.nn.Module``.
    """
    import torch

    from bundle.config.engine import Config
    from bundle.format.scripts import BundleScripts

    meta = meta_file if meta_file is not None and Path(meta_file).is_file() else None
    cfg = Config.load(*files, meta=meta, base_dir=root, overrides=overrides, trusted=trusted)
    if isinstance(cfg.get("bundle_root", None), str):
        cfg = Config.load(*files, meta=meta, base_dir=root, trusted=trusted,
                          overrides={**dict(overrides or {}), "bundle_root": str(root)})
    where = ", ".join(f.name for f in files)
    if net_id not in cfg:
        ids = [i for i in cfg.ids() if "::" not in i and "#" not in i]
        raise error(f"config {where} defines no network '{net_id}'", config_id=net_id,
                    hint=did_you_mean(net_id, ids) or f"name the network's id with net_id (top-level "
                         f"ids: {', '.join(ids[:12])})")
    if trusted:
        with BundleScripts(root):
            network = cfg.resolve(net_id)
    else:
        network = cfg.resolve(net_id)
    if not isinstance(network, torch.nn.Module):
        raise error(f"'{net_id}' in {where} is a {type(network).__name__}, not a torch.nn.Module",
                    location=cfg.where(net_id), config_id=net_id, hint="name the network's id with net_id")
    return network.cpu().eval()


def load_checkpoint(network: Any, checkpoint: str | os.PathLike, net_id: str, key: str | None, *,
                    error: type = ExportError) -> None:
    """Load a state dict (``weights_only=True``) into ``network``.

    Raises:
        error: it does not fit (missing, unexpected and mismatched keys listed).
        FormatError: it cannot be loaded safely, or is not a state dict.
    """
    from bundle.format.weights import fit_weights, load_state_dict

    state = load_state_dict(checkpoint, key=key or None)
    fit = fit_weights(network, state)
    if not fit.ok:
        raise error(f"checkpoint '{checkpoint}' does not fit '{net_id}': {fit.describe()}",
                    location=Location(str(checkpoint)), config_id=net_id, hint=fit.hint())


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
    how = {"torchscript": "torch.jit.trace" if job.trace else "torch.jit.script",
           "onnx": f"torch.onnx.export ({job.exporter} exporter)",
           "tensorrt": "torch_tensorrt.compile" if job.converter == "torch_tensorrt" else
           f"TensorRT's ONNX parser (after torch.onnx.export, {job.exporter} exporter)"}.get(format, format)
    what = f" at the operator '{op.group(1)}'" if op else ""
    source = _SOURCE.search(text)  # TorchScript names the line of the network's code it cannot compile
    location = Location(source.group(1), int(source.group(2))) if source else None
    if format == "onnx":
        other = "torchscript" if job.exporter == "dynamo" else "dynamo"
        hint = f"try --exporter {other}" + (", or without --dynamic_spatial" if job.dynamic_spatial else "")
    elif format == "tensorrt":
        other = "onnx" if job.converter == "torch_tensorrt" else "torch_tensorrt"
        hint = f"try --converter {other}" + (", or without --dynamic_spatial" if job.dynamic_spatial else "")
    else:
        hint = "try " + ("without --trace (torch.jit.script)" if job.trace else "--trace (torch.jit.trace)")
    hint += "; otherwise the network's forward needs rewriting without the construct that fails"
    return ExportError(f"{how} cannot export '{job.net_id}' of config '{job.config}'{what}: {kind}: {detail}",
                       location=location, config_id=job.net_id, hint=hint)
