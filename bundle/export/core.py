"""``export_bundle``: build a bundle's network from its config, load its checkpoint, export it to a
temporary file beside the output, check it against eager PyTorch, and only then rename it into place."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from bundle.errors import BundleError, ExportError, Location, did_you_mean
from bundle.export.inputs import InputSpec, input_spec
from bundle.export.registry import SUFFIXES, get_exporter
from bundle.export.report import ExportReport, ParityCheck, compare_outputs

__all__ = ["ExportJob", "export_bundle", "export_configs"]

logger = logging.getLogger(__name__)

FP32_TOLERANCE = 1e-4


@dataclass
class ExportJob:
    """Everything an exporter needs: the network (eval mode, weights loaded) and how to export it."""

    network: Any
    spec: InputSpec
    example: Any  # the example input tensor
    net_id: str
    config: str
    metadata: dict
    extra_files: dict[str, bytes] = field(default_factory=dict)  # name -> JSON bytes (metadata, configs)
    trace: bool = False
    exporter: str = "dynamo"
    opset: int | None = None
    dynamic_batch: bool = True
    dynamic_spatial: bool = False
    converter_kwargs: dict[str, Any] = field(default_factory=dict)


def export_bundle(
    bundle_dir: str | os.PathLike,
    format: str = "torchscript",
    output: str | os.PathLike | None = None,
    config: str | Sequence[str] = "inference",
    net_id: str = "network_def",
    checkpoint: str | os.PathLike | None = None,
    *,
    key_in_ckpt: str | None = None,
    trace: bool = False,
    exporter: str = "dynamo",
    opset: int | None = None,
    dynamic_batch: bool = True,
    dynamic_spatial: bool = False,
    input_shape: Sequence[int] | None = None,
    verify: bool = True,
    atol: float = FP32_TOLERANCE,
    rtol: float = FP32_TOLERANCE,
    overrides: Mapping[str, Any] | None = None,
    converter_kwargs: Mapping[str, Any] | None = None,
) -> ExportReport:
    """Export a bundle's network and check the export against eager PyTorch.

    Args:
        bundle_dir: the bundle folder.
        format: ``torchscript`` or ``onnx`` (``tensorrt`` needs CUDA and TensorRT).
        output: the file to write; default ``models/model.ts`` or ``models/model.onnx``.
        config: the config (or configs, merged in order) that defines the network.
        net_id: the network's config id.
        checkpoint: the weights (a state dict); default ``models/model.pt``.
        key_in_ckpt: the key holding the state dict in a nested checkpoint.
        trace: TorchScript by ``torch.jit.trace`` instead of ``torch.jit.script``.
        exporter: for ONNX, ``dynamo`` (``torch.export``-based) or ``torchscript`` (the older one).
        opset: the ONNX opset (default: the exporter's).
        dynamic_batch: ONNX: the batch axis is dynamic.
        dynamic_spatial: ONNX: the spatial axes are dynamic too.
        input_shape: an input shape (batch first) instead of the one ``network_data_format`` gives.
        verify: check the export against eager PyTorch (False skips it, explicitly).
        atol, rtol: the parity tolerances.
        overrides: config overrides ``{id: value}``.
        converter_kwargs: more keyword arguments for the underlying torch export call.

    Returns:
        The ``ExportReport`` (per input shape and output, the largest absolute and relative errors).

    Raises:
        ExportError: the network id is unknown, the checkpoint does not fit, the export fails, the
            output cannot be written, or the export's outputs differ beyond tolerance; nothing is
            left at ``output`` then.
        MissingDependencyError: onnx/onnxruntime (or TensorRT) is not installed.
        FormatError, ConfigError: the bundle or its configs are broken.

    Example:
        >>> report = export_bundle("zoo/ellipsoid_segmentation", format="onnx", dynamic_spatial=True)
        >>> report.ok, report.output
    """
    from bundle.format.bundle import Bundle

    bundle = Bundle(bundle_dir)
    names = [config] if isinstance(config, str) else list(config)
    files = [bundle.config_path(n) for n in names]
    ckpt = Path(checkpoint) if checkpoint is not None else bundle.weights_path("model.pt")
    if output is None:
        output = bundle.root / "models" / f"model{SUFFIXES.get(format, '.' + format)}"
    return export_configs(
        files, meta_file=bundle.metadata_path, format=format, output=output, net_id=net_id, checkpoint=ckpt,
        bundle_root=bundle.root, key_in_ckpt=key_in_ckpt, trace=trace, exporter=exporter, opset=opset,
        dynamic_batch=dynamic_batch, dynamic_spatial=dynamic_spatial, input_shape=input_shape, verify=verify,
        atol=atol, rtol=rtol, overrides=overrides, converter_kwargs=converter_kwargs,
    )


def export_configs(
    config_files: Sequence[str | os.PathLike],
    *,
    meta_file: str | os.PathLike | None,
    format: str,
    output: str | os.PathLike,
    checkpoint: str | os.PathLike,
    net_id: str = "network_def",
    bundle_root: str | os.PathLike | None = None,
    key_in_ckpt: str | None = None,
    trace: bool = False,
    exporter: str = "dynamo",
    opset: int | None = None,
    dynamic_batch: bool = True,
    dynamic_spatial: bool = False,
    input_shape: Sequence[int] | None = None,
    verify: bool = True,
    atol: float = FP32_TOLERANCE,
    rtol: float = FP32_TOLERANCE,
    overrides: Mapping[str, Any] | None = None,
    converter_kwargs: Mapping[str, Any] | None = None,
) -> ExportReport:
    """``export_bundle`` for config files that need not sit in a bundle folder (MONAI's calling style).

    Args:
        config_files: the configs, merged in order; each is embedded in a TorchScript export.
        meta_file: the metadata file (its ``network_data_format`` shapes the example inputs).
        bundle_root: the folder the configs' ``bundle_root`` is set to, and whose ``scripts/`` is
            importable while the network is built (default: the configs' parent's parent).
        Others: see ``export_bundle``.

    Raises:
        See ``export_bundle``.
    """
    exporter_fn = get_exporter(format)
    if exporter not in ("dynamo", "torchscript"):
        raise ExportError(f"unknown ONNX exporter '{exporter}'", hint="use 'dynamo' (default) or 'torchscript'")
    files = [Path(f) for f in config_files]
    root = Path(bundle_root) if bundle_root is not None else files[0].resolve().parent.parent
    output = Path(output)
    _check_writable(output)
    metadata = _read_json_like(meta_file) if meta_file is not None and Path(meta_file).is_file() else {}
    spec = input_spec(metadata, input_shape=input_shape)
    name = "+".join(f.stem for f in files)
    network = build_network(files, meta_file, root, net_id, overrides)
    load_checkpoint(network, checkpoint, net_id, key_in_ckpt)
    extra = {"metadata.json": json.dumps(metadata).encode()}
    for f in files:
        extra[f"{f.stem}.json"] = json.dumps(_read_json_like(f)).encode()
    example = spec.tensor(spec.shape(2, 2))
    job = ExportJob(network=network, spec=spec, example=example, net_id=net_id, config=name, metadata=metadata,
                    extra_files=extra, trace=trace, exporter=exporter, opset=opset, dynamic_batch=dynamic_batch,
                    dynamic_spatial=dynamic_spatial, converter_kwargs=dict(converter_kwargs or {}))
    report = ExportReport(format=format, output=str(output), net_id=net_id, config=name, atol=atol, rtol=rtol,
                          options=_options(job, format))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        start = time.perf_counter()
        try:
            runner = exporter_fn(job, tmp)
        except BundleError:
            raise
        except Exception as err:  # whatever torch raises while scripting/tracing/exporting
            raise _export_failed(err, job, format) from err
        report.seconds = time.perf_counter() - start
        if verify:
            report.verified = True
            report.checks = check_parity(job, runner, atol=atol, rtol=rtol)
            if not report.ok:
                raise ExportError(
                    f"the {format} export of '{net_id}' differs from eager PyTorch beyond tolerance; nothing was "
                    f"written to '{output}'\n{report.format_text()}", config_id=net_id,
                    hint="loosen --atol/--rtol if the difference is expected, try --trace or --exporter torchscript, "
                         "or skip the check with --no-verify")
        os.replace(tmp, output)
    finally:
        for leftover in (tmp, Path(str(tmp) + ".data")):
            if leftover.exists():
                leftover.unlink()
    logger.info("exported %s to %s", net_id, output)
    return report


def _options(job: ExportJob, format: str) -> dict[str, Any]:
    if format == "onnx":
        return {"exporter": job.exporter, "opset": job.opset or "default", "dynamic_batch": job.dynamic_batch,
                "dynamic_spatial": job.dynamic_spatial}
    return {"mode": "trace" if job.trace else "script"}


def _check_writable(output: Path) -> None:
    if output.is_dir():
        raise ExportError(f"output '{output}' is a folder", hint="give a file path, e.g. models/model.onnx")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(f"cannot create the folder of output '{output}': {err.strerror or err}",
                          hint="choose an output path in a folder you can write") from err
    if not os.access(output.parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write output '{output}': its folder is not writable",
                          hint="choose an output path in a folder you can write")


def _read_json_like(path: str | os.PathLike) -> Any:
    from bundle.config.loader import load_file

    return load_file(path)


def build_network(files: Sequence[Path], meta_file: Any, root: Path, net_id: str,
                  overrides: Mapping[str, Any] | None) -> Any:
    """Build ``net_id`` from the configs (with ``root``'s ``scripts/`` importable), in eval mode.

    Raises:
        ExportError: ``net_id`` is not defined (close ids named) or is not a ``torch.nn.Module``.
    """
    import torch

    from bundle.config.engine import Config
    from bundle.format.scripts import BundleScripts

    meta = meta_file if meta_file is not None and Path(meta_file).is_file() else None
    cfg = Config.load(*files, meta=meta, base_dir=root, overrides=overrides)
    if isinstance(cfg.get("bundle_root", None), str):
        cfg = Config.load(*files, meta=meta, base_dir=root,
                          overrides={**dict(overrides or {}), "bundle_root": str(root)})
    where = ", ".join(f.name for f in files)
    if net_id not in cfg:
        ids = [i for i in cfg.ids() if "::" not in i and "#" not in i]
        raise ExportError(f"config {where} defines no network '{net_id}'", config_id=net_id,
                          hint=did_you_mean(net_id, ids) or f"name the network's id with --net_id (top-level "
                               f"ids: {', '.join(ids[:12])})")
    with BundleScripts(root):
        network = cfg.resolve(net_id)
    if not isinstance(network, torch.nn.Module):
        raise ExportError(f"'{net_id}' in {where} is a {type(network).__name__}, not a torch.nn.Module",
                          location=cfg.where(net_id), config_id=net_id, hint="name the network's id with --net_id")
    return network.cpu().eval()


def load_checkpoint(network: Any, checkpoint: str | os.PathLike, net_id: str, key: str | None) -> None:
    """Load a state dict (``weights_only=True``) into ``network``.

    Raises:
        ExportError: it does not fit (missing, unexpected and mismatched keys listed).
        FormatError: it cannot be loaded safely, or is not a state dict.
    """
    from bundle.format.weights import fit_weights, load_state_dict

    state = load_state_dict(checkpoint, key=key or None)
    fit = fit_weights(network, state)
    if not fit.ok:
        raise ExportError(f"checkpoint '{checkpoint}' does not fit '{net_id}': {fit.describe()}",
                          location=Location(str(checkpoint)), config_id=net_id, hint=fit.hint())


_SOURCE = re.compile(r'File "([^"]+)", line (\d+)')
_QUOTED_OPERATOR = re.compile(r"operator '(?:::)?([\w.:]+)'")
_OPERATOR = re.compile(r"\b((?:aten|prim|onnx)::[A-Za-z_][\w.]*|torch\.ops\.aten\.[\w.]+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SUMMARY = re.compile(r"## Exception summary\s*\n\s*(?:<class '([\w.]+)'>: )?(.+)")


def _export_failed(err: Exception, job: ExportJob, format: str) -> ExportError:
    """An ExportError naming the exporter, the config id, the operator and source line when they are known."""
    text = _ANSI.sub("", str(err)).strip()
    kind = type(err).__name__
    detail = next((line.strip() for line in text.splitlines() if line.strip()), "")  # TorchScript starts with \n
    summary = _SUMMARY.search(text)  # the dynamo exporter puts the root cause under this heading
    if summary:
        kind, detail = (summary.group(1) or kind).rsplit(".", 1)[-1], summary.group(2).strip()
    op = _QUOTED_OPERATOR.search(text) or _OPERATOR.search(text)
    how = {"torchscript": "torch.jit.trace" if job.trace else "torch.jit.script",
           "onnx": f"torch.onnx.export ({job.exporter} exporter)"}.get(format, format)
    what = f" at the operator '{op.group(1)}'" if op else ""
    source = _SOURCE.search(text)  # TorchScript names the line of the network's code it cannot compile
    location = Location(source.group(1), int(source.group(2))) if source else None
    if format == "onnx":
        other = "torchscript" if job.exporter == "dynamo" else "dynamo"
        hint = f"try --exporter {other}" + (", or without --dynamic_spatial" if job.dynamic_spatial else "")
    else:
        hint = "try " + ("without --trace (torch.jit.script)" if job.trace else "--trace (torch.jit.trace)")
    hint += "; otherwise the network's forward needs rewriting without the construct that fails"
    return ExportError(f"{how} cannot export '{job.net_id}' of config '{job.config}'{what}: {kind}: {detail}",
                       location=location, config_id=job.net_id, hint=hint)


def check_parity(job: ExportJob, runner: Callable, *, atol: float, rtol: float) -> list[ParityCheck]:
    """Run the export and eager PyTorch on every parity shape; compare every output."""
    import torch

    checks = []
    shapes = job.spec.parity_shapes(dynamic_batch=job.dynamic_batch, dynamic_spatial=job.dynamic_spatial)
    for i, shape in enumerate(shapes):
        x = job.spec.tensor(shape, seed=i + 1)
        with torch.no_grad():
            expected = _as_numpy(job.network(x))
        check = ParityCheck(tuple(shape))
        try:
            got = runner(x)
        except BundleError:  # a missing runtime, not a finding about the export
            raise
        except Exception as err:  # the runtime rejected this input: the export does not take it
            check.error = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        else:
            check.outputs = compare_outputs(job.spec.output_names, expected, got, atol=atol, rtol=rtol)
        checks.append(check)
    return checks


def _as_numpy(output: Any) -> list[Any]:
    """A network's output(s) as a flat list of numpy arrays (tensor, tuple/list, or dict in order)."""
    import torch

    if isinstance(output, torch.Tensor):
        return [output.detach().cpu().numpy()]
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [x for o in output for x in _as_numpy(o)]
    raise ExportError(f"the network returns a {type(output).__name__}; only tensors, and tuples, lists and dicts "
                      "of tensors, can be exported")
