"""``verify --app triton``: a Triton model repository can be written (``export --format triton``):
inputs and outputs described with types Triton has, and a network that compiles to TorchScript."""

from __future__ import annotations

from typing import Any

from bundle.errors import ExportError
from bundle.export.triton import model_config
from bundle.format.apps.common import check_io, check_torchscript

CHECK = "app:triton"


def check(ctx: Any) -> None:
    if not check_io(ctx, CHECK):
        return

    try:
        model_config(ctx.bundle.name, ctx.bundle.metadata)
    except ExportError as err:
        ctx.error(CHECK, err, location=ctx.metadata_location("network_data_format"))
        return
    check_torchscript(ctx, CHECK)
