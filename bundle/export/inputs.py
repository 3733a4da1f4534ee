"""Example inputs for an export, shaped as the metadata's ``network_data_format`` describes the input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from bundle.errors import ExportError
from bundle.format.check_network import IO_KEY, pick, torch_dtype
from bundle.format.shapes import fake_spatial_shape

__all__ = ["InputSpec", "input_spec"]


@dataclass
class InputSpec:
    """The network's (first) input and its outputs' names, as the metadata describes them."""

    name: str
    channels: int
    spatial: Sequence[Any]  # the metadata's spatial_shape entries ("8*n", 96, "*")
    dtype: Any  # torch.dtype
    output_names: list[str]
    fixed_shape: tuple[int, ...] | None = None  # an explicit input shape (MONAI's input_shape)

    def shape(self, batch: int, n: int = 1, any: int = 8) -> tuple[int, ...]:
        """The input shape for this batch size and value of ``n`` (``p`` follows ``n``)."""
        if self.fixed_shape is not None:
            return (batch, *self.fixed_shape[1:])
        spatial = fake_spatial_shape(self.spatial, p=n, n=n, any=any * n)
        return (batch, self.channels, *spatial) if self.channels > 0 else (batch, *spatial)

    def tensor(self, shape: Sequence[int], seed: int = 0) -> Any:
        """A random input of ``shape`` (values in [0, 1) for floats, {0, 1} otherwise)."""
        import torch

        gen = torch.Generator().manual_seed(seed)
        if self.dtype.is_floating_point:
            return torch.rand(tuple(shape), generator=gen).to(self.dtype)
        return torch.randint(0, 2, tuple(shape), generator=gen).to(self.dtype)

    def parity_shapes(self, *, dynamic_batch: bool, dynamic_spatial: bool) -> list[tuple[int, ...]]:
        """The shapes a parity check runs: the export's own, then other batch sizes and spatial sizes."""
        shapes = [self.shape(2, 2)]
        if dynamic_batch:
            shapes += [self.shape(1, 2), self.shape(3, 2)]
        if dynamic_spatial:
            shapes += [self.shape(1, 1), self.shape(2, 3)]
        return list(dict.fromkeys(shapes))


def input_spec(metadata: Mapping[str, Any] | None, *, input_shape: Sequence[int] | None = None) -> InputSpec:
    """Read the input description from ``metadata["network_data_format"]``.

    Args:
        metadata: the bundle's metadata.
        input_shape: an explicit input shape (batch first), used instead of the metadata's sizes.

    Raises:
        ExportError: the metadata describes no input and no ``input_shape`` is given, or its
            description is not usable (the message names the entry).
    """
    io_format = (metadata or {}).get(IO_KEY)
    io_format = io_format if isinstance(io_format, Mapping) else {}
    outputs = io_format.get("outputs")
    output_names = list(outputs) if isinstance(outputs, Mapping) and outputs else ["pred"]
    found = pick(io_format.get("inputs"), "image")
    if input_shape:
        name = found[0] if found else "image"
        dtype = torch_dtype(found[1].get("dtype", "float32")) if found and isinstance(found[1], Mapping) else None
        import torch

        shape = tuple(int(s) for s in input_shape)
        return InputSpec(name, 0, shape[1:], dtype or torch.float32, output_names, fixed_shape=shape)
    if found is None or not isinstance(found[1], Mapping):
        raise ExportError(f"the metadata's {IO_KEY} describes no input tensor, so no example input can be built",
                          hint="describe it under network_data_format::inputs, or give input_shape")
    name, desc = found
    try:
        channels = int(desc.get("num_channels", 0))
        spatial = list(desc.get("spatial_shape", []))
        fake_spatial_shape(spatial)  # checked now, so that a bad entry is reported before exporting
        dtype = torch_dtype(desc.get("dtype", "float32"))
    except (TypeError, ValueError) as err:
        raise ExportError(f"{IO_KEY}::inputs::{name} cannot give an example input: {getattr(err, 'message', err)}",
                          hint=getattr(err, "hint", "") or "fix num_channels, spatial_shape and dtype") from err
    return InputSpec(name, channels, spatial, dtype, output_names)
