"""``export_bundle``: build a bundle's network from its config, load its checkpoint, export it under
its final name in a temporary folder beside the output, check it against eager PyTorch, and only
then move it (and its companion files) into place."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from bundle.config.loader import load_file
from bundle.errors import BundleError, ExportError, NetworkBuildError
from bundle.export.device import require_cuda
from bundle.export.failures import export_failed
from bundle.export.inputs import InputSpec, input_spec
from bundle.export.job import ExportJob
from bundle.export.options import ExportOptions, check_device
from bundle.export.parity import check_parity
from bundle.export.registry import COMPANIONS, default_suffix, get_exporter
from bundle.export.report import ExportReport
from bundle.export.staging import Staging
from bundle.export.tensorrt import check_requirements
from bundle.format.bundle import Bundle
from bundle.format.network import build_network
from bundle.trust import resolve_trusted

__all__ = ["check_parity", "export_bundle", "export_configs"]

logger = logging.getLogger(__name__)


def export_bundle(
    bundle_dir: str | os.PathLike,
    format: str = "torchscript",
    output: str | os.PathLike | None = None,
    config: str | Sequence[str] = "inference",
    net_id: str = "network_def",
    checkpoint: str | os.PathLike | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    options: ExportOptions | None = None,
    **option_values: Any,
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
        overrides: config overrides ``{id: value}``.
        options: how to export and check (``ExportOptions``: ``trace``, ``exporter``, ``opset``,
            ``dynamic_spatial``, ``atol``, ``rtol``, ``verify``, ``device``, ``precision``, ...).
        option_values: ``ExportOptions`` fields as keyword arguments (``trace=True``), replacing
            those of ``options``.

    Returns:
        The ``ExportReport`` (per input shape and output, the largest absolute and relative errors).

    Raises:
        ExportError: an option is invalid, the network id is unknown, the checkpoint does not fit,
            the export fails, the output cannot be written, or the export's outputs differ beyond
            tolerance; nothing is left at ``output`` then.
        MissingDependencyError: onnx/onnxruntime, CUDA, or Torch-TensorRT/TensorRT is not there.
        FormatError, ConfigError: the bundle or its configs are broken.
        TypeError: a keyword argument is not an export option.

    Example:
        >>> report = export_bundle("zoo/ellipsoid_segmentation", format="onnx", dynamic_spatial=True)
        >>> report.ok, report.output
    """
    options = ExportOptions.of(options, **option_values).for_format(format)
    bundle = Bundle(bundle_dir)
    names = [config] if isinstance(config, str) else list(config)
    files = [bundle.config_path(n) for n in names]
    ckpt = Path(checkpoint) if checkpoint is not None else bundle.weights_path("model.pt")
    if output is None:
        output = bundle.root / "models" / f"model{default_suffix(format, options.converter)}"
    return export_configs(files, meta_file=bundle.metadata_path, format=format, output=output, net_id=net_id,
                          checkpoint=ckpt, bundle_root=bundle.root, overrides=overrides, options=options)


def export_configs(
    config_files: Sequence[str | os.PathLike],
    *,
    meta_file: str | os.PathLike | None,
    format: str,
    output: str | os.PathLike,
    checkpoint: str | os.PathLike,
    net_id: str = "network_def",
    bundle_root: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    options: ExportOptions | None = None,
    **option_values: Any,
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
    options = ExportOptions.of(options, **option_values).for_format(format)
    _check_environment(format, options)
    files = [Path(f) for f in config_files]
    root = Path(bundle_root) if bundle_root is not None else files[0].resolve().parent.parent
    output = Path(output)
    _check_writable(output)
    metadata = load_file(meta_file) if meta_file is not None and Path(meta_file).is_file() else {}
    spec, no_input = _input_spec(metadata, format, options)
    name = "+".join(f.stem for f in files)
    network = _network(files, meta_file, root, net_id, overrides, checkpoint, options.key_in_ckpt)
    extra = {"metadata.json": json.dumps(metadata).encode()}
    for f in files:
        extra[f"{f.stem}.json"] = json.dumps(load_file(f)).encode()
    example = spec.tensor(spec.shape(2, 2)) if spec is not None else None
    job = ExportJob(network=network, spec=spec, example=example, net_id=net_id, config=name, metadata=metadata,
                    extra_files=extra, options=options)
    report = ExportReport(format=format, output=str(output), net_id=net_id, config=name, atol=job.atol,
                          rtol=job.rtol, options=_report_options(options, format))
    with Staging(output, companions=COMPANIONS.get(format, ())) as staging:
        start = time.perf_counter()
        try:
            runner = exporter_fn(job, staging.path)
        except BundleError:
            raise
        except Exception as err:  # whatever torch (or TensorRT) raises while scripting/tracing/exporting/building
            raise export_failed(err, job, format) from err
        report.seconds = time.perf_counter() - start
        if options.verify and spec is None:
            report.unchecked = f"no example input: {no_input}"
            logger.warning("the export of '%s' is not checked against PyTorch: %s", net_id, no_input)
        elif options.verify:
            report.verified = True
            report.checks = check_parity(job, runner, atol=job.atol, rtol=job.rtol)
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
    try:
        return build_network(files, root=root, meta=meta_file, net_id=net_id, overrides=overrides,
                             trusted=resolve_trusted(None, root), weights=checkpoint, key=key)
    except NetworkBuildError as err:
        raise ExportError(err.message, location=err.location, config_id=err.config_id, hint=err.hint) from None


def _check_environment(format: str, options: ExportOptions) -> None:
    """Raise unless the export can run here, before the network is built.

    Raises:
        ExportError: a TensorRT export on a CPU device. MissingDependencyError: CUDA (or TensorRT's
            packages) for a CUDA device (or a TensorRT export) is not there.
    """
    if format == "tensorrt":
        check_requirements(options.converter, check_device(options.device))
    elif options.device != "cpu":
        require_cuda(f"a {format} export on {options.device}")


def _input_spec(metadata: dict, format: str, options: ExportOptions) -> tuple[InputSpec | None, str]:
    """The example input's description, or (None, why) when there is none and none is needed: scripting
    (TorchScript without tracing) needs no example input, as in MONAI's ``ckpt_export``; only the parity
    check does, and it is skipped then, saying why.

    Raises:
        ExportError: no input is described and the export needs one (tracing, ONNX, TensorRT).
    """
    try:
        return _renamed(input_spec(metadata, input_shape=options.input_shape), options), ""
    except ExportError as err:
        if format != "torchscript" or options.trace:
            raise
        return None, f"{err.message} ({err.hint})"


def _renamed(spec: InputSpec, options: ExportOptions) -> InputSpec:
    if options.input_name:
        spec = replace(spec, name=options.input_name)
    if options.output_names:
        spec = replace(spec, output_names=list(options.output_names))
    return spec


def _report_options(options: ExportOptions, format: str) -> dict[str, Any]:
    report: dict[str, Any]
    if format == "onnx":
        report = {"exporter": options.exporter, "opset": options.opset or "default",
                  "dynamic_batch": options.dynamic_batch, "dynamic_spatial": options.dynamic_spatial,
                  "external_data": options.external_data}
    elif format == "tensorrt":
        report = {"converter": options.converter, "dynamic_batchsize": list(options.dynamic_batchsize or ()),
                  "dynamic_spatial": options.dynamic_spatial}
        if options.converter == "onnx":
            report["exporter"] = options.exporter
    else:
        report = {"mode": "trace" if options.trace else "script"}
    if options.device != "cpu" or format == "tensorrt":
        report["device"] = options.device
    if options.precision != "fp32" or format == "tensorrt":
        report["precision"] = options.precision
    return report


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
