"""Checks several apps share: ``network_data_format`` describes inputs and outputs, and the network can
be compiled to TorchScript (scripted, else traced) on an input shaped as the metadata says."""

from __future__ import annotations

from typing import Any

from bundle.errors import BundleError
from bundle.export.inputs import input_spec


def check_io(ctx: Any, check: str) -> bool:
    """Inputs and outputs, each with a dtype and num_channels; False when there is nothing to describe."""
    meta = ctx.bundle.metadata if ctx.metadata is None else ctx.metadata
    fmt = (meta or {}).get("network_data_format") or {}
    ok = True
    for side in ("inputs", "outputs"):
        entries = fmt.get(side) or {}
        if not entries:
            ctx.problem(check, f"network_data_format has no {side}", location=ctx.metadata_location("network_data_format"),
                        config_id=f"network_data_format::{side}",
                        hint=f"describe each of the network's {side}: dtype, num_channels, spatial_shape")
            ok = False
        for key, entry in entries.items():
            for field in ("dtype", "num_channels"):
                if not isinstance(entry, dict) or field not in entry:
                    ctx.problem(check, f"network_data_format {side} '{key}' has no {field}",
                                location=ctx.metadata_location("network_data_format", side, key),
                                config_id=f"network_data_format::{side}::{key}",
                                hint=f"the app reads each tensor's {field} from here")
                    ok = False
    return ok


def check_torchscript(ctx: Any, check: str, *, config: str = "inference") -> None:
    """The network builds and compiles with torch.jit.script (or trace) and runs on an example input."""
    import torch

    try:
        network = ctx.bundle.build_network(config, weights=None)
        spec = input_spec(ctx.bundle.metadata)
        example = spec.tensor(spec.shape(1, 1))
    except BundleError as err:
        ctx.error(check, err)
        return
    errors = []
    for how in ("script", "trace"):
        try:
            module = torch.jit.script(network) if how == "script" else torch.jit.trace(network, example)
            with torch.no_grad():
                module(example)
            return
        except Exception as err:  # noqa: BLE001 - torch.jit raises many kinds
            errors.append(f"{how}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    ctx.problem(check, f"the network cannot be compiled to TorchScript ({'; '.join(errors)})", config_id="network_def",
                hint="make forward scriptable (no **kwargs, typed arguments) or traceable (no data-dependent control flow)")
