"""``ExportJob``: what every exporter, the parity check and the failure messages are given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bundle.export.inputs import InputSpec
from bundle.export.options import ExportOptions, check_device, tolerance

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

    # The options are filled in by ``ExportOptions.for_format`` before a job is made, and the exporters that
    # read the input spec run only when there is one; these give those facts their narrow types.

    @property
    def input_spec(self) -> InputSpec:
        """``spec``, for the steps that need an input (every one but a scripted TorchScript export)."""
        if self.spec is None:
            raise TypeError(f"exporting '{self.net_id}' this way needs an input spec, and the job has none")
        return self.spec

    @property
    def device(self) -> str:
        """``options.device`` (``cpu`` or ``cuda:N``)."""
        return check_device(self.options.device)

    @property
    def atol(self) -> float:
        """The parity check's absolute tolerance."""
        return tolerance(self.options.precision, self.options.atol)

    @property
    def rtol(self) -> float:
        """The parity check's relative tolerance."""
        return tolerance(self.options.precision, self.options.rtol)
