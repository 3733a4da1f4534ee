"""``TrainTask``: retrain a bundle on labeled images with the overrides MONAI Label's ``BundleTrainTask``
applies to ``configs/train.json``: ``bundle_root``, ``train::trainer::max_epochs``, the train and
validate datasets' data (``train::dataset::data`` when the config has it, else a ``VolumeDataset`` of
the files in its place), ``device``, a pretrained checkpoint loader added to ``train::handlers``, and
tracking. Request keys and defaults are MONAI Label's (``max_epochs`` 50, ``val_split`` 0.2,
``pretrained`` True, ``multi_gpu`` True, ``gpus`` "all", ``model_filename`` "model.pt").

The bundle's weights are never touched until training has ended: checkpoints go to a staging folder
(every ``save_dir`` of ``train::handlers`` and ``ckpt_dir`` point there) and the result is then written
to ``models/{model_filename}`` atomically. A failed training leaves the current weights as they were.
With ``multi_gpu`` and more than one CUDA device, training runs under torchrun (``bundle run``, which
layers ``configs/multi_gpu_train.json``), one process per device.

Example:
    >>> task = TrainTask("my_bundle")
    >>> stats = task({"dataset": "data/", "max_epochs": 10, "val_split": 0.2, "pretrained": False})
    >>> stats["model"], stats["train_size"], stats["val_size"]
    ('my_bundle/models/model.pt', 8, 2)
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from bundle.errors import BundleError, LabelError
from bundle.label import bundles as ids

__all__ = ["DEFAULT_REQUEST", "TrainTask"]

logger = logging.getLogger(__name__)

#: MONAI Label's train request keys and defaults (plus ``dataset``, the folder, and ``seed`` of the split)
DEFAULT_REQUEST: dict[str, Any] = {
    "max_epochs": 50, "val_split": 0.2, "pretrained": True, "multi_gpu": True, "gpus": "all",
    "model_filename": ids.MODEL_PYTORCH, "device": None, "tracking": None, "dataset": None, "seed": 0,
}  # fmt: skip


class TrainTask:
    """Train a bundle on a labeled dataset (MONAI Label's ``images/`` + ``labels/`` layout, or a datastore).

    Args:
        bundle: a bundle folder, a ``Bundle``, or a zoo name (training writes into the bundle's
            ``models/``: copy a zoo bundle out of the cache first, as ``bundle label train`` does).
        config: the train config's name (default ``train``).
        trusted: as for ``Bundle``.
        version: a version or range for a zoo name.

    Raises:
        LabelError: the bundle has no train config.
    """

    def __init__(self, bundle: Any, *, config: str | None = None, trusted: bool | None = None,
                 version: str | None = None) -> None:
        self.bundle = ids.open_bundle(bundle, trusted=trusted, version=version)
        self.config_name = config or ids.find_config(self.bundle, ids.TRAIN_CONFIGS, purpose="training")
        self.format = ids.network_format(self.bundle.metadata, where=str(self.bundle.metadata_path))
        self.description = f"train {self.bundle.display_name} on labeled images"
        self._stats: dict[str, Any] = {}

    def info(self) -> dict[str, Any]:
        """What the task is and the request keys it takes (MONAI Label's ``TrainTask.info``)."""
        return {"description": self.description, "config": self.config()}

    def config(self) -> dict[str, Any]:
        """The request keys and their defaults."""
        return {k: v for k, v in DEFAULT_REQUEST.items() if k not in ("dataset", "seed")}

    def stats(self) -> dict[str, Any]:
        """The result of the last training."""
        return dict(self._stats)

    # --- a call -----------------------------------------------------------------------------------

    def __call__(self, request: Mapping[str, Any], datastore: Any = None) -> dict[str, Any]:
        """Train, then write the new weights to ``models/{model_filename}``.

        Args:
            request: ``dataset`` (a folder; or give ``datastore``), ``max_epochs``, ``val_split``,
                ``pretrained``, ``multi_gpu``, ``gpus``, ``model_filename``, ``device``, ``tracking``.
            datastore: an object with ``datalist()`` -> ``[{"image": path, "label": path}]`` (MONAI Label's).

        Returns:
            ``{"model", "train_size", "val_size", "unlabeled", "max_epochs", "pretrained", "best_metric",
            "processes", "total_time"}``.

        Raises:
            LabelError: a request value is out of range, the dataset is unusable (unmatched names listed,
                labels that do not fit, too few pairs), or training failed (the weights are unchanged).
        """
        request = {**DEFAULT_REQUEST, **{k: v for k, v in dict(request).items() if v is not None}}
        max_epochs, val_split = _check_request(request)
        pairs, unlabeled = self._datalist(request, datastore)
        train, val = split_pairs(pairs, val_split, seed=int(request["seed"]))
        target = self.bundle.weights_path(str(request["model_filename"]))
        pretrained = target if _flag(request["pretrained"]) and target.is_file() else None
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="bundle-label-train-") as staging:
            overrides = self._overrides(request, train, val, max_epochs, Path(staging), pretrained)
            devices = _cuda_devices(request)
            try:
                if _flag(request["multi_gpu"]) and len(devices) > 1:
                    best, network_state = self._run_torchrun(overrides, devices, Path(staging), request), None
                    processes = len(devices)
                else:
                    best, network_state = self._run_here(overrides, request)
                    processes = 1
            except LabelError:
                raise
            except Exception as err:  # noqa: BLE001 - the bundle's training code can raise anything
                reason = str(err) if isinstance(err, BundleError) else f"{type(err).__name__}: {err}"
                raise LabelError(f"training '{self.bundle.name}' failed: {reason}",
                                 hint=f"models/{target.name} was left as it was") from err
            written = _publish(Path(staging), target, network_state)
        self._stats = {
            "model": str(written), "train_size": len(train), "val_size": len(val), "unlabeled": len(unlabeled),
            "max_epochs": max_epochs, "pretrained": str(pretrained) if pretrained else None,
            "best_metric": best, "processes": processes, "total_time": round(time.perf_counter() - started, 3),
        }  # fmt: skip
        logger.info("trained %s: %s", self.bundle.name, self._stats)
        return self.stats()

    def _datalist(self, request: Mapping[str, Any], datastore: Any) -> tuple[list[dict], list[str]]:
        from bundle.label.dataset import check_pairs, read_dataset

        if datastore is not None:
            pairs = [dict(d) for d in datastore.datalist() if d.get("label")]
            check_pairs(pairs)
            return pairs, []
        if not request.get("dataset"):
            raise LabelError("the request names no dataset", hint='pass {"dataset": "DIR"} (DIR/images, DIR/labels)')
        dataset = read_dataset(request["dataset"], check_shapes=True)
        if dataset.unlabeled:
            logger.info("%d images of '%s' have no label and are not trained on", len(dataset.unlabeled),
                        dataset.root)
        return dataset.labeled, dataset.unlabeled

    def _overrides(self, request: Mapping[str, Any], train: list[dict], val: list[dict], max_epochs: int,
                   staging: Path, pretrained: Path | None) -> dict[str, Any]:
        config = self.bundle.load_config(self.config_name)
        overrides: dict[str, Any] = {ids.KEY_BUNDLE_ROOT: str(self.bundle.root)}
        if ids.KEY_MAX_EPOCHS in config:
            overrides[ids.KEY_MAX_EPOCHS] = max_epochs
        if request.get("device"):
            overrides[ids.KEY_DEVICE] = str(request["device"])
        for key, data in ((ids.KEY_TRAIN_DATASET, train), (ids.KEY_VALIDATE_DATASET, val)):
            if f"{key}::data" in config:  # a MONAI-style dataset that takes the datalist
                overrides[f"{key}::data"] = data
            elif key in config or key == ids.KEY_TRAIN_DATASET:
                overrides[key] = {"_target_": "VolumeDataset", "data": data, "spatial_dims": self.format.dimension,
                                  "channels": self.format.channels}
        if "ckpt_dir" in config:
            overrides["ckpt_dir"] = str(staging)
        if "output_dir" in config:
            overrides["output_dir"] = str(staging / "logs")
        handlers = config.get(ids.KEY_TRAIN_HANDLERS, None)
        if isinstance(handlers, list):
            for n, handler in enumerate(handlers):
                if isinstance(handler, Mapping) and "save_dir" in handler:
                    overrides[f"{ids.KEY_TRAIN_HANDLERS}::{n}::save_dir"] = str(staging)
        if pretrained is not None:
            if not isinstance(handlers, list):
                raise LabelError(f"'{self.config_name}' has no {ids.KEY_TRAIN_HANDLERS} list to add the pretrained "
                                 "checkpoint loader to", config_id=ids.KEY_TRAIN_HANDLERS,
                                 hint="pass pretrained=False, or give the trainer a handler list")
            loader = {"_target_": "CheckpointReader", "load_path": str(pretrained),
                      "load_dict": {ids.CHECKPOINT_KEY: f"@{ids.KEY_NETWORK}"}, "strict": False}
            overrides[f"+{ids.KEY_TRAIN_HANDLERS}"] = [loader]
        if request.get("tracking"):
            overrides[ids.KEY_TRACKING] = request["tracking"]
        return overrides

    def _run_here(self, overrides: dict[str, Any], request: Mapping[str, Any]) -> tuple[float | None, dict | None]:
        from bundle.workflows.config_workflow import ConfigWorkflow

        tracking = overrides.pop(ids.KEY_TRACKING, None)
        workflow = ConfigWorkflow(str(self.bundle.config_path(self.config_name)),
                                  meta_file=str(self.bundle.metadata_path), logging_file=False, tracking=tracking,
                                  trusted=self.bundle.trusted, **overrides)
        workflow.initialize()
        try:
            workflow.run()
            best = _best_metric(workflow)
            network = workflow.parser.get_parsed_content(ids.KEY_NETWORK) if ids.KEY_NETWORK in workflow.parser else None
            state = _unwrapped(network).state_dict() if network is not None else None
        finally:
            workflow.finalize()
        return best, state

    def _run_torchrun(self, overrides: dict[str, Any], devices: list[int], staging: Path,
                      request: Mapping[str, Any]) -> float | None:
        args_file = staging / "overrides.json"
        args_file.write_text(json.dumps(dict(overrides)), encoding="utf-8")
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={len(devices)}",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "bundle", "run", str(self.bundle.root),
               self.config_name, "--args_file", str(args_file), "--trusted" if self.bundle.trusted else "--safe"]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(map(str, devices))}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise LabelError(f"training '{self.bundle.name}' under torchrun failed (exit {proc.returncode}):\n{tail}",
                             hint="the bundle's weights were left as they were")
        return None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_request(request: Mapping[str, Any]) -> tuple[int, float]:
    try:
        max_epochs = int(request["max_epochs"])
        val_split = float(request["val_split"])
    except (TypeError, ValueError) as err:
        raise LabelError(f"max_epochs and val_split must be numbers: {err}") from None
    if max_epochs < 1:
        raise LabelError(f"max_epochs must be at least 1, not {request['max_epochs']!r}")
    if not 0 < val_split < 1:
        raise LabelError(f"val_split must be between 0 and 1 (exclusive), not {request['val_split']!r}",
                         hint="e.g. 0.2 keeps a fifth of the labeled images for validation")
    return max_epochs, val_split


def split_pairs(pairs: list[dict], val_split: float, *, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Shuffle (seeded) and split into train and validation, each at least one pair.

    Raises:
        LabelError: fewer than two labeled pairs.
    """
    if len(pairs) < 2:
        raise LabelError(f"training needs at least 2 labeled images (one to validate on); the dataset has {len(pairs)}",
                         hint="label more images: DIR/labels/NAME.* for DIR/images/NAME.*")
    order = list(pairs)
    random.Random(seed).shuffle(order)
    n_val = min(len(order) - 1, max(1, round(len(order) * val_split)))
    return order[n_val:], order[:n_val]


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _cuda_devices(request: Mapping[str, Any]) -> list[int]:
    """The CUDA devices ``gpus`` names ("all", or "0,1"); [] without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    gpus = request.get("gpus", "all")
    if gpus in (None, "", "all"):
        return list(range(count))
    try:
        chosen = [int(g) for g in str(gpus).split(",") if g.strip()]
    except ValueError:
        raise LabelError(f"gpus must be 'all' or device numbers such as '0,1', not {gpus!r}") from None
    bad = [g for g in chosen if not 0 <= g < count]
    if bad:
        raise LabelError(f"gpus names devices {bad}, but there are {count} CUDA devices")
    return chosen


def _best_metric(workflow: Any) -> float | None:
    import math

    for trainer_id in ("train::trainer", "trainer"):
        if trainer_id in workflow.parser:
            try:
                state = workflow.parser.get_parsed_content(trainer_id).state
            except Exception:  # noqa: BLE001 - an unusual trainer: no metric to report
                return None
            value = getattr(state, "best_metric", None)
            return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
    return None


def _unwrapped(network: Any) -> Any:
    return getattr(network, "module", network)


def _publish(staging: Path, target: Path, network_state: dict | None) -> Path:
    """Write the trained weights to ``target`` atomically: the best checkpoint the config's writer saved
    (``target``'s name, else ``model.pt``, else the only ``.pt`` there), else the network's final state."""
    import io

    import torch

    from bundle.atomic import write_atomic

    saved = sorted(p for p in staging.glob("*.pt") if p.is_file())
    by_name = {p.name: p for p in saved}
    chosen = by_name.get(target.name) or by_name.get(ids.MODEL_PYTORCH) or (saved[0] if len(saved) == 1 else None)
    if chosen is not None:
        data = chosen.read_bytes()
    elif network_state is not None:
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in network_state.items()}, buffer)
        data = buffer.getvalue()
    else:
        raise LabelError("training ended without writing a checkpoint", hint="give the train config a CheckpointWriter "
                         "in train::handlers")
    write_atomic(target, data)
    return target
