"""``export_bundle``: build a bundle's network from its config, load its checkpoint, export it under
its final name in a temporary folder beside the output, check it against eager PyTorch, and only
then move it (and its companion files) into place."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from bundle.errors import BundleError, ExportError, NetworkBuildError
from bundle.export.device import check_device, check_precision, require_cuda, tolerance
from bundle.export.inputs import InputSpec, input_spec
from bundle.export.job import ExportJob
from bundle.export.failures import export_failed
from bundle.export.parity import check_parity
from bundle.export.registry import COMPANIONS, default_suffix, get_exporter
from bundle.export.report import ExportReport
from bundle.export.staging import Staging

__all__ = ["check_parity", "export_bundle", "export_configs"]

logger = logging.getLogger(__name__)

FP32_TOLERANCE = 1e-4


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
    atol: float | None = None,
    rtol: float | None = None,
    overrides: Mapping[str, Any] | None = None,
    converter_kwargs: Mapping[str, Any] | None = None,
    external_data: str = "auto",
    device: str | int | None = None,
    precision: str = "fp32",
    converter: str = "torch_tensorrt",
    dynamic_batchsize: Sequence[int] | str | None = None,
) -> ExportReport:
    """Export a bundle's network and check the export against eager PyTorch.

    Args:
        bundle_dir: the bundle folder.
        format: ``torchscript``, ``onnx`` or ``tensorrt`` (needs CUDA, and Torch-TensorRT or TensorRT).
        output: the file to write; default ``models/model.ts``, ``models/model.onnx``, or for
            TensorRT ``models/model.ts`` (torch_tensorrt) / ``models/model.engine`` (onnx).
        config: the config (or configs, merged in order) that defines the network.
        net_id: the network's config id.
        checkpoint: the weights (a state dict); default ``models/model.pt``.
        key_in_ckpt: the key holding the state dict in a nested checkpoint.
        trace: TorchScript by ``torch.jit.trace`` instead of ``torch.jit.script``.
        exporter: for ONNX (and TensorRT's onnx converter), ``dynamo`` (``torch.export``-based) or
            ``torchscript`` (the older one).
        opset: the ONNX opset (default: the exporter's).
        dynamic_batch: ONNX: the batch axis is dynamic.
        dynamic_spatial: ONNX: the spatial axes are dynamic too; TensorRT: the profile spans
            ``n`` = 1 to 4 in ``spatial_shape`` instead of the example's size.
        input_shape: an input shape (batch first) instead of the one ``network_data_format`` gives.
        verify: check the export against eager PyTorch (False skips it, explicitly).
        atol, rtol: the parity tolerances (default 1e-4 for fp32, 1e-2 for fp16).
        overrides: config overrides ``{id: value}``.
        converter_kwargs: more keyword arguments for the underlying export call.
        external_data: ONNX: ``auto`` (weights in ``<output>.data`` when the model is over 2 GB),
            ``always`` or ``never``.
        device: where the export is made and checked: ``cpu`` (default; TensorRT: ``cuda``),
            ``cuda`` or ``cuda:N``.
        precision: ``fp32`` or ``fp16`` (half-precision weights; the reference stays fp32).
        converter: TensorRT: ``torch_tensorrt`` (a TorchScript file with the engines inside) or
            ``onnx`` (TensorRT's ONNX parser; a serialized engine and ``<output>.json``).
        dynamic_batchsize: TensorRT: the batch range ``[min, opt, max]`` (default ``[1, 2, 4]``).

    Returns:
        The ``ExportReport`` (per input shape and output, the largest absolute and relative errors).

    Raises:
        ExportError: an option is invalid, the network id is unknown, the checkpoint does not fit,
            the export fails, the output cannot be written, or the export's outputs differ beyond
            tolerance; nothing is left at ``output`` then.
        MissingDependencyError: onnx/onnxruntime, CUDA, or Torch-TensorRT/TensorRT is not there.
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
        if format == "tensorrt":
            from bundle.export.tensorrt import check_converter

            converter = check_converter(converter)
        output = bundle.root / "models" / f"model{default_suffix(format, converter)}"
    return export_configs(
        files, meta_file=bundle.metadata_path, format=format, output=output, net_id=net_id, checkpoint=ckpt,
        bundle_root=bundle.root, key_in_ckpt=key_in_ckpt, trace=trace, exporter=exporter, opset=opset,
        dynamic_batch=dynamic_batch, dynamic_spatial=dynamic_spatial, input_shape=input_shape, verify=verify,
        atol=atol, rtol=rtol, overrides=overrides, converter_kwargs=converter_kwargs, external_data=external_data,
        device=device, precision=precision, converter=converter, dynamic_batchsize=dynamic_batchsize,
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
    atol: float | None = None,
    rtol: float | None = None,
    overrides: Mapping[str, Any] | None = None,
    converter_kwargs: Mapping[str, Any] | None = None,
    external_data: str = "auto",
    device: str | int | None = None,
    precision: str = "fp32",
    converter: str = "torch_tensorrt",
    dynamic_batchsize: Sequence[int] | str | None = None,
    io_names: tuple[str | None, Sequence[str] | None] = (None, None),
) -> ExportReport:
    """``export_bundle`` for config files that need not sit in a bundle folder (MONAI's calling style).

    Args:
        config_files: the configs, merged in order; each is embedded in a TorchScript export.
        meta_file: the metadata file (its ``network_data_format`` shapes the example inputs).
        bundle_root: the folder the configs' ``bundle_root`` is set to, and whose ``scripts/`` is
            importable while the network is built (default: the configs' parent's parent).
        io_names: (input name, output names) replacing the metadata's in ONNX and TensorRT
            exports (MONAI's ``onnx_input_names``/``onnx_output_names``); None keeps them.
        Others: see ``export_bundle``.

    Raises:
        See ``export_bundle``.
    """
    exporter_fn = get_exporter(format)
    job_options = _checked_options(format, exporter=exporter, external_data=external_data, device=device,
                                   precision=precision, converter=converter, dynamic_batchsize=dynamic_batchsize)
    atol, rtol = tolerance(job_options["precision"], atol), tolerance(job_options["precision"], rtol)
    files = [Path(f) for f in config_files]
    root = Path(bundle_root) if bundle_root is not None else files[0].resolve().parent.parent
    output = Path(output)
    _check_writable(output)
    metadata = _read_json_like(meta_file) if meta_file is not None and Path(meta_file).is_file() else {}
    spec = _renamed(input_spec(metadata, input_shape=input_shape), *io_names)
    name = "+".join(f.stem for f in files)
    network = _network(files, meta_file, root, net_id, overrides, checkpoint, key_in_ckpt)
    extra = {"metadata.json": json.dumps(metadata).encode()}
    for f in files:
        extra[f"{f.stem}.json"] = json.dumps(_read_json_like(f)).encode()
    example = spec.tensor(spec.shape(2, 2))
    job = ExportJob(network=network, spec=spec, example=example, net_id=net_id, config=name, metadata=metadata,
                    extra_files=extra, trace=trace, opset=opset, dynamic_batch=dynamic_batch,
                    dynamic_spatial=dynamic_spatial, converter_kwargs=dict(converter_kwargs or {}), **job_options)
    report = ExportReport(format=format, output=str(output), net_id=net_id, config=name, atol=atol, rtol=rtol,
                          options=_report_options(job, format))
    with Staging(output, companions=COMPANIONS.get(format, ())) as staging:
        start = time.perf_counter()
        try:
            runner = exporter_fn(job, staging.path)
        except BundleError:
            raise
        except Exception as err:  # whatever torch (or TensorRT) raises while scripting/tracing/exporting/building
            raise export_failed(err, job, format) from err
        report.seconds = time.perf_counter() - start
        if verify:
            report.verified = True
            report.checks = check_parity(job, runner, atol=atol, rtol=rtol)
            if not report.ok:
                raise ExportError(
                    f"the {format} export of '{net_id}' differs from eager PyTorch beyond tolerance; nothing was "
                    f"written to '{output}'\n{report.format_text()}", config_id=net_id,
                    hint="loosen atol/rtol if the difference is expected, try trace=True or exporter='torchscript', "
                         "or skip the check with verify=False (the same options on the command line: "
                         "--atol, --rtol, --trace, --exporter, --no-verify)")
        del runner  # lets go of the runtime's session and its open files before they are moved
        report.files = [str(p) for p in staging.publish()]
    logger.info("exported %s to %s", net_id, output)
    return report


def _network(files: list[Path], meta_file: Any, root: Path, net_id: str, overrides: Mapping[str, Any] | None,
             checkpoint: str | os.PathLike, key: str | None) -> Any:
    """The network to export, through the one builder (``bundle.format.network``); what it finds wrong is an
    ``ExportError`` here, the exporters' error."""
    from bundle.format.network import build_network
    from bundle.trust import resolve_trusted

    try:
        return build_network(files, root=root, meta=meta_file, net_id=net_id, overrides=overrides,
                             trusted=resolve_trusted(None, root), weights=checkpoint, key=key)
    except NetworkBuildError as err:
        raise ExportError(err.message, location=err.location, config_id=err.config_id, hint=err.hint) from None


def _checked_options(format: str, *, exporter: str, external_data: str, device: Any, precision: str,
                     converter: str, dynamic_batchsize: Any) -> dict[str, Any]:
    """The job's options, each checked (before the network is built), with the format's defaults.

    Raises:
        ExportError: an option has no valid value. MissingDependencyError: CUDA (or TensorRT's
            packages) for a CUDA device (or a TensorRT export) is not there.
    """
    from bundle.export.onnx import check_external_data

    if exporter not in ("dynamo", "torchscript"):
        raise ExportError(f"unknown ONNX exporter '{exporter}'", hint="use 'dynamo' (default) or 'torchscript'")
    options = {"exporter": exporter, "external_data": check_external_data(external_data),
               "precision": check_precision(precision), "converter": converter, "dynamic_batchsize": None}
    if format == "tensorrt":
        from bundle.export.tensorrt import check_converter, check_requirements
        from bundle.export.tensorrt.profile import check_batch_range

        options["converter"] = check_converter(converter)
        options["dynamic_batchsize"] = check_batch_range(dynamic_batchsize)
        options["device"] = check_device("cuda" if device is None else device)
        check_requirements(options["converter"], options["device"])
    else:
        options["device"] = check_device(device)
        if options["device"] != "cpu":
            require_cuda(f"a {format} export on {options['device']}")
    return options


def _renamed(spec: InputSpec, input_name: str | None, output_names: Sequence[str] | None) -> InputSpec:
    from dataclasses import replace

    if input_name:
        spec = replace(spec, name=str(input_name))
    if output_names:
        spec = replace(spec, output_names=[str(n) for n in output_names])
    return spec


def _report_options(job: ExportJob, format: str) -> dict[str, Any]:
    if format == "onnx":
        options = {"exporter": job.exporter, "opset": job.opset or "default", "dynamic_batch": job.dynamic_batch,
                   "dynamic_spatial": job.dynamic_spatial, "external_data": job.external_data}
    elif format == "tensorrt":
        options = {"converter": job.converter, "dynamic_batchsize": list(job.dynamic_batchsize or ()),
                   "dynamic_spatial": job.dynamic_spatial}
        if job.converter == "onnx":
            options["exporter"] = job.exporter
    else:
        options = {"mode": "trace" if job.trace else "script"}
    if job.device != "cpu" or format == "tensorrt":
        options["device"] = job.device
    if job.precision != "fp32" or format == "tensorrt":
        options["precision"] = job.precision
    return options


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
