"""``ExportJob``: what every exporter, the parity check and the failure messages are given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bundle.export.inputs import InputSpec

__all__ = ["ExportJob"]


@dataclass
class ExportJob:
    """Everything an exporter needs: the network (eval mode, weights loaded) and how to export it.

    ``network`` stays float32 (the parity reference); exporters take ``device.network_for_export``.
    """

    network: Any
    spec: InputSpec
    example: Any  # the example input tensor (CPU, the spec's dtype)
    net_id: str
    config: str
    metadata: dict
    extra_files: dict[str, bytes] = field(default_factory=dict)  # name -> JSON bytes (metadata, configs)
    trace: bool = False
    exporter: str = "dynamo"
    opset: int | None = None
    dynamic_batch: bool = True
    dynamic_spatial: bool = False
    converter_kwargs: dict[str, Any] = field(default_factory=dict)
    external_data: str = "auto"  # ONNX: auto | always | never
    device: str = "cpu"  # cpu | cuda:N
    precision: str = "fp32"  # fp32 | fp16
    converter: str = "torch_tensorrt"  # TensorRT: torch_tensorrt | onnx
    dynamic_batchsize: tuple[int, int, int] | None = None  # TensorRT: the batch range (min, opt, max)
    parity_shapes: list[tuple[int, ...]] | None = None  # set by an exporter whose inputs have a fixed range
