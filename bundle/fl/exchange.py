"""The exchange object a federated client and its server pass: weights, their type, metrics and
statistics (MONAI FL's ``ExchangeObject``, converted to and from it when MONAI is installed)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

from bundle.errors import BundleError

__all__ = ["ExchangeObject", "WeightType", "Statistics", "FederatedLearningError"]


class FederatedLearningError(BundleError, RuntimeError):
    """A federated run cannot go on: a bundle that cannot train, a client's bad weights, a
    SuperLink out of reach."""


class WeightType(str, enum.Enum):
    """What ``weights`` hold: the full model, or its change from the global model (MONAI's values)."""

    WEIGHTS = "fl_weights_full"
    WEIGHT_DIFF = "fl_weight_diff"


class Statistics:
    """Keys of ``ExchangeObject.statistics`` (MONAI's ``FlStatistics`` where it has one)."""

    NUM_EXECUTED_ITERATIONS = "num_executed_iterations"
    NUM_EXECUTED_EXAMPLES = "num_executed_examples"
    NUM_EXAMPLES = "num_examples"


@dataclass
class ExchangeObject:
    """What a client returns and receives.

    Attributes:
        weights: ``{name: tensor}`` (a state dict), or None.
        weight_type: full weights or a difference from the global ones (``WeightType``).
        metrics: ``{name: number}`` (e.g. the evaluator's ``val_accuracy``).
        statistics: counts of the work done: ``num_executed_iterations`` (batches),
            ``num_executed_examples`` (samples seen, over all local epochs), ``num_examples``
            (the local training set's size).
    """

    weights: dict[str, Any] | None = None
    weight_type: WeightType | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    statistics: dict[str, int] = field(default_factory=dict)

    def is_valid_weights(self) -> bool:
        """Weights are a non-empty mapping with a known type (MONAI's check)."""
        return bool(self.weights) and isinstance(self.weights, Mapping) and self.weight_type is not None

    def to_monai(self) -> Any:
        """This object as ``monai.fl.utils.exchange_object.ExchangeObject`` (needs MONAI)."""
        from monai.fl.utils.constants import WeightType as MonaiWeightType
        from monai.fl.utils.exchange_object import ExchangeObject as MonaiExchangeObject

        kind = MonaiWeightType(self.weight_type.value) if self.weight_type is not None else None
        return MonaiExchangeObject(
            weights=self.weights, weight_type=kind, metrics=dict(self.metrics) or None,
            statistics=dict(self.statistics) or None,
        )

    @classmethod
    def from_any(cls, data: Any) -> "ExchangeObject":
        """Ours from ours, from MONAI's ``ExchangeObject``, or from a bare state dict (full weights)."""
        if isinstance(data, cls):
            return data
        if data is None:
            return cls()
        if hasattr(data, "weights") and hasattr(data, "weight_type"):  # MONAI's
            kind = getattr(data.weight_type, "value", data.weight_type)
            return cls(
                weights=dict(data.weights) if data.weights is not None else None,
                weight_type=WeightType(kind) if kind is not None else None,
                metrics=dict(getattr(data, "metrics", None) or {}),
                statistics=dict(getattr(data, "statistics", None) or {}),
            )
        if isinstance(data, Mapping):
            return cls(weights=dict(data), weight_type=WeightType.WEIGHTS)
        raise FederatedLearningError(
            f"expected an ExchangeObject or a state dict, got {type(data).__name__}",
            hint="pass ExchangeObject(weights=state_dict, weight_type=WeightType.WEIGHTS)",
        )
