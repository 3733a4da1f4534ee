"""Active learning: rank unlabeled images so the annotator gets the most useful one next.

Strategies:

* ``random``: a seeded shuffle (MONAI Label's ``random``), the baseline.
* ``entropy``: the mean voxel (or the class) entropy of the softmax of the network's output, divided by
  ``log(C)`` so it lies in [0, 1]: 1 where the model cannot tell the classes apart.
* ``epistemic``: Monte-Carlo dropout (MONAI Label's ``epistemic``): the network runs ``samples`` times
  with its dropout layers on; the score is the mutual information between the prediction and the
  weights (the entropy of the mean prediction less the mean entropy of each), averaged over voxels.
  A network without dropout layers cannot be scored so; give ``overrides`` that turn dropout on
  (``{"+network_def::dropout": 0.2}`` for ``CompactUNet``), or choose ``entropy``.

Example:
    >>> ranked = score("zoo/ellipsoid_segmentation", ["a.nii.gz", "b.nii.gz"], strategy="entropy")
    >>> ranked[0]
    {'image': 'b.nii.gz', 'score': 0.41, 'rank': 1}
"""

from __future__ import annotations

import copy
import math
import os
import random
from typing import Any, Mapping, Sequence

from bundle.errors import LabelError, did_you_mean

__all__ = ["STRATEGIES", "score"]

STRATEGIES: tuple[str, ...] = ("random", "entropy", "epistemic")

_DROPOUT_TYPES = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")


def score(bundle: Any, images: Sequence[str | os.PathLike], strategy: str = "entropy", *, samples: int = 8,
          seed: int = 0, device: Any = None, trusted: bool | None = None,
          overrides: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Score and rank ``images``, most useful to label first.

    Args:
        bundle: a bundle folder, ``Bundle``, zoo name, or an ``InferTask`` (its loaded network is reused).
        images: the unlabeled image files.
        strategy: ``random``, ``entropy`` or ``epistemic``.
        samples: forward passes per image for ``epistemic`` (at least 2).
        seed: the seed of ``random`` and of the dropout masks.
        device: where the network runs.
        trusted, overrides: as for ``InferTask`` (ignored when ``bundle`` is one).

    Returns:
        ``[{"image", "score", "rank"}]`` sorted by score, highest first (rank 1); ties keep input order.

    Raises:
        LabelError: an unknown strategy, ``samples`` < 2, an image the bundle cannot take, or
            ``epistemic`` for a network without dropout.
    """
    if strategy not in STRATEGIES:
        raise LabelError(f"unknown strategy '{strategy}'",
                         hint=did_you_mean(strategy, STRATEGIES) or f"use one of {', '.join(STRATEGIES)}")
    paths = [os.fspath(p) for p in images]
    if strategy == "random":
        rng = random.Random(seed)
        scores = [rng.random() for _ in paths]
    else:
        from bundle.label.infer import InferTask

        task = bundle if isinstance(bundle, InferTask) else InferTask(bundle, trusted=trusted, device=device,
                                                                       overrides=overrides)
        if strategy == "entropy":
            scores = [_entropy(task.predict(p, device=device)[0], task) for p in paths]
        else:
            if samples < 2:
                raise LabelError(f"epistemic needs at least 2 samples per image, not {samples}")
            network = _with_dropout_on(task, device)
            scores = [_mutual_information(task, p, network, samples, seed, device) for p in paths]
    order = sorted(range(len(paths)), key=lambda i: -scores[i])
    return [{"image": paths[i], "score": round(float(scores[i]), 6), "rank": n + 1} for n, i in enumerate(order)]


def _probabilities(pred: Any) -> Any:
    """Class probabilities along the channel axis: softmax of logits; a one-channel output is a sigmoid."""
    import torch

    if pred.shape[1] == 1:
        p = torch.sigmoid(pred)
        return torch.cat([1 - p, p], dim=1)
    if bool((pred >= 0).all()) and torch.allclose(pred.sum(1), torch.ones(()), atol=1e-4):
        return pred  # already probabilities (a network that ends in softmax)
    return torch.softmax(pred, dim=1)


def _entropy_map(probs: Any) -> Any:
    import torch

    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(1) / math.log(probs.shape[1])


def _entropy(pred: Any, task: Any) -> float:
    return float(_entropy_map(_probabilities(pred)).mean())


def _with_dropout_on(task: Any, device: Any) -> Any:
    """A copy of the task's network in eval mode with its dropout layers in training mode.

    Raises:
        LabelError: the network has no dropout layer.
    """
    network = copy.deepcopy(task.network(device))
    dropouts = [m for m in network.modules() if type(m).__name__ in _DROPOUT_TYPES and getattr(m, "p", 0) > 0]
    if not dropouts:
        raise LabelError(f"the network of '{task.bundle.name}' ({type(network).__name__}) has no dropout layer, "
                         "so Monte-Carlo dropout cannot estimate its epistemic uncertainty",
                         config_id="network_def",
                         hint="use strategy 'entropy', or turn dropout on with an override "
                              "(CompactUNet: +network_def::dropout 0.2)")
    network.eval()
    for module in dropouts:
        module.train()
    return network


def _mutual_information(task: Any, path: str, network: Any, samples: int, seed: int, device: Any) -> float:
    import torch

    torch.manual_seed(seed)
    probs = torch.stack([_probabilities(task.predict(path, device=device, network=network)[0])
                         for _ in range(samples)])
    mean_entropy = _entropy_map(probs.mean(0))
    expected = torch.stack([_entropy_map(p) for p in probs]).mean(0)
    return float((mean_entropy - expected).clamp_min(0).mean())
