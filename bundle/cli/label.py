"""The ``label`` command: labeling with bundles (infer, train, next, app), MONAI Label's loop from the
command line. Each prints JSON on stdout."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bundle.errors import LabelError, did_you_mean

ACTIONS = ("infer", "train", "next", "app")


def label(
    action: str,
    target: str,
    image: str | None = None,
    output: str | None = None,
    params: Any = None,
    dataset: str | None = None,
    max_epochs: int | None = None,
    val_split: float | None = None,
    pretrained: bool | None = None,
    multi_gpu: bool | None = None,
    gpus: str | None = None,
    model_filename: str | None = None,
    strategy: str = "entropy",
    samples: int = 8,
    bundle: Any = None,
    device: str | None = None,
    trusted: bool | None = None,
    safe: bool | None = None,
    overrides: dict | None = None,
) -> int:
    """Label with a bundle (a folder, or a zoo name fetched through the cache).

    Actions:
      infer BUNDLE --image FILE --output DIR [--params JSON]     write the label file; print the result
      train BUNDLE --dataset DIR [--max_epochs N] [--val_split F] [--pretrained] [--output COPY]
            DIR holds images/ and labels/ with matching names; the new weights go to BUNDLE/models/
            (a zoo name is copied out of the cache first, to --output or ./NAME)
      next BUNDLE --dataset DIR [--strategy random|entropy|epistemic]   rank DIR's unlabeled images
      app DIR --bundle NAME[,NAME...]      write a MONAI Label app (monailabel start_server --app DIR)

    Args:
        action: infer, train, next or app.
        target: the bundle (infer, train, next) or the app folder (app).
        image: the image to label (infer).
        output: where the label goes (infer); a folder to copy the bundle to and train there (train).
        params: request keys as JSON (infer, train), e.g. '{"device": "cuda"}'.
        dataset: the dataset folder, images/ and labels/ (train, next).
        max_epochs: epochs to train (default 50, MONAI Label's).
        val_split: fraction of the labeled images kept for validation, in (0, 1) (default 0.2).
        pretrained: start from the bundle's weights (default True; --nopretrained trains from scratch).
        multi_gpu: train on every GPU under torchrun when there are several (default True).
        gpus: the GPUs to train on: all, or e.g. 0,1.
        model_filename: the weights file under models/ (default model.pt).
        strategy: random, entropy or epistemic (next).
        samples: forward passes per image for epistemic (next).
        bundle: the bundles of an app, NAME or NAME,NAME or a list (app).
        device: where the network runs (cpu, cuda).
        trusted: run a downloaded bundle with its own code.
        safe: run a bundle in safe mode although it is yours.

    Any other --ID VALUE overrides the inference config (infer, next), e.g. --+network_def::dropout 0.2
    gives CompactUNet the dropout that epistemic scoring needs.
    """
    if action not in ACTIONS:
        hint = did_you_mean(action, ACTIONS) or f"use one of {', '.join(ACTIONS)}"
        raise LabelError(f"unknown label action '{action}'", hint=hint)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    trust = False if safe else (True if trusted else None)
    request = _params(params)
    if action == "app":
        return _app(target, bundle, trust)
    if action == "infer":
        from bundle.label.infer import InferTask

        if not image:
            raise LabelError("label infer needs --image FILE", hint="bundle label infer BUNDLE --image a.nii.gz --output DIR")
        task = InferTask(target, trusted=trust, device=device, overrides=overrides)
        _, result = task({**request, "image": image, "output_dir": output or request.get("output_dir") or "."})
        _print(result)
        return 0
    if not dataset:
        raise LabelError(f"label {action} needs --dataset DIR", hint="DIR holds images/ and labels/ with matching names")
    if action == "train":
        from bundle.label.train import TrainTask

        folder, trust = _trainable_copy(target, output, trust)
        given = {"dataset": dataset, "max_epochs": max_epochs, "val_split": val_split, "pretrained": pretrained,
                 "multi_gpu": multi_gpu, "gpus": gpus, "model_filename": model_filename, "device": device}
        stats = TrainTask(folder, trusted=trust)({**request, **{k: v for k, v in given.items() if v is not None}})
        _print(stats)
        return 0
    from bundle.label.app import LocalDatastore, next_image
    from bundle.label.infer import InferTask

    datastore = LocalDatastore(dataset)
    task = InferTask(target, trusted=trust, device=device, overrides=overrides)
    chosen = next_image(task, strategy, datastore, samples=samples)
    _print(chosen.get("ranked", []))
    return 0


def _params(params: Any) -> dict:
    if params is None or params == "":
        return {}
    if isinstance(params, dict):
        return params
    try:
        value = json.loads(params)
    except (TypeError, ValueError) as err:
        raise LabelError(f"--params is not JSON: {err}", hint='e.g. --params \'{"device": "cpu"}\'') from None
    if not isinstance(value, dict):
        raise LabelError(f"--params must be a JSON object, not {type(value).__name__}")
    return value


def _trainable_copy(target: str, output: str | None, trust: bool | None) -> tuple[str, bool | None]:
    """The folder to train: ``target`` itself, or a copy (``--output``; a zoo download always, at
    ``./NAME`` by default, so the verified cache is never changed). A download's copy keeps its trust."""
    from bundle.registry.load import locate
    from bundle.trust import is_download, resolve_trusted

    root = Path(locate(target))
    downloaded = is_download(root)
    if output is None and not downloaded:
        return str(root), trust
    from bundle.format.bundle import Bundle
    from bundle.label.bundles import bundle_name

    copy = Path(output) if output is not None else Path.cwd() / bundle_name(target, Bundle(root))
    if copy.exists():
        raise LabelError(f"'{copy}' exists; training copies the bundle there", hint="give another --output")
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__"))
    print(f"training a copy of {target} in {copy}", file=sys.stderr)
    return str(copy), resolve_trusted(trust, root)


def _app(target: str, bundles: Any, trust: bool | None) -> int:
    from bundle.label.app import write_app

    if bundles is None:
        raise LabelError("label app needs --bundle NAME (or NAME,NAME)", hint="bundle label app DIR --bundle NAME")
    names = [b for b in (bundles.split(",") if isinstance(bundles, str) else [str(b) for b in bundles]) if b]
    root = write_app(target, names, trusted=trust)
    _print({"app": str(root), "bundles": names,
            "start": f"monailabel start_server --app {root} --studies {os.path.join('DATA', '')}"})
    return 0


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))
