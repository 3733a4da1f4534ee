"""Loading a bundle's weights safely (``torch.load(weights_only=True)``) and saying how they fit a network."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from bundle.errors import FormatError, Location

__all__ = ["WeightsFit", "fit_weights", "is_state_dict", "load_state_dict"]

# Keys under which training code commonly nests a state dict in a checkpoint.
_NESTING_KEYS = ("state_dict", "model", "network", "net", "model_state_dict")


def is_state_dict(value: Any) -> bool:
    """Whether ``value`` maps parameter names (strings) to tensors."""
    import torch

    return (
        isinstance(value, Mapping)
        and all(isinstance(k, str) for k in value)
        and all(isinstance(v, torch.Tensor) for v in value.values())
    )


def load_state_dict(path: str | os.PathLike, *, map_location: Any = "cpu", key: str | None = None) -> dict:
    """Load a state dict with ``torch.load(path, weights_only=True)``.

    Args:
        path: the weights file.
        map_location: where tensors go.
        key: the checkpoint key holding the state dict, for nested checkpoints.

    Raises:
        FormatError: the file cannot be loaded with ``weights_only=True`` (a pickle of arbitrary
            objects, a TorchScript archive, a damaged file), ``key`` is missing, or the content is
            not a state dict (the hint names the keys that hold one).
    """
    import torch

    where = Location(str(path))
    try:
        loaded = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FormatError(f"weights file '{path}' does not exist", location=where) from None
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ... here
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FormatError(
            f"weights file '{os.path.basename(path)}' cannot be loaded with torch.load(weights_only=True): {reason}",
            location=where,
            hint="save the weights with torch.save(model.state_dict(), path); a TorchScript file (.ts) is loaded "
                 "with torch.jit.load, and checkpoints holding arbitrary Python objects are not loaded, for safety",
        ) from err
    if key is not None:
        if not isinstance(loaded, Mapping) or key not in loaded:
            keys = ", ".join(map(str, loaded)) if isinstance(loaded, Mapping) else type(loaded).__name__
            raise FormatError(f"weights file '{os.path.basename(path)}' has no key '{key}' (it has: {keys})",
                              location=where)
        loaded = loaded[key]
    if not is_state_dict(loaded):
        nested = [k for k in _NESTING_KEYS if isinstance(loaded, Mapping) and is_state_dict(loaded.get(k))]
        hint = (f"it is a checkpoint holding the state dict under '{nested[0]}': pass key='{nested[0]}'"
                if nested else "save the weights with torch.save(model.state_dict(), path)")
        raise FormatError(
            f"weights file '{os.path.basename(path)}' holds {_describe(loaded)}, not a state dict "
            f"(parameter name -> tensor)", location=where, hint=hint,
        )
    return dict(loaded)


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = list(value)[:5]
        return f"a dict with keys {', '.join(map(repr, keys))}{', ...' if len(value) > 5 else ''}"
    return f"a {type(value).__module__}.{type(value).__qualname__}"


@dataclass
class WeightsFit:
    """How a state dict fits a network: what the network lacks, what the weights lack, what differs."""

    missing: list[str] = field(default_factory=list)  # in the network, not in the weights
    unexpected: list[str] = field(default_factory=list)  # in the weights, not in the network
    mismatched: list[str] = field(default_factory=list)  # "name: weights (2, 3) vs network (3, 3)"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 8) -> str:
        parts = []
        for label, names in (("missing keys (in the network, not in the weights)", self.missing),
                             ("unexpected keys (in the weights, not in the network)", self.unexpected),
                             ("shape mismatches", self.mismatched)):
            if names:
                shown = ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
                parts.append(f"{label}: {shown}")
        return "; ".join(parts)

    def hint(self) -> str:
        prefixed = [k for k in self.unexpected if k.startswith("module.")]
        if prefixed and len(prefixed) == len(self.unexpected):
            return "the weights were saved from DistributedDataParallel: strip the 'module.' prefix of every key"
        return "the weights were saved from a different network: check network_def's arguments, or retrain"


def fit_weights(network: Any, state_dict: Mapping[str, Any], *, load: bool = True) -> WeightsFit:
    """Compare ``state_dict`` with ``network.state_dict()``; load it when it fits and ``load``.

    Returns:
        The comparison (``ok`` when names and shapes all agree).
    """
    own = network.state_dict()
    fit = WeightsFit(
        missing=[k for k in own if k not in state_dict],
        unexpected=[k for k in state_dict if k not in own],
        mismatched=[
            f"{k}: weights {tuple(v.shape)} vs network {tuple(own[k].shape)}"
            for k, v in state_dict.items()
            if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)
        ],
    )
    if fit.ok and load:
        network.load_state_dict(state_dict)
    return fit
