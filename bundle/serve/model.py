"""The model behind the server: a bundle's network (``Bundle.build_network``) or its TorchScript/ONNX
export, with its inputs and outputs as ``network_data_format`` describes them, and the bundle's own
inferer and postprocessing for whole images.

``forward`` is the network on a batch (what ``/infer`` serves); ``predict`` is the bundle's inference
on one image (what ``/predict`` serves): ``preprocessing`` (when the config has one), ``inferer``
(tiled where the config says), ``postprocessing``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from bundle.errors import FormatError, did_you_mean
from bundle.serve.errors import RequestError

__all__ = ["FORMATS", "ServedModel", "TensorSpec", "load_model"]

FORMATS = ("pytorch", "torchscript", "onnx")
_FILES = {"pytorch": "model.pt", "torchscript": "model.ts", "onnx": "model.onnx"}
# network_data_format dtype -> the protocol's datatype
DATATYPES = {"float32": "FP32", "float64": "FP64", "float16": "FP16", "int64": "INT64", "int32": "INT32",
             "int16": "INT16", "int8": "INT8", "uint8": "UINT8", "bool": "BOOL"}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, the protocol's datatype and shape (-1 for the batch and for
    sizes ``network_data_format`` leaves open), and the sample shape used to warm up."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    example: tuple[int, ...] = ()

    def metadata(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def _spec(name: str, entry: Mapping[str, Any]) -> TensorSpec:
    from bundle.format.shapes import size_of

    dtype = str(entry.get("dtype", "float32"))
    if dtype not in DATATYPES:
        raise FormatError(f"network_data_format '{name}' has dtype '{dtype}', which the protocol cannot carry",
                          hint=did_you_mean(dtype, DATATYPES) or f"use one of {', '.join(DATATYPES)}")
    channels = entry.get("num_channels")
    spatial = list(entry.get("spatial_shape") or [])
    shape = [-1] + ([int(channels)] if channels else [])
    example = [1] + ([int(channels)] if channels else [])
    for s in spatial:
        fixed = isinstance(s, int) and not isinstance(s, bool)
        shape.append(int(s) if fixed else -1)
        example.append(size_of(s, p=1, n=4, any=32) if not fixed else int(s))
    return TensorSpec(name, DATATYPES[dtype], tuple(shape), tuple(example))


@dataclass
class ServedModel:
    """A loaded model and what the server needs to know about it.

    Args:
        name: the model's name in URLs (``/v2/models/{name}``).
        version: the bundle's version.
        inputs, outputs: the tensors, from ``network_data_format``.
        runner: ``runner(batch)`` -> one array per output; batch is a NumPy array (B, ...).
        inferer: ``inferer(tensor, network)`` for ``predict``, from the config (default: one forward pass).
        postprocessing: applied to the inferer's output for ``predict``.
        task: ``segmentation`` (label image out) or ``classification`` (JSON out), from the outputs.
    """

    name: str
    version: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    runner: Callable[[np.ndarray], list[np.ndarray]]
    platform: str = "pytorch"
    inferer: Any = None
    preprocessing: Any = None
    postprocessing: Any = None
    task: str = "segmentation"
    class_names: list[str] = field(default_factory=list)
    network: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def metadata(self) -> dict:
        return {"name": self.name, "versions": [self.version], "platform": self.platform,
                "inputs": [s.metadata() for s in self.inputs], "outputs": [s.metadata() for s in self.outputs]}

    def check_input(self, name: str, array: np.ndarray) -> None:
        """Raise a ``RequestError`` naming the problem when ``array`` does not fit input ``name``."""
        spec = self.input_spec(name)
        if len(array.shape) != len(spec.shape):
            raise RequestError(f"input '{name}' has shape {list(array.shape)}; the model takes {list(spec.shape)} "
                               f"({len(spec.shape)} dims, -1 = any size)")
        for i, (got, want) in enumerate(zip(array.shape, spec.shape)):
            if want != -1 and got != want:
                raise RequestError(f"input '{name}' has size {got} in dim {i}; the model takes {list(spec.shape)}")
        if array.shape[0] < 1:
            raise RequestError(f"input '{name}' has an empty batch")

    def input_spec(self, name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        names = [s.name for s in self.inputs]
        raise RequestError(f"the model has no input '{name}'; its inputs: {', '.join(names)}",
                           hint=did_you_mean(name, names))

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        """The network on ``batch`` (one forward at a time: the lock keeps threads from interleaving)."""
        with self._lock:
            return self.runner(np.require(batch, np.float32, ["C", "W"]))

    def warm_up(self) -> None:
        """One forward on zeros of the first input's example shape."""
        self.forward(np.zeros(self.inputs[0].example, dtype=np.float32))

    def predict(self, image: np.ndarray) -> np.ndarray:
        """The bundle's inference on one image ``(C, *spatial)``: preprocessing, inferer, postprocessing;
        returns the postprocessed output of that image (without the batch dim)."""
        import torch

        spec = self.inputs[0]
        if image.ndim == len(spec.shape) - 2 and len(spec.shape) > 2 and spec.shape[1] == 1:
            image = image[None]  # a single-channel image given without its channel dim
        if image.ndim != len(spec.shape) - 1:
            raise RequestError(f"the image has {image.ndim} dims (shape {list(image.shape)}); the model takes "
                               f"{len(spec.shape) - 1} (channels and {len(spec.shape) - 2} spatial dims: "
                               f"{list(spec.shape[1:])}, -1 = any size)")
        self.check_input(spec.name, image[None])
        tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
        with self._lock, torch.no_grad():
            if self.preprocessing is not None:
                tensor = self.preprocessing(tensor)
            network = self.network if self.network is not None else self._tensor_network
            out = self.inferer(tensor, network) if self.inferer is not None else network(tensor)
            if self.postprocessing is not None:
                out = self.postprocessing(out)
        return out[0].detach().cpu().numpy()

    def _tensor_network(self, tensor: Any) -> Any:
        import torch

        return torch.from_numpy(self.runner(tensor.detach().cpu().numpy().astype(np.float32))[0])


def load_model(source: str | os.PathLike, *, format: str = "pytorch", name: str | None = None,
               device: Any = None, trusted: bool | None = None, config: str = "inference",
               net_id: str = "network_def", weights: str | None = None,
               overrides: Mapping[str, Any] | None = None, version: str | None = None) -> ServedModel:
    """Load what ``bundle serve`` serves: a bundle folder, a zoo name (``NAME[@SPEC]``, from the cache)
    or an exported file (``.ts``/``.pt`` TorchScript, ``.onnx``) inside a bundle's ``models/``.

    The network comes from ``Bundle.build_network`` (``format="pytorch"``) or the export; the inferer and
    postprocessing from the config (resolved in safe mode unless trusted).

    Raises:
        FormatError: unknown format, missing files, no ``network_data_format`` inputs.
        ConfigError, NetworkBuildError, ZooError: as ``Bundle.build_network`` and ``bundle.load``.
    """
    from bundle.format.bundle import Bundle
    from bundle.registry.load import locate

    if format not in FORMATS:
        raise FormatError(f"unknown format '{format}'", hint=did_you_mean(format, FORMATS) or f"use one of {', '.join(FORMATS)}")
    path = Path(os.fspath(source)).expanduser()
    if path.is_file():  # an exported artifact: models/model.ts|onnx of a bundle
        format = "onnx" if path.suffix == ".onnx" else "torchscript"
        weights, root = path.name, path.parent.parent
    else:
        root = locate(source, version)
        if name is None and not path.is_dir():  # a zoo name: served under it, not the cache folder's name
            name = os.fspath(source).split("@", 1)[0]
    bundle = Bundle(root, trusted=trusted)
    fmt = bundle.metadata.get("network_data_format") or {}
    inputs = [_spec(k, v) for k, v in (fmt.get("inputs") or {}).items()]
    outputs = [_spec(k, v) for k, v in (fmt.get("outputs") or {}).items()]
    if not inputs or not outputs:
        raise FormatError(f"{bundle.metadata_path} describes no network_data_format inputs or outputs",
                          hint="serving needs the inputs' and outputs' shapes and dtypes there")
    cfg = bundle.load_config(config, overrides=overrides)
    parts = _resolve_parts(bundle, cfg)
    file = weights or _FILES[format]
    network = None
    if format == "pytorch":
        network = bundle.build_network(config, net_id=net_id, weights=file, device=device, overrides=overrides)
        runner = _torch_runner(network, device)
    elif format == "torchscript":
        from bundle.registry.load import _torchscript

        network = _torchscript(bundle.weights_path(file), device)
        runner = _torch_runner(network, device)
    else:
        from bundle.registry.load import _onnx

        runner = _onnx_runner(_onnx(bundle.weights_path(file), device))
    out0 = (fmt.get("outputs") or {})[outputs[0].name]
    task = "classification" if not out0.get("spatial_shape") else "segmentation"
    classes = out0.get("channel_def") or {}
    return ServedModel(name=name or bundle.name, version=str(bundle.metadata.get("version", "1")), inputs=inputs,
                       outputs=outputs, runner=runner, platform=format, network=network, task=task,
                       class_names=[str(classes[k]) for k in sorted(classes, key=lambda c: int(c))] if classes else [],
                       **parts)


def _resolve_parts(bundle: Any, cfg: Any) -> dict:
    """The config's ``preprocessing``, ``inferer`` and ``postprocessing``, where it has them."""
    parts = {}
    for key in ("preprocessing", "inferer", "postprocessing"):
        if key in cfg:
            with bundle.scripts() if bundle.trusted else _nothing():
                parts[key] = cfg.resolve(key)
    return parts


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _torch_runner(network: Any, device: Any) -> Callable[[np.ndarray], list[np.ndarray]]:
    import torch

    dev = torch.device(device or "cpu")

    def run(batch: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad():
            out = network(torch.from_numpy(batch).to(dev))
        outs = out if isinstance(out, (tuple, list)) else list(out.values()) if isinstance(out, dict) else [out]
        return [o.detach().float().cpu().numpy() for o in outs]

    return run


def _onnx_runner(session: Any) -> Callable[[np.ndarray], list[np.ndarray]]:
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(o) for o in session.run(None, {name: batch})]

    return run
