"""``ExportJob``: what every exporter, the parity check and the failure messages are given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bundle.export.inputs import InputSpec
from bundle.export.options import ExportOptions

__all__ = ["ExportJob"]


@dataclass
class ExportJob:
    """Everything an exporter needs: the network (eval mode, weights loaded) and how to export it.

    ``network`` stays float32 (the parity reference); exporters take ``device.network_for_export``.
    """

    network: Any
    spec: InputSpec | None  # None: no input is described (a scripted TorchScript export needs none)
    example: Any  # the example input tensor (CPU, the spec's dtype), None without a spec
    net_id: str
    config: str
    metadata: dict
    extra_files: dict[str, bytes] = field(default_factory=dict)  # name -> JSON bytes (metadata, configs)
    options: ExportOptions = field(default_factory=ExportOptions)  # with the format's defaults filled in
    parity_shapes: list[tuple[int, ...]] | None = None  # set by an exporter whose inputs have a fixed range
