"""``ExportOptions``: how a network is exported and checked, every option's value checked here and only here."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from bundle.errors import ExportError, did_you_mean

__all__ = ["DEFAULT_BATCH_RANGE", "EXTERNAL_DATA_MODES", "ONNX_EXPORTERS", "PRECISIONS", "TENSORRT_CONVERTERS",
           "TOLERANCES", "ExportOptions", "check_batch_range", "check_converter", "check_device",
           "check_external_data", "check_precision", "tolerance"]

ONNX_EXPORTERS = ("dynamo", "torchscript")
EXTERNAL_DATA_MODES = ("auto", "always", "never")
PRECISIONS = ("fp32", "fp16")
# The default parity tolerance (absolute and relative) for each precision.
TOLERANCES = {"fp32": 1e-4, "fp16": 1e-2}
TENSORRT_CONVERTERS = ("torch_tensorrt", "onnx")
DEFAULT_BATCH_RANGE = (1, 2, 4)


@dataclass(frozen=True)
class ExportOptions:
    """How a network is exported and checked against eager PyTorch; each format reads the options it has.

    Values are checked (an ``ExportError`` naming the option) and normalized (``"FP16"`` -> ``"fp16"``,
    ``1`` -> ``"cuda:1"``) when the options are made; ``for_format`` fills in a format's defaults.

    Attributes:
        key_in_ckpt: the key holding the state dict in a nested checkpoint.
        input_shape: an input shape (batch first) instead of the one ``network_data_format`` gives.
        verify: check the export against eager PyTorch (False skips it, explicitly).
        atol: the parity check's absolute tolerance (None: 1e-4 for fp32, 1e-2 for fp16).
        rtol: its relative tolerance (same defaults).
        device: where the export is made and checked: ``cpu``, ``cuda``, ``cuda:N`` or N; None: the
            format's default (``cpu``; TensorRT: ``cuda:0``).
        precision: ``fp32`` or ``fp16`` (half-precision weights; the parity reference stays fp32).
        trace: TorchScript by ``torch.jit.trace`` instead of ``torch.jit.script``.
        exporter: for ONNX (and TensorRT's onnx converter), ``dynamo`` (``torch.export``-based) or
            ``torchscript`` (the older one); None: ``dynamo``, unless the format chooses (Triton:
            ``torchscript`` when the spatial sizes are open).
        opset: the ONNX opset (None: the exporter's).
        dynamic_batch: ONNX: the batch axis is dynamic.
        dynamic_spatial: ONNX: the spatial axes are dynamic too; TensorRT: the profile spans ``n`` = 1
            to 4 in ``spatial_shape`` instead of the example's size. None: False, unless the format
            chooses (Triton: whether ``spatial_shape`` leaves a size open).
        external_data: ONNX: ``auto`` (weights in ``<output>.data`` when the model is over 2 GB),
            ``always`` or ``never``.
        converter: TensorRT: ``torch_tensorrt`` (a TorchScript file with the engines inside) or ``onnx``
            (TensorRT's ONNX parser; a serialized engine and ``<output>.json``).
        dynamic_batchsize: TensorRT: the batch range ``[min, opt, max]`` (None: ``[1, 2, 4]``).
        converter_kwargs: more keyword arguments for the underlying export call.
        input_name: ONNX and TensorRT: the input's name instead of the metadata's.
        output_names: ONNX and TensorRT: the outputs' names instead of the metadata's.

    Example:
        >>> options = ExportOptions(precision="FP16", device=1)
        >>> options.precision, options.device, options.for_format("onnx").atol
        ('fp16', 'cuda:1', 0.01)
    """

    key_in_ckpt: str | None = None
    input_shape: Sequence[int] | None = None
    verify: bool = True
    atol: float | None = None
    rtol: float | None = None
    device: str | int | None = None
    precision: str = "fp32"
    trace: bool = False
    exporter: str | None = None
    opset: int | None = None
    dynamic_batch: bool = True
    dynamic_spatial: bool | None = None
    external_data: str = "auto"
    converter: str = "torch_tensorrt"
    dynamic_batchsize: Sequence[int] | str | None = None
    converter_kwargs: Mapping[str, Any] = field(default_factory=dict)
    input_name: str | None = None
    output_names: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.exporter is not None and self.exporter not in ONNX_EXPORTERS:
            raise ExportError(f"unknown ONNX exporter '{self.exporter}'",
                              hint="use 'dynamo' (default) or 'torchscript'")
        checked = {"external_data": check_external_data(self.external_data),
                   "precision": check_precision(self.precision),
                   "device": None if self.device is None else check_device(self.device),
                   "converter_kwargs": dict(self.converter_kwargs or {}),
                   "input_name": str(self.input_name) if self.input_name else None,
                   "output_names": [str(n) for n in self.output_names] if self.output_names else None}
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: normalized once, here

    @classmethod
    def of(cls, options: ExportOptions | None = None, /, **values: Any) -> ExportOptions:
        """``options`` (default: the defaults) with ``values`` replacing its fields: how functions take both
        an ``ExportOptions`` and the options as keyword arguments.

        Raises:
            TypeError: a name is not an option (the message names the close one).
            ExportError: a value is invalid.

        Example:
            >>> ExportOptions.of(ExportOptions(trace=True), opset=17).trace
            True
        """
        names = [f.name for f in dataclasses.fields(cls)]
        for name in values:
            if name not in names:
                raise TypeError(f"'{name}' is not an export option; {did_you_mean(name, names) or 'see ExportOptions'}")
        base = options if options is not None else cls()
        return dataclasses.replace(base, **values) if values else base

    def for_format(self, format: str) -> ExportOptions:
        """These options with ``format``'s defaults filled in: the device, the exporter, the tolerances, and for
        TensorRT the converter and batch range (checked). Nothing is imported and no device is probed.

        Raises:
            ExportError: TensorRT's converter or batch range is invalid.
        """
        resolved: dict[str, Any] = {"exporter": self.exporter or "dynamo",
                                    "dynamic_spatial": bool(self.dynamic_spatial),
                                    "atol": tolerance(self.precision, self.atol),
                                    "rtol": tolerance(self.precision, self.rtol)}
        if format == "tensorrt":
            resolved.update(converter=check_converter(self.converter),
                            dynamic_batchsize=check_batch_range(self.dynamic_batchsize),
                            device=check_device("cuda" if self.device is None else self.device))
        else:
            resolved.update(device=check_device(self.device), dynamic_batchsize=None)
        return dataclasses.replace(self, **resolved)


def check_precision(precision: Any) -> str:
    """``precision`` as ``fp32`` or ``fp16``.

    Raises:
        ExportError: it is neither (the hint names the close one).

    Example:
        >>> check_precision("FP16")
        'fp16'
    """
    text = str(precision).strip().lower()
    if text not in PRECISIONS:
        raise ExportError(f"unknown precision '{precision}'",
                          hint=did_you_mean(text, PRECISIONS) or "use 'fp32' (default) or 'fp16'")
    return text


def tolerance(precision: str, value: float | None) -> float:
    """``value``, or the default parity tolerance of ``precision`` when it is None."""
    return TOLERANCES[check_precision(precision)] if value is None else float(value)


def check_device(device: Any) -> str:
    """``device`` as ``cpu`` or ``cuda:N`` (an int N and ``cuda`` mean ``cuda:N`` and ``cuda:0``).

    Raises:
        ExportError: it names no CPU or CUDA device.

    Example:
        >>> check_device("cuda"), check_device(1), check_device(None)
        ('cuda:0', 'cuda:1', 'cpu')
    """
    if device is None:
        return "cpu"
    if isinstance(device, int) and not isinstance(device, bool) and device >= 0:
        return f"cuda:{device}"
    text = str(device).strip().lower()
    if text == "cpu":
        return "cpu"
    if text == "cuda":
        return "cuda:0"
    kind, _, index = text.partition(":")
    if kind == "cuda" and index.isdigit():
        return f"cuda:{int(index)}"
    raise ExportError(f"unknown device '{device}'", hint="use 'cpu', 'cuda' or 'cuda:N' (N: the GPU's index)")


def check_external_data(mode: Any) -> str:
    """``mode`` as one of ``auto``, ``always``, ``never``.

    Raises:
        ExportError: it is none of them.
    """
    text = str(mode).strip().lower()
    if text not in EXTERNAL_DATA_MODES:
        raise ExportError(f"unknown external_data mode '{mode}'",
                          hint=did_you_mean(text, EXTERNAL_DATA_MODES) or "use 'auto' (default), 'always' or 'never'")
    return text


def check_converter(converter: Any) -> str:
    """``converter`` as ``torch_tensorrt`` or ``onnx``.

    Raises:
        ExportError: it is neither.
    """
    text = str(converter).strip().lower().replace("-", "_")
    if text not in TENSORRT_CONVERTERS:
        raise ExportError(f"unknown TensorRT converter '{converter}'",
                          hint=did_you_mean(text, TENSORRT_CONVERTERS) or "use 'torch_tensorrt' (default) or 'onnx'")
    return text


def check_batch_range(value: Any) -> tuple[int, int, int]:
    """The batch range ``(min, opt, max)`` from MONAI's ``dynamic_batchsize``.

    Args:
        value: three positive ints with min <= opt <= max, as a sequence or a string
            (``"[1, 2, 4]"``, ``"1,2,4"``); None gives ``DEFAULT_BATCH_RANGE``.

    Raises:
        ExportError: it is not three positive whole numbers in order.

    Example:
        >>> check_batch_range("1,4,8"), check_batch_range(None)
        ((1, 4, 8), (1, 2, 4))
    """
    if value is None:
        return DEFAULT_BATCH_RANGE
    items: Any = value
    if isinstance(value, str):
        items = [s for s in re.split(r"[\s,\[\]()]+", value) if s]
    try:
        numbers = [int(v) for v in items]
        whole = all(float(v) == int(v) for v in items) and not any(isinstance(v, bool) for v in items)
    except (TypeError, ValueError):
        numbers, whole = [], False
    if not whole or len(numbers) != 3 or min(numbers) < 1 or not numbers[0] <= numbers[1] <= numbers[2]:
        raise ExportError(f"dynamic_batchsize {value!r} is not a batch range [min, opt, max]",
                          hint="give three positive whole numbers with min <= opt <= max, e.g. [1, 2, 4]")
    return numbers[0], numbers[1], numbers[2]
