"""The input shapes a TensorRT engine is built for: the smallest, the usual and the largest (its
optimization profile), from ``network_data_format`` and the batch range. Pure: imports no torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from bundle.errors import ExportError
from bundle.export.options import check_batch_range

if TYPE_CHECKING:
    from bundle.export.inputs import InputSpec

__all__ = ["SPATIAL_N_RANGE", "ShapeRange", "shape_range"]

# The values of n (and p) in spatial_shape ("8*n") that a profile with dynamic spatial axes spans.
SPATIAL_N_RANGE = (1, 2, 4)
EXAMPLE_N = 2  # the n of the example input every export is made with (export_configs: spec.shape(2, 2))


@dataclass(frozen=True)
class ShapeRange:
    """An input's smallest, usual (what TensorRT tunes for) and largest shapes."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def parity_shapes(self) -> list[tuple[int, ...]]:
        """The shapes a parity check runs: the usual one, then both ends of the range."""
        return list(dict.fromkeys([self.opt, self.min, self.max]))

    def as_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def shape_range(spec: "InputSpec", batch_range: Sequence[int] | str | None = None, *,
                dynamic_spatial: bool = False, spatial_n: Sequence[int] = SPATIAL_N_RANGE) -> ShapeRange:
    """The input shapes a TensorRT engine is built for.

    The batch axis spans ``batch_range``. The spatial axes are the example's (``n`` = 2 in
    ``spatial_shape``), or with ``dynamic_spatial`` span ``n`` (and ``p``) over ``spatial_n``;
    fixed entries (``96``) stay fixed, ``"*"`` follows ``n`` (8*n). An explicit input shape
    (``input_shape``) fixes the spatial axes.

    Args:
        spec: the input, as ``network_data_format`` (or ``input_shape``) describes it.
        batch_range: ``[min, opt, max]`` batch sizes (see ``check_batch_range``).
        dynamic_spatial: let the spatial sizes vary too.
        spatial_n: the (min, opt, max) values of ``n`` when they do.

    Raises:
        ExportError: the batch range is not valid, or ``spatial_n`` is not three ints in order.
        FormatError: a ``spatial_shape`` entry gives no valid size.

    Example:
        >>> spec = input_spec({"network_data_format": {"inputs": {"image": {
        ...     "num_channels": 1, "spatial_shape": ["8*n", "8*n"]}}}})
        >>> shape_range(spec, [1, 2, 4], dynamic_spatial=True)
        ShapeRange(min=(1, 1, 8, 8), opt=(2, 1, 16, 16), max=(4, 1, 32, 32))
    """
    low, opt, high = check_batch_range(batch_range)
    if dynamic_spatial and spec.fixed_shape is None:
        n_values = tuple(int(n) for n in spatial_n)
        if len(n_values) != 3 or min(n_values) < 1 or not n_values[0] <= n_values[1] <= n_values[2]:
            raise ExportError(f"spatial_n {tuple(spatial_n)} is not a range [min, opt, max] of n",
                              hint="give three positive ints with min <= opt <= max, e.g. (1, 2, 4)")
    else:
        n_values = (EXAMPLE_N,) * 3
    return ShapeRange(spec.shape(low, n_values[0]), spec.shape(opt, n_values[1]), spec.shape(high, n_values[2]))
