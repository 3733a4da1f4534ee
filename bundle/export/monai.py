"""MONAI's ``ckpt_export``, ``onnx_export`` and ``trt_export``, with MONAI's argument names, on our
exporters (every export checked against eager PyTorch, written only when it matches)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from bundle.errors import ExportError, FormatError
from bundle.export.core import export_configs
from bundle.export.options import TOLERANCES, ExportOptions
from bundle.export.registry import default_suffix
from bundle.export.report import ExportReport
from bundle.format.monai_verify import _files, _merged_args

__all__ = ["ckpt_export", "onnx_export", "trt_export"]

PathLike = str | os.PathLike
FP32_TOLERANCE = TOLERANCES["fp32"]


def _arguments(args_file: Any, given: dict) -> dict:
    return _merged_args(args_file, **given)


def _meta(value: Any) -> str | None:
    if value is None or isinstance(value, (str, os.PathLike)):
        return None if value is None else os.fspath(value)
    files = list(value)
    if len(files) != 1:
        raise FormatError(f"meta_file lists {len(files)} files; give one metadata file", hint="merge them into one")
    return os.fspath(files[0])


def ckpt_export(
    net_id: str | None = None,
    filepath: PathLike | None = None,
    ckpt_file: str | None = None,
    meta_file: str | Sequence[str] | None = None,
    config_file: str | Sequence[str] | None = None,
    key_in_ckpt: str | None = None,
    use_trace: bool | None = None,
    input_shape: Sequence[int] | None = None,
    args_file: str | None = None,
    converter_kwargs: Mapping | None = None,
    verify: bool = True,
    atol: float = FP32_TOLERANCE,
    rtol: float = FP32_TOLERANCE,
    **override: Any,
) -> ExportReport:
    """Export a checkpoint to TorchScript with the metadata and configs embedded (MONAI's ``ckpt_export``).

    Args:
        net_id: the network's config id (default ``network_def``).
        filepath: the TorchScript file (default ``{bundle_root}/models/model.ts``; ``.ts`` added when
            the name has no suffix).
        ckpt_file: the checkpoint (default ``{bundle_root}/models/model.pt``), loaded with ``weights_only=True``.
        meta_file: the metadata file (default ``{bundle_root}/configs/metadata.json``).
        config_file: the config file(s), each embedded as ``<name>.json``.
        key_in_ckpt: the key of the state dict in a nested checkpoint.
        use_trace: ``torch.jit.trace`` instead of ``torch.jit.script``.
        input_shape: the example input shape (default: from ``network_data_format``).
        args_file: a JSON/YAML file with defaults for these arguments.
        converter_kwargs: more keyword arguments for ``torch.jit.script``/``trace``.
        verify, atol, rtol: the parity check against eager PyTorch (ours; MONAI has none).
        override: config overrides (``bundle_root`` also sets the default paths above).

    Returns:
        The ``ExportReport``.

    Raises:
        FormatError: no config file given. Others: see ``bundle.export.export_bundle``.

    Example:
        >>> ckpt_export(config_file="configs/inference.json", bundle_root=".")
    """
    args = _arguments(args_file, dict(net_id=net_id, filepath=filepath, ckpt_file=ckpt_file, meta_file=meta_file,
                                      config_file=config_file, key_in_ckpt=key_in_ckpt, use_trace=use_trace,
                                      input_shape=input_shape, converter_kwargs=converter_kwargs, **override))
    return _export("torchscript", args, verify=verify, atol=atol, rtol=rtol)


def onnx_export(
    net_id: str | None = None,
    filepath: PathLike | None = None,
    ckpt_file: str | None = None,
    meta_file: str | Sequence[str] | None = None,
    config_file: str | Sequence[str] | None = None,
    key_in_ckpt: str | None = None,
    use_trace: bool | None = None,
    input_shape: Sequence[int] | None = None,
    args_file: str | None = None,
    converter_kwargs: Mapping | None = None,
    verify: bool = True,
    atol: float = FP32_TOLERANCE,
    rtol: float = FP32_TOLERANCE,
    **override: Any,
) -> ExportReport:
    """Export a checkpoint to ONNX (MONAI's ``onnx_export``), with a dynamic batch axis.

    Args:
        use_trace: use the TorchScript-based (tracing) exporter instead of the dynamo-based one.
        converter_kwargs: more keyword arguments for ``torch.onnx.export``; ``opset_version``,
            ``dynamo`` (False: the TorchScript-based exporter) and ``dynamic_spatial`` are read here.
        Others: as ``ckpt_export`` (``filepath`` defaults to ``{bundle_root}/models/model.onnx``).

    Example:
        >>> onnx_export(filepath="models/model.onnx", ckpt_file="models/model.pt",
        ...             meta_file="configs/metadata.json", config_file="configs/inference.json")
    """
    args = _arguments(args_file, dict(net_id=net_id, filepath=filepath, ckpt_file=ckpt_file, meta_file=meta_file,
                                      config_file=config_file, key_in_ckpt=key_in_ckpt, use_trace=use_trace,
                                      input_shape=input_shape, converter_kwargs=converter_kwargs, **override))
    return _export("onnx", args, verify=verify, atol=atol, rtol=rtol)


def trt_export(
    net_id: str | None = None,
    filepath: PathLike | None = None,
    ckpt_file: str | None = None,
    meta_file: str | Sequence[str] | None = None,
    config_file: str | Sequence[str] | None = None,
    key_in_ckpt: str | None = None,
    precision: str | None = None,
    input_shape: Sequence[int] | None = None,
    use_trace: bool | None = None,
    dynamic_batchsize: Sequence[int] | None = None,
    device: int | None = None,
    use_onnx: bool | None = None,
    onnx_input_names: Sequence[str] | None = None,
    onnx_output_names: Sequence[str] | None = None,
    args_file: str | None = None,
    converter_kwargs: Mapping | None = None,
    verify: bool = True,
    atol: float | None = None,
    rtol: float | None = None,
    **override: Any,
) -> ExportReport:
    """Build a TensorRT engine from a checkpoint (MONAI's ``trt_export``), checked on the GPU.

    Args:
        precision: ``fp32`` (default) or ``fp16``.
        dynamic_batchsize: the batch range ``[min, opt, max]`` (default ``[1, 2, 4]``; MONAI's
            default, a fixed batch, is ``[N, N, N]``).
        device: the GPU's index (default 0).
        use_onnx: through TensorRT's ONNX parser (a serialized engine at ``filepath``, with
            ``<filepath>.json``) instead of Torch-TensorRT (a TorchScript file).
        use_trace: with ``use_onnx``, the TorchScript-based (tracing) ONNX exporter.
        onnx_input_names, onnx_output_names: the engine's input and output names (one input;
            default: the metadata's, e.g. ``image``/``pred``).
        converter_kwargs: more arguments for ``torch_tensorrt.compile``, or with ``use_onnx`` for
            ``torch.onnx.export`` and the builder (``workspace_size``, ``optimization_level``).
        atol, rtol: the parity tolerances (default 1e-4 for fp32, 1e-2 for fp16).
        Others: as ``ckpt_export`` (``filepath`` defaults to ``{bundle_root}/models/model.ts``, or
            ``model.engine`` with ``use_onnx``; a name without suffix gets that suffix).

    Raises:
        MissingDependencyError: no CUDA GPU, or torch_tensorrt (tensorrt with ``use_onnx``) missing.
        ExportError: a bad precision, batch range or input names. Others: see ``export_bundle``.

    Example:
        >>> trt_export(config_file="configs/inference.json", bundle_root=".", precision="fp16",
        ...            dynamic_batchsize=[1, 4, 8], use_onnx=True)
    """
    args = _arguments(args_file, dict(net_id=net_id, filepath=filepath, ckpt_file=ckpt_file, meta_file=meta_file,
                                      config_file=config_file, key_in_ckpt=key_in_ckpt, precision=precision,
                                      input_shape=input_shape, use_trace=use_trace,
                                      dynamic_batchsize=dynamic_batchsize, device=device, use_onnx=use_onnx,
                                      onnx_input_names=onnx_input_names, onnx_output_names=onnx_output_names,
                                      converter_kwargs=converter_kwargs, **override))
    return _export("tensorrt", args, verify=verify, atol=atol, rtol=rtol)


def _export(format: str, args: dict, *, verify: bool, atol: float | None, rtol: float | None) -> ExportReport:
    """Export with MONAI's arguments (``args``, popped as they are read: what is left are config overrides)."""
    configs = _files(args.pop("config_file", None), "config file", "config_file")
    root = Path(args.pop("bundle_root", None) or os.getcwd())
    net_id = args.pop("net_id", None) or "network_def"
    options = _options(format, args, verify=verify, atol=atol, rtol=rtol)
    suffix = default_suffix(format, options.converter)
    filepath = Path(args.pop("filepath", None) or root / "models" / f"model{suffix}")
    if not filepath.suffix:
        filepath = filepath.with_suffix(suffix)
    ckpt = args.pop("ckpt_file", None) or root / "models" / "model.pt"
    meta = _meta(args.pop("meta_file", None)) or root / "configs" / "metadata.json"
    overrides = args  # what is left are config overrides; bundle_root is set when the config has one
    return export_configs(configs, meta_file=meta, format=format, output=filepath, checkpoint=ckpt, net_id=net_id,
                          bundle_root=root, overrides=overrides or None, options=options)


def _options(format: str, args: dict, *, verify: bool, atol: float | None, rtol: float | None) -> ExportOptions:
    """``ExportOptions`` from MONAI's names (popped from ``args``): ``use_trace``, ``converter_kwargs``'s
    ``opset_version``/``dynamo``/``dynamic_spatial``, and trt_export's ``precision``, ``device``, ``use_onnx``,
    ``dynamic_batchsize`` and ``onnx_input_names``/``onnx_output_names``."""
    converter_kwargs = dict(args.pop("converter_kwargs", None) or {})
    use_trace = bool(args.pop("use_trace", None))
    values: dict[str, Any] = {"key_in_ckpt": args.pop("key_in_ckpt", None) or None,
                              "input_shape": args.pop("input_shape", None) or None,
                              "verify": verify, "atol": atol, "rtol": rtol}
    if format == "torchscript":
        values["trace"] = use_trace
    else:
        values.update(exporter="torchscript" if use_trace or converter_kwargs.pop("dynamo", True) is False else "dynamo",
                      opset=converter_kwargs.pop("opset_version", None),
                      dynamic_spatial=bool(converter_kwargs.pop("dynamic_spatial", False)))
    if format == "tensorrt":
        inputs = list(args.pop("onnx_input_names", None) or [])
        if len(inputs) > 1:
            raise ExportError(f"onnx_input_names names {len(inputs)} inputs; bundle exports networks of one input",
                              hint="give one name, e.g. --onnx_input_names \"['image']\"")
        device = args.pop("device", None)
        values.update(precision=args.pop("precision", None) or "fp32", device=0 if device is None else device,
                      converter="onnx" if args.pop("use_onnx", None) else "torch_tensorrt",
                      dynamic_batchsize=args.pop("dynamic_batchsize", None), input_name=inputs[0] if inputs else None,
                      output_names=list(args.pop("onnx_output_names", None) or []) or None)
    return ExportOptions(converter_kwargs=converter_kwargs, **values)
