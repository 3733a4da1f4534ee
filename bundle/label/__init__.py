"""Labeling with bundles, the loop MONAI Label runs: ``InferTask`` pre-labels an image, ``TrainTask``
retrains on corrected labels, ``score`` ranks unlabeled images for active learning, and ``write_app``
writes a MONAI Label app serving them. Nothing heavy is imported until a name is used."""

from __future__ import annotations

from bundle.lazy import lazy_attributes

_LAZY = {
    "InferTask": "bundle.label.infer",
    "TrainTask": "bundle.label.train",
    "score": "bundle.label.score",
    "STRATEGIES": "bundle.label.score",
    "read_dataset": "bundle.label.dataset",
    "write_app": "bundle.label.app",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
