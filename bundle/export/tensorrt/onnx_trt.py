"""TensorRT through its ONNX parser: the network exported to ONNX (our ONNX exporter, in the job's
precision), parsed into a strongly typed TensorRT network, built for the input's shape range, and
written as a serialized engine with the bundle metadata beside it in ``<output>.json``."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from bundle.errors import ExportError
from bundle.export.onnx import export_onnx
from bundle.export.tensorrt.engine import TensorRTEngine, trt_logger

if TYPE_CHECKING:
    from bundle.export.job import ExportJob
    from bundle.export.tensorrt.profile import ShapeRange

__all__ = ["BUILDER_SETTINGS", "build_engine", "engine_metadata", "export_onnx_tensorrt"]

# converter_kwargs read by the builder; the others go to torch.onnx.export
BUILDER_SETTINGS = ("workspace_size", "optimization_level")


def export_onnx_tensorrt(job: "ExportJob", path: Path, shapes: "ShapeRange") -> Callable[[Any], list[Any]]:
    """Export ONNX, build a TensorRT engine from it, and write the engine to ``path`` and its
    metadata to ``path.name + ".json"`` beside it.

    ``job.options.converter_kwargs`` ``workspace_size`` (bytes) and ``optimization_level`` (0-5) go to the
    builder; the rest to ``torch.onnx.export``. fp16 exports the half-precision network, so the
    engine's inputs and outputs are float16 and its layers follow the ONNX types.

    Returns:
        A function running the engine on ``job.options.device``: input tensor -> numpy outputs.

    Raises:
        ExportError: TensorRT's parser rejects the ONNX model or the builder builds no engine
            (TensorRT's own error messages quoted).
    """
    settings = {k: v for k, v in job.options.converter_kwargs.items() if k in BUILDER_SETTINGS}
    onnx_kwargs = {k: v for k, v in job.options.converter_kwargs.items() if k not in BUILDER_SETTINGS}
    # The batch axis is always dynamic in the ONNX model: the engine's profile sets its range.
    onnx_job = dataclasses.replace(job, options=dataclasses.replace(job.options, dynamic_batch=True,
                                                                     converter_kwargs=onnx_kwargs))
    with tempfile.TemporaryDirectory(prefix=".onnx-for-tensorrt.", dir=path.parent) as work:
        onnx_path = Path(work) / "model.onnx"
        export_onnx(onnx_job, onnx_path)  # its external data, if any, sits beside it for the parser
        engine = build_engine(onnx_path, shapes, job.input_spec.name, job.options.precision, settings,
                              net_id=job.net_id)
    path.write_bytes(engine)
    meta_path = path.with_name(path.name + ".json")
    meta_path.write_text(json.dumps(engine_metadata(job, shapes), indent=2) + "\n")
    runner = TensorRTEngine(path, job.device, output_order=job.input_spec.output_names)
    return lambda x: runner(x)


def build_engine(onnx_path: Path, shapes: "ShapeRange", input_name: str, precision: str,
                 settings: Mapping[str, Any] | None = None, *, net_id: str = "network_def") -> bytes:
    """A serialized TensorRT engine for the ONNX file ``onnx_path``.

    The network is strongly typed where TensorRT has the flag (10 and later; always in 11): the
    ONNX model's types decide each layer's precision. Older TensorRT builds it weakly typed with
    the FP16 flag for fp16. fp32 clears the TF32 flag: TF32 rounding alone exceeds the fp32
    tolerance.

    Args:
        onnx_path: the ONNX model (external data beside it is read too).
        shapes: the input's min/opt/max shapes (the optimization profile).
        input_name: the ONNX input the profile is for.
        precision: ``fp32`` or ``fp16``.
        settings: ``workspace_size`` (bytes), ``optimization_level`` (0-5).
        net_id: named in errors.

    Raises:
        ExportError: the parser rejects the model, a setting is unknown, or no engine is built.
    """
    import tensorrt as trt

    unknown = sorted(set(settings or {}) - set(BUILDER_SETTINGS))
    if unknown:
        raise ExportError(f"unknown TensorRT builder settings {unknown}", hint=f"use {', '.join(BUILDER_SETTINGS)}")
    errors: list[str] = []
    log = trt_logger(trt, errors)
    builder = trt.Builder(log)
    flags = 0
    strongly_typed = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    if int(trt.__version__.split(".")[0]) < 10:  # TensorRT 8's ONNX parser needs explicit batch networks
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, log)
    if not parser.parse_from_file(str(onnx_path)):
        found = [str(parser.get_error(i)) for i in range(parser.num_errors)] or errors
        raise ExportError(f"TensorRT's ONNX parser cannot read the ONNX export of '{net_id}': {'; '.join(found)}",
                          config_id=net_id, hint="try --converter torch_tensorrt, or --exporter torchscript")
    config = builder.create_builder_config()
    if precision == "fp16" and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    settings = settings or {}
    if "workspace_size" in settings:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings["workspace_size"]))
    if "optimization_level" in settings:
        config.builder_optimization_level = int(settings["optimization_level"])
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, shapes.min, shapes.opt, shapes.max)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"TensorRT built no engine for '{net_id}'" + (f": {errors[-1]}" if errors else ""),
                          config_id=net_id, hint="see TensorRT's messages in the log (logger "
                                                 "bundle.export.tensorrt.engine); try --converter torch_tensorrt")
    return bytes(serialized)


def engine_metadata(job: "ExportJob", shapes: "ShapeRange") -> dict[str, Any]:
    """What ``<engine>.json`` holds: how the engine was built, its inputs and outputs, and the
    bundle's metadata and configs (what a TorchScript export carries as extra files)."""
    import tensorrt as trt

    configs = {name[:-len(".json")]: json.loads(data) for name, data in job.extra_files.items()
               if name != "metadata.json"}
    spec = job.input_spec
    return {
        "format": "tensorrt-engine",
        "tensorrt_version": trt.__version__,
        "converter": "onnx",
        "precision": job.options.precision,
        "net_id": job.net_id,
        "config": job.config,
        "inputs": {spec.name: {"dtype": "float16" if job.options.precision == "fp16" and spec.dtype.is_floating_point
                               else str(spec.dtype).replace("torch.", ""), **shapes.as_dict()}},
        "outputs": list(spec.output_names),
        "metadata": job.metadata,
        "configs": configs,
    }
