"""The export commands: ``export`` (a bundle folder to TorchScript, ONNX or TensorRT, checked against
PyTorch), and MONAI's ``ckpt_export``, ``onnx_export`` and ``trt_export`` with MONAI's argument names."""

from __future__ import annotations

from typing import Any


def export(
    bundle_dir: str,
    format: str = "torchscript",
    output: str | None = None,
    config: str = "inference",
    net_id: str = "network_def",
    ckpt: str | None = None,
    key_in_ckpt: str | None = None,
    trace: bool = False,
    dynamic_spatial: bool = False,
    opset: int | None = None,
    exporter: str | None = None,
    no_verify: bool = False,
    atol: float | None = None,
    rtol: float | None = None,
    external_data: str = "auto",
    device: str | None = None,
    precision: str = "fp32",
    converter: str = "torch_tensorrt",
    dynamic_batchsize: Any = None,
    backend: str = "onnx",
    max_batch_size: int = 8,
    filepath: str | None = None,
    overrides: dict | None = None,
) -> int:
    """Export a bundle's network to TorchScript, ONNX, TensorRT or a Triton model repository and print how its
    outputs compare with PyTorch's.

    The export is written under its final name in a temporary folder beside OUTPUT, run on inputs
    shaped as the metadata's network_data_format says (several batch sizes; several spatial sizes
    with --dynamic_spatial), compared with eager PyTorch, and moved into place (with its .data or
    .json file) only when every output is within tolerance. TorchScript files carry metadata.json
    and the config as extra files; ONNX files carry name, version and network_data_format in
    metadata_props; a TensorRT engine has them in OUTPUT.json.

    Args:
        bundle_dir: the bundle folder.
        format: torchscript, onnx, or tensorrt (needs CUDA, and torch_tensorrt or tensorrt).
        output: the file to write (default models/model.ts, models/model.onnx; tensorrt:
            models/model.ts, or models/model.engine with --converter onnx).
        config: the config that defines the network.
        net_id: the network's config id.
        ckpt: the weights file (default models/model.pt), loaded with weights_only=True.
        key_in_ckpt: the key of the state dict in a nested checkpoint.
        trace: TorchScript by torch.jit.trace instead of torch.jit.script.
        dynamic_spatial: ONNX: spatial axes dynamic too (the batch axis always is); triton: default
            whether spatial_shape leaves a size open.
        opset: the ONNX opset.
        exporter: the ONNX exporter: dynamo (default; triton: torchscript when spatial sizes are open)
            or torchscript.
        no_verify: skip the parity check against eager PyTorch.
        atol: absolute tolerance of the parity check (default 1e-4 for fp32, 1e-2 for fp16).
        rtol: relative tolerance of the parity check (same defaults).
        external_data: ONNX: auto (weights in OUTPUT.data over 2 GB), always or never.
        device: cpu (default; tensorrt: cuda), cuda or cuda:N: where the export is made and checked.
        precision: fp32 or fp16 (half-precision weights, checked against the fp32 network).
        converter: tensorrt: torch_tensorrt (a TorchScript file) or onnx (TensorRT's ONNX parser).
        dynamic_batchsize: tensorrt: the batch range "[min,opt,max]" (default [1,2,4]).
        backend: triton: onnx (onnxruntime backend, 1/model.onnx) or libtorch (1/model.pt).
        max_batch_size: triton: the model's max_batch_size (dynamic batching when over 1).
        filepath: triton: the model repository folder (same as --output; default BUNDLE/models/triton).
    """
    from bundle.export.options import ExportOptions

    options = ExportOptions(key_in_ckpt=key_in_ckpt, trace=trace, exporter=exporter, opset=opset,
                            dynamic_spatial=dynamic_spatial or None, verify=not no_verify, atol=atol, rtol=rtol,
                            external_data=external_data, device=device, precision=precision, converter=converter,
                            dynamic_batchsize=dynamic_batchsize)
    if format == "triton":
        from bundle.export.triton import export_triton

        report = export_triton(bundle_dir, output or filepath, backend=backend, max_batch_size=int(max_batch_size),
                               config=config, net_id=net_id, checkpoint=ckpt, overrides=overrides, options=options)
    else:
        from bundle.export import export_bundle

        report = export_bundle(bundle_dir, format=format, output=output, config=config, net_id=net_id,
                               checkpoint=ckpt, overrides=overrides, options=options)
    print(report.format_text())
    return 0


def ckpt_export(
    net_id: str | None = None,
    filepath: str | None = None,
    ckpt_file: str | None = None,
    meta_file: Any = None,
    config_file: Any = None,
    key_in_ckpt: str | None = None,
    use_trace: bool | None = None,
    input_shape: Any = None,
    args_file: str | None = None,
    converter_kwargs: Any = None,
    no_verify: bool = False,
    overrides: dict | None = None,
) -> int:
    """Export a checkpoint to TorchScript with metadata and configs embedded (MONAI's command).

    Any --ID VALUE that is not an option overrides a config id; --bundle_root sets the folder the
    default paths (models/model.ts, models/model.pt, configs/metadata.json) are in (default: here).

    Args:
        net_id: the network's config id (default network_def).
        filepath: the TorchScript file to write (.ts added when it has no suffix).
        ckpt_file: the checkpoint.
        meta_file: the metadata file.
        config_file: the config file(s), each embedded as <name>.json.
        key_in_ckpt: the key of the state dict in a nested checkpoint.
        use_trace: torch.jit.trace instead of torch.jit.script.
        input_shape: the example input shape, e.g. "[1,1,96,96,96]".
        args_file: a JSON/YAML file with defaults for these arguments.
        converter_kwargs: more arguments for torch.jit.script/trace, as a dict.
        no_verify: skip the parity check against eager PyTorch.
    """
    from bundle.export.monai import ckpt_export as run

    report = run(net_id=net_id, filepath=filepath, ckpt_file=ckpt_file, meta_file=meta_file, config_file=config_file,
                 key_in_ckpt=key_in_ckpt, use_trace=use_trace, input_shape=input_shape, args_file=args_file,
                 converter_kwargs=converter_kwargs, verify=not no_verify, **(overrides or {}))
    print(report.format_text())
    return 0


def onnx_export(
    net_id: str | None = None,
    filepath: str | None = None,
    ckpt_file: str | None = None,
    meta_file: Any = None,
    config_file: Any = None,
    key_in_ckpt: str | None = None,
    use_trace: bool | None = None,
    input_shape: Any = None,
    args_file: str | None = None,
    converter_kwargs: Any = None,
    no_verify: bool = False,
    overrides: dict | None = None,
) -> int:
    """Export a checkpoint to ONNX with a dynamic batch axis (MONAI's command).

    Any --ID VALUE that is not an option overrides a config id; --bundle_root sets the folder the
    default paths are in (default: here).

    Args:
        net_id: the network's config id (default network_def).
        filepath: the ONNX file to write.
        ckpt_file: the checkpoint.
        meta_file: the metadata file.
        config_file: the config file(s).
        key_in_ckpt: the key of the state dict in a nested checkpoint.
        use_trace: the TorchScript-based (tracing) exporter instead of the dynamo-based one.
        input_shape: the example input shape, e.g. "[1,1,96,96,96]".
        args_file: a JSON/YAML file with defaults for these arguments.
        converter_kwargs: more arguments for torch.onnx.export, as a dict (opset_version, dynamo,
            dynamic_spatial are read).
        no_verify: skip the parity check against eager PyTorch.
    """
    from bundle.export.monai import onnx_export as run

    report = run(net_id=net_id, filepath=filepath, ckpt_file=ckpt_file, meta_file=meta_file, config_file=config_file,
                 key_in_ckpt=key_in_ckpt, use_trace=use_trace, input_shape=input_shape, args_file=args_file,
                 converter_kwargs=converter_kwargs, verify=not no_verify, **(overrides or {}))
    print(report.format_text())
    return 0


def trt_export(
    net_id: str | None = None,
    filepath: str | None = None,
    ckpt_file: str | None = None,
    meta_file: Any = None,
    config_file: Any = None,
    key_in_ckpt: str | None = None,
    precision: str | None = None,
    input_shape: Any = None,
    use_trace: bool | None = None,
    dynamic_batchsize: Any = None,
    device: int | None = None,
    use_onnx: bool | None = None,
    onnx_input_names: Any = None,
    onnx_output_names: Any = None,
    args_file: str | None = None,
    converter_kwargs: Any = None,
    no_verify: bool = False,
    overrides: dict | None = None,
) -> int:
    """Build a TensorRT engine from a checkpoint on the GPU, checked against PyTorch (MONAI's command).

    Any --ID VALUE that is not an option overrides a config id; --bundle_root sets the folder the
    default paths are in (default: here). Needs CUDA, and torch_tensorrt (tensorrt with --use_onnx).

    Args:
        net_id: the network's config id (default network_def).
        filepath: the file to write (.ts added when it has no suffix; .engine with --use_onnx).
        ckpt_file: the checkpoint.
        meta_file: the metadata file.
        config_file: the config file(s).
        key_in_ckpt: the key of the state dict in a nested checkpoint.
        precision: fp32 (default) or fp16.
        input_shape: the example input shape, e.g. "[1,1,96,96,96]".
        use_trace: with --use_onnx, the TorchScript-based (tracing) ONNX exporter.
        dynamic_batchsize: the batch range "[min,opt,max]" (default [1,2,4]).
        device: the GPU's index (default 0).
        use_onnx: through TensorRT's ONNX parser: a serialized engine and FILEPATH.json.
        onnx_input_names: the engine's input name, e.g. "['image']".
        onnx_output_names: the engine's output names, e.g. "['pred']".
        args_file: a JSON/YAML file with defaults for these arguments.
        converter_kwargs: more arguments for torch_tensorrt.compile (or torch.onnx.export and the
            builder's workspace_size, optimization_level with --use_onnx), as a dict.
        no_verify: skip the parity check against eager PyTorch.
    """
    from bundle.export.monai import trt_export as run

    report = run(net_id=net_id, filepath=filepath, ckpt_file=ckpt_file, meta_file=meta_file, config_file=config_file,
                 key_in_ckpt=key_in_ckpt, precision=precision, input_shape=input_shape, use_trace=use_trace,
                 dynamic_batchsize=dynamic_batchsize, device=device, use_onnx=use_onnx,
                 onnx_input_names=onnx_input_names, onnx_output_names=onnx_output_names, args_file=args_file,
                 converter_kwargs=converter_kwargs, verify=not no_verify, **(overrides or {}))
    print(report.format_text())
    return 0
