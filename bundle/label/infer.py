"""``InferTask``: a bundle's inference as MONAI Label runs it, with the network kept loaded between calls.

It reads what MONAI Label's ``BundleInferTask`` reads: the network (``network_def`` with
``models/model.pt``, the state dict under checkpoint key ``model`` when nested, else ``models/model.ts``),
``preprocessing``/``pre_transforms``, ``inferer``, ``postprocessing``/``post_transforms`` of
``configs/inference.json``, the labels from the output's ``channel_def`` and the dimension from the
input's ``spatial_shape``. A call takes a request (``{"image": path, ...}``), writes the label file
and returns it with a result (``label_names``, ``latencies``), as MONAI Label's does.

Example:
    >>> task = InferTask("zoo/ellipsoid_segmentation")
    >>> label_file, result = task({"image": "case.npy", "output_dir": "labels"})
    >>> result["label_names"], sorted(result["latencies"])
    ({'class 1 ellipsoid': 1, 'class 2 ellipsoid': 2}, ['infer', 'invert', 'post', 'pre', 'total', 'write'])
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from bundle.errors import LabelError
from bundle.label import bundles as ids

__all__ = ["InferTask"]

#: request keys and their defaults (MONAI Label's names where it has one)
DEFAULT_REQUEST: dict[str, Any] = {"device": None, "output_dir": None, "result_extension": None,
                                   "result_dtype": "uint8"}


class InferTask:
    """A bundle's inference for labeling.

    Args:
        bundle: a bundle folder, a ``Bundle``, or a zoo name (``NAME[@SPEC]``, fetched into the cache).
        config: the inference config's name (MONAI Label's ``inference.json``).
        device: where the network runs by default (a request's ``device`` wins); default the CPU.
        trusted: as for ``Bundle`` (None: a zoo download runs in safe mode, your folder trusted).
        version: a version or range for a zoo name.
        overrides: ``{id: value}`` applied to the inference config (e.g. ``{"+network_def::dropout": 0.2}``).

    Raises:
        LabelError: the bundle has no such config or its metadata says no input dimension.
        FormatError, ZooError: the bundle cannot be opened or fetched.
    """

    def __init__(self, bundle: Any, *, config: str | None = None, device: Any = None, trusted: bool | None = None,
                 version: str | None = None, overrides: Mapping[str, Any] | None = None) -> None:
        self.bundle = ids.open_bundle(bundle, trusted=trusted, version=version)
        self.overrides = dict(overrides or {})
        self.config_name = config or ids.find_config(self.bundle, ids.INFER_CONFIGS, purpose="inference")
        self.format = ids.network_format(self.bundle.metadata, where=str(self.bundle.metadata_path))
        self.device = device
        self.type = "segmentation" if self.format.is_segmentation else "classification"
        self.labels = dict(self.format.labels)
        self.dimension = self.format.dimension
        self.description = str(self.bundle.metadata.get("description") or self.bundle.display_name)
        self._config: Any = None
        self._parts: dict[str, Any] | None = None
        self._network: Any = None
        self._network_device: Any = None

    # --- what MONAI Label asks a task -------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What the task is (MONAI Label's ``InferTask.info``)."""
        return {"type": self.type, "labels": self.labels, "dimension": self.dimension,
                "description": self.description, "config": {"device": str(self.device or "cpu")}}

    def is_valid(self) -> bool:
        """Whether the weights are there (``models/model.pt`` or ``models/model.ts``)."""
        return self.bundle.weights_path(ids.MODEL_PYTORCH).is_file() or self.bundle.weights_path(
            ids.MODEL_TORCHSCRIPT).is_file()

    # --- loading ----------------------------------------------------------------------------------

    def _parts_of_config(self) -> dict[str, Any]:
        """The preprocessing, inferer and postprocessing objects (None where the config has none)."""
        if self._parts is None:
            from bundle.format.network import load_network_config

            files = [self.bundle.config_path(self.config_name)]
            self._config = load_network_config(files, root=self.bundle.root, meta=self.bundle.metadata_path,
                                               trusted=self.bundle.trusted, overrides=self.overrides)
            parts: dict[str, Any] = {}
            for part, keys in (("pre", ids.KEY_PREPROCESSING), ("inferer", ids.KEY_INFERER),
                               ("post", ids.KEY_POSTPROCESSING)):
                found = ids.first_id(self._config, keys)
                parts[part] = self._resolve(found) if found is not None else None
            self._parts = parts
        return self._parts

    def _resolve(self, config_id: str) -> Any:
        if self.bundle.trusted:
            with self.bundle.scripts():
                return self._config.resolve(config_id)
        return self._config.resolve(config_id)

    def network(self, device: Any = None) -> Any:
        """The network on ``device``, built and loaded once (``models/model.pt``, else ``models/model.ts``).

        Raises:
            NetworkBuildError: it cannot be built or its weights do not fit.
            LabelError: there are no weights.
        """
        import torch

        device = torch.device(device or self.device or "cpu")
        if self._network is None:
            pt = self.bundle.weights_path(ids.MODEL_PYTORCH)
            if pt.is_file():
                self._network = self.bundle.build_network(self.config_name, net_id=ids.KEY_NETWORK_DEF,
                                                          weights=ids.MODEL_PYTORCH, key=checkpoint_key(pt),
                                                          overrides=self.overrides)
            elif self.bundle.weights_path(ids.MODEL_TORCHSCRIPT).is_file():
                from bundle.registry.load import load

                self._network = load(self.bundle.root, format="torchscript")
            else:
                raise LabelError(f"bundle '{self.bundle.name}' has neither models/{ids.MODEL_PYTORCH} nor "
                                 f"models/{ids.MODEL_TORCHSCRIPT}", hint="train it first: bundle label train ...")
            self._network.eval()
        if self._network_device != device:
            self._network = self._network.to(device)
            self._network_device = device
        return self._network

    def reload(self) -> None:
        """Forget the loaded network, so the next call loads the weights again (after training)."""
        self._network = None
        self._network_device = None

    # --- a call -----------------------------------------------------------------------------------

    def read_image(self, image_path: str) -> tuple[Any, Any]:
        """The image as a ``(C, *spatial)`` float32 tensor, and its affine (NIfTI) or None.

        Raises:
            LabelError: it cannot be read, or has the wrong dimension or channel count for the bundle.
        """
        import numpy as np
        import torch

        from bundle.components.volumes import as_channels_first, read_volume

        array, affine = read_volume(image_path)
        array = as_channels_first(array, spatial_dims=self.format.dimension, channels=self.format.channels,
                                  what="image", path=image_path)
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)), affine

    def predict(self, image_path: str, *, device: Any = None, network: Any = None,
                latencies: dict[str, float] | None = None) -> tuple[Any, Any]:
        """The network's output for one image before postprocessing, ``(1, C_out, ...)`` on the CPU, on the
        image's grid; and the image's affine. ``network`` replaces the loaded one (active learning runs it
        with dropout on); ``latencies`` gets ``pre``, ``infer`` and ``invert``.

        Raises:
            LabelError: the image cannot be read or does not fit the bundle.
        """
        import torch

        latencies = latencies if latencies is not None else {}
        started = time.perf_counter()
        image, affine = self.read_image(image_path)
        parts = self._parts_of_config()
        device = torch.device(device or self.device or "cpu")
        data: Any = {"image": image, "image_meta": {"filename": image_path, "affine": affine}}
        if parts["pre"] is not None:
            data = parts["pre"](data)
        inputs = torch.as_tensor(data["image"] if isinstance(data, Mapping) else data).to(device)
        network = network if network is not None else self.network(device)
        latencies["pre"] = time.perf_counter() - started

        mark = time.perf_counter()
        with torch.no_grad():
            batch = inputs[None]
            pred = parts["inferer"](batch, network) if parts["inferer"] is not None else network(batch)
        latencies["infer"] = time.perf_counter() - mark

        mark = time.perf_counter()
        if self.format.is_segmentation:  # back to the image's grid (an inferer may pad)
            # (concatenated: mypy misreads x[(a, *b)] as the 3.11-only x[a, *b])
            pred = pred[(slice(None), slice(None)) + tuple(slice(0, s) for s in image.shape[1:])]
        latencies["invert"] = time.perf_counter() - mark
        return pred.detach().float().cpu(), affine

    def __call__(self, request: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """Label one image.

        Request keys: ``image`` (a path; required), ``output_dir`` (default: a new temporary folder),
        ``device``, ``result_extension`` (default: the image's), ``result_dtype`` (``uint8``).

        Returns:
            ``(label_file, result)``: the file written (None for a classification bundle, whose class is
            in the result) and ``{"label_names", "latencies": {pre, infer, invert, post, write, total},
            "file", ...}``; classification adds ``prediction`` (class index), ``label`` and ``scores``.

        Raises:
            LabelError: no image, or one the bundle cannot take (wrong dimension or channels, unreadable).
        """
        import numpy as np

        from bundle.components.volumes import volume_stem, volume_suffix, write_volume

        request = {**DEFAULT_REQUEST, **dict(request)}
        if not request.get("image"):
            raise LabelError("the request names no image", hint='pass {"image": "path/to/image.nii.gz"}')
        image_path = str(request["image"])
        started = time.perf_counter()
        latencies: dict[str, float] = {}
        pred, affine = self.predict(image_path, device=request["device"], latencies=latencies)
        parts = self._parts_of_config()

        mark = time.perf_counter()
        if parts["post"] is not None:
            pred = parts["post"](pred)
        pred = pred[0].detach().cpu()
        latencies["post"] = time.perf_counter() - mark

        mark = time.perf_counter()
        result: dict[str, Any] = {"label_names": dict(self.labels)}
        label_file: str | None = None
        if self.format.is_segmentation:
            out_dir = Path(request["output_dir"] or tempfile.mkdtemp(prefix="bundle-label-"))
            extension = request["result_extension"] or volume_suffix(image_path) or ".nii.gz"
            labels = pred[0] if pred.dim() == self.format.dimension + 1 and pred.shape[0] == 1 else pred
            dtype = getattr(np, str(request["result_dtype"]), None)
            if dtype is None:
                raise LabelError(f"result_dtype '{request['result_dtype']}' is not a numpy dtype",
                                 hint="use e.g. uint8, uint16 or float32")
            label_file = str(write_volume(out_dir / f"{volume_stem(image_path)}{extension}",
                                          labels.numpy().astype(dtype), affine=affine))
        else:
            scores = pred.reshape(-1)
            index = int(scores.argmax()) if scores.numel() > 1 else int(scores[0].round())
            names = {v: k for k, v in self.labels.items()}
            result.update(prediction=index, label=names.get(index, str(index)), scores=scores.tolist())
        latencies["write"] = time.perf_counter() - mark
        latencies["total"] = time.perf_counter() - started
        result["latencies"] = {k: round(v, 4) for k, v in latencies.items()}
        result["file"] = label_file
        return label_file, result


def checkpoint_key(path: str | os.PathLike) -> str | None:
    """``"model"`` when the weights file nests its state dict under MONAI Label's checkpoint key, else None."""
    import torch

    from bundle.format.weights import is_state_dict

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - build_network reports an unreadable file with its own message
        return None
    if not is_state_dict(loaded) and isinstance(loaded, Mapping) and is_state_dict(loaded.get(ids.CHECKPOINT_KEY)):
        return ids.CHECKPOINT_KEY
    return None
