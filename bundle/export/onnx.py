"""ONNX export (``torch.onnx.export``, dynamo-based by default or the TorchScript-based one), checked
with ``onnx.checker`` and run back through onnxruntime; bundle metadata goes in ``metadata_props``,
and the weights go in ``<name>.data`` beside the file when the model is over protobuf's 2 GB limit."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bundle.errors import ExportError, MissingDependencyError
from bundle.export.device import example_for_export, network_for_export, runtime_input
from bundle.export.options import check_external_data

if TYPE_CHECKING:
    from bundle.export.job import ExportJob

__all__ = ["data_file_name", "export_onnx", "needs_external_data",
           "proto_tensor_bytes", "read_metadata_props"]

logger = logging.getLogger(__name__)

PROTOBUF_LIMIT = 2**31 - 1  # a serialized protobuf message cannot be larger
# Room for what surrounds the tensors (nodes, names, shapes, metadata) and for small constants
# the byte count leaves out; a model's graph is far smaller than this.
EXTERNAL_DATA_MARGIN = 256 * 2**20
EXTERNAL_DATA_LIMIT = PROTOBUF_LIMIT - EXTERNAL_DATA_MARGIN
SIZE_THRESHOLD = 1024  # tensors smaller than this (biases, shapes) stay inside the .onnx file


def _require(package: str, purpose: str) -> Any:
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingDependencyError(package, extra="onnx", purpose=purpose) from None


def needs_external_data(mode: str, tensor_bytes: int, *, limit: int = EXTERNAL_DATA_LIMIT) -> bool:
    """Whether to save the weights in a separate ``.data`` file.

    Args:
        mode: ``auto`` (only when the model would not fit one protobuf message), ``always`` or ``never``.
        tensor_bytes: the bytes of the model's tensors (``ModelProto.ByteSize()`` itself fails
            beyond 2 GB, so the size is judged from the tensors).
        limit: the size above which ``auto`` saves external data (2 GB less a margin for the graph).

    Raises:
        ExportError: ``never`` for a model over ``limit``, which cannot be saved in one file.

    Example:
        >>> needs_external_data("auto", 3 * 2**30), needs_external_data("auto", 10**6)
        (True, False)
    """
    mode = check_external_data(mode)
    too_big = tensor_bytes > limit
    if mode == "never" and too_big:
        raise ExportError(f"the model's tensors take {tensor_bytes / 2**30:.2f} GiB, more than one ONNX file can hold "
                          f"(protobuf's 2 GB limit), and external_data is 'never'",
                          hint="use --external_data auto (default) or always: the weights then go in <output>.data")
    return mode == "always" or (mode == "auto" and too_big)


def data_file_name(path: str | Path) -> str:
    """The external data file's name for the ONNX file ``path`` (``model.onnx`` -> ``model.onnx.data``)."""
    return f"{Path(path).name}.data"


def proto_tensor_bytes(model: Any) -> int:
    """The bytes of every tensor in an ``onnx.ModelProto`` (initializers, tensor attributes, subgraphs)."""
    total = 0
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        tensors = list(graph.initializer) + [s.values for s in graph.sparse_initializer]
        for node in graph.node:
            for attr in node.attribute:
                tensors += ([attr.t] if attr.HasField("t") else []) + list(attr.tensors)
                graphs += ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
        total += sum(_tensor_bytes(t) for t in tensors)
    return total


def _tensor_bytes(tensor: Any) -> int:
    if tensor.HasField("raw_data"):
        return len(tensor.raw_data)
    external = {e.key: e.value for e in tensor.external_data}
    if "length" in external:
        return int(external["length"])
    return tensor.ByteSize()  # typed fields (float_data, ...): one tensor, far below 2 GB


def _program_tensor_bytes(program: Any) -> int:
    # The dynamo exporter keeps weights, and the constants its optimizer lifts, as initializers.
    return sum(v.const_value.nbytes for v in program.model.graph.initializers.values() if v.const_value is not None)


def _props(job: "ExportJob") -> dict[str, str]:
    return {"name": str(job.metadata.get("name", "")), "version": str(job.metadata.get("version", "")),
            "network_data_format": json.dumps(job.metadata.get("network_data_format", {})),
            "net_id": job.net_id, "config": job.config, "precision": job.options.precision}


def export_onnx(job: "ExportJob", path: Path) -> Callable[[Any], list[Any]]:
    """Export the network to ONNX at ``path``, check it, and add the bundle's metadata.

    With ``job.options.external_data`` ``always``, or ``auto`` and a model over 2 GB, the weights go in
    ``path.name + ".data"`` in the same folder, the name recorded inside the model: ``path`` must
    therefore carry its final name (``export_configs`` writes it in a temporary folder).

    Returns:
        A function running ``path`` in onnxruntime on ``job.options.device``: input tensor -> numpy outputs.

    Raises:
        MissingDependencyError: onnx (or onnxscript, for the dynamo exporter) is not installed;
            onnxruntime (with CUDA for a CUDA device) is needed when the function returned is called.
        ExportError: ``never`` keeps the weights inside, but the model is over 2 GB.
    """
    onnx = _require("onnx", "ONNX export")
    path = Path(path)
    (path.parent / data_file_name(path)).unlink(missing_ok=True)  # onnx appends to an existing data file
    if job.options.exporter == "dynamo":
        _require("onnxscript", "the dynamo-based ONNX exporter")
        _export_dynamo(job, path, onnx)
    else:
        _export_torchscript_based(job, path, onnx)
    # By path: a model with external data is checked with its tensors, and none is over 2 GB in memory.
    onnx.checker.check_model(str(path), full_check=True)
    return _runner(job, path)


def _axes(job: "ExportJob") -> range:
    return range(2 if job.input_spec.channels > 0 or job.input_spec.fixed_shape else 1, job.example.dim())


def _export_dynamo(job: "ExportJob", path: Path, onnx: Any) -> None:
    import torch

    kwargs: dict[str, Any] = {"input_names": [job.input_spec.name], "output_names": list(job.input_spec.output_names)}
    if job.options.opset is not None:
        kwargs["opset_version"] = int(job.options.opset)
    axes: dict[int, Any] = {}
    if job.options.dynamic_batch:
        axes[0] = torch.export.Dim("batch", min=1)
    if job.options.dynamic_spatial:
        axes.update(dict.fromkeys(_axes(job), torch.export.Dim.AUTO))
    if axes:
        kwargs["dynamic_shapes"] = (axes,)
    kwargs["verbose"] = False  # the dynamo exporter otherwise prints its progress
    kwargs.update(job.options.converter_kwargs)
    # No file given: torch returns the ONNXProgram, whose model holds the weights as torch tensors
    # (no protobuf yet), so nothing fails on size before the save below.
    program = torch.onnx.export(network_for_export(job), (example_for_export(job),), dynamo=True, **kwargs)
    assert program is not None  # torch returns None only when given a file
    program.model.metadata_props.clear()
    program.model.metadata_props.update(_props(job))
    size = _program_tensor_bytes(program)
    if needs_external_data(job.options.external_data, size, limit=EXTERNAL_DATA_LIMIT):
        logger.info("%s: %.1f MiB of tensors go in %s", path.name, size / 2**20, data_file_name(path))
        # Streams each weight into path.name + ".data" (the name recorded in the model) without
        # building the whole ModelProto in memory.
        program.save(str(path), external_data=True)
    else:
        onnx.save_model(program.model_proto, str(path))


def _export_torchscript_based(job: "ExportJob", path: Path, onnx: Any) -> None:
    import warnings

    import torch

    in_name, out_names = job.input_spec.name, list(job.input_spec.output_names)
    kwargs: dict[str, Any] = {"input_names": [in_name], "output_names": out_names}
    if job.options.opset is not None:
        kwargs["opset_version"] = int(job.options.opset)
    axes_names: dict[int, str] = {0: "batch"} if job.options.dynamic_batch else {}
    if job.options.dynamic_spatial:
        axes_names.update({a: f"dim_{a}" for a in _axes(job)})
    if axes_names:
        kwargs["dynamic_axes"] = {in_name: axes_names, **{o: {0: "batch"} for o in out_names if job.options.dynamic_batch}}
    kwargs.update(job.options.converter_kwargs)
    # Over 2 GB this exporter writes one file per tensor beside its output: a folder of its own
    # keeps them away from path's, and goes with them.
    with tempfile.TemporaryDirectory(prefix=".onnx-export.", dir=path.parent) as raw_dir:
        raw = Path(raw_dir) / path.name
        with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated, and chosen on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(network_for_export(job), (example_for_export(job),), str(raw), dynamo=False, **kwargs)
        model = onnx.load(str(raw))  # with its external tensors, if any, in memory
    del model.metadata_props[:]
    for key, value in _props(job).items():
        model.metadata_props.add(key=key, value=value)
    size = proto_tensor_bytes(model)
    if needs_external_data(job.options.external_data, size, limit=EXTERNAL_DATA_LIMIT):
        logger.info("%s: %.1f MiB of tensors go in %s", path.name, size / 2**20, data_file_name(path))
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data_file_name(path), size_threshold=SIZE_THRESHOLD, convert_attribute=False)
    else:
        onnx.save_model(model, str(path))


def _runner(job: "ExportJob", path: Path) -> Callable[[Any], list[Any]]:
    sessions: list[Any] = []

    def run(x: Any) -> list[Any]:
        if not sessions:
            sessions.append(_session(path, job.device))
        session = sessions[0]
        feed = runtime_input(x, job).detach().cpu().numpy()
        return list(session.run(None, {session.get_inputs()[0].name: feed}))

    return run


def _session(path: Path, device: str) -> Any:
    """An onnxruntime session on ``device`` (the external data file is read from beside ``path``)."""
    ort = _require("onnxruntime", "checking an ONNX export against PyTorch")
    if not device.startswith("cuda"):
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise MissingDependencyError("onnxruntime-gpu", purpose="running an ONNX export on CUDA (--device cuda)")
    options = {"device_id": int(device.partition(":")[2] or 0), "use_tf32": "0"}  # exact fp32, as the reference
    try:
        session = ort.InferenceSession(str(path), providers=[("CUDAExecutionProvider", options), "CPUExecutionProvider"])
    except Exception as err:  # an onnxruntime older than the use_tf32 option rejects it
        if "use_tf32" not in str(err):
            raise
        del options["use_tf32"]
        session = ort.InferenceSession(str(path), providers=[("CUDAExecutionProvider", options), "CPUExecutionProvider"])
    if session.get_providers()[0] != "CUDAExecutionProvider":  # onnxruntime falls back to the CPU quietly
        raise ExportError(f"onnxruntime could not use CUDA for '{path.name}' (providers: {session.get_providers()})",
                          hint="install onnxruntime-gpu matching your CUDA and cuDNN, or check on the CPU (--device cpu)")
    return session


def read_metadata_props(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict (its external data, if any, is not read).

    Example:
        >>> json.loads(read_metadata_props("models/model.onnx")["network_data_format"])
    """
    onnx = _require("onnx", "reading an ONNX file")
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
