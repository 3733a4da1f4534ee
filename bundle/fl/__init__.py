"""Federated learning: a bundle as a federated client (``BundleAlgo``, MONAI FL's client-algorithm
interface) and as a Flower federation (``bundle.fl.flower``, ``bundle.fl.local``).

Importing this package is cheap: torch, flwr and monai are imported on first use.
"""

from __future__ import annotations

from bundle.lazy import lazy_attributes

_LAZY = {
    "BundleAlgo": "bundle.fl.algo",
    "ExchangeObject": "bundle.fl.exchange",
    "WeightType": "bundle.fl.exchange",
    "partition_indices": "bundle.fl.partition",
    "parse_partition": "bundle.fl.partition",
    "FederatedLearningError": "bundle.fl.exchange",
    "run_local_federation": "bundle.fl.local",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
