"""What an export did: where it wrote, how, and how far its outputs are from eager PyTorch's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

__all__ = ["ExportReport", "OutputParity", "ParityCheck", "compare_outputs"]


@dataclass
class OutputParity:
    """One output on one input: the largest absolute and relative differences from eager PyTorch."""

    name: str
    max_abs: float
    max_rel: float
    ok: bool
    detail: str = ""  # why it failed when it is not a numeric difference (shape, count)


@dataclass
class ParityCheck:
    """The outputs of the export on one input shape."""

    input_shape: tuple[int, ...]
    outputs: list[OutputParity] = field(default_factory=list)
    error: str = ""  # the exported model failed to run on this input

    @property
    def ok(self) -> bool:
        return not self.error and all(o.ok for o in self.outputs)


@dataclass
class ExportReport:
    """The result of ``export_bundle``.

    Attributes:
        format: the export format (``torchscript``, ``onnx``).
        output: the file written.
        net_id, config: the network's config id and the config it comes from.
        options: how it was exported (``trace``, ``exporter``, ``opset``, dynamic axes).
        checks: one parity check per input shape (empty when not verified).
        verified: whether the parity check ran.
        unchecked: why it could not run although asked for (a scripted TorchScript export of a network
            whose input is not described: nothing to run it on), else empty.
        atol, rtol: the tolerances it ran with.
        seconds: time spent exporting (verification not included).
        files: every file written, the model first, then its companions (``.data``, ``.json``).
    """

    format: str
    output: str
    net_id: str
    config: str
    options: dict[str, Any] = field(default_factory=dict)
    checks: list[ParityCheck] = field(default_factory=list)
    verified: bool = False
    atol: float = 1e-4
    rtol: float = 1e-4
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)
    unchecked: str = ""  # why the parity check could not run although it was asked for (no example input)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def max_abs(self) -> float:
        return max((o.max_abs for c in self.checks for o in c.outputs), default=0.0)

    def format_text(self) -> str:
        """The report for a person: one line per input shape and output."""
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items())
        lines = [f"exported '{self.net_id}' of config '{self.config}' to {self.format}: {self.output}"
                 f" ({self.seconds:.2f}s{'; ' + opts if opts else ''})"]
        if len(self.files) > 1:
            lines.append("with: " + ", ".join(self.files[1:]))
        if not self.verified:
            lines.append(f"parity: not checked ({self.unchecked or 'verify=False'})")
            return "\n".join(lines)
        lines.append(f"parity against eager PyTorch (atol={self.atol:g}, rtol={self.rtol:g}):")
        for check in self.checks:
            shape = "x".join(map(str, check.input_shape))
            if check.error:
                lines.append(f"  input {shape}: FAILED to run: {check.error}")
            for out in check.outputs:
                status = "ok" if out.ok else "FAILED"
                text = out.detail or f"max abs {out.max_abs:.3g}, max rel {out.max_rel:.3g}"
                lines.append(f"  input {shape}  {out.name}: {text}  {status}")
        return "\n".join(lines)

    __str__ = format_text


def compare_outputs(names: Sequence[str], expected: Sequence[Any], got: Sequence[Any], *,
                    atol: float, rtol: float) -> list[OutputParity]:
    """Compare numpy outputs elementwise: an element fails when |got - expected| > atol + rtol * |expected|."""
    import numpy as np

    found = []
    if len(expected) != len(got):
        return [OutputParity("*", float("inf"), float("inf"), False,
                             f"{len(got)} outputs, eager PyTorch gives {len(expected)}")]
    for i, (want, have) in enumerate(zip(expected, got)):
        name = names[i] if i < len(names) else f"output_{i}"
        want, have = np.asarray(want), np.asarray(have)
        if want.shape != have.shape:
            found.append(OutputParity(name, float("inf"), float("inf"), False,
                                      f"shape {have.shape}, eager PyTorch gives {want.shape}"))
            continue
        w, h = want.astype(np.float64), have.astype(np.float64)
        diff = np.abs(h - w)
        max_abs = float(diff.max()) if diff.size else 0.0
        max_rel = float((diff / np.maximum(np.abs(w), np.finfo(np.float32).tiny)).max()) if diff.size else 0.0
        ok = bool(np.all(diff <= atol + rtol * np.abs(w)))  # a NaN difference fails the comparison
        found.append(OutputParity(name, max_abs, max_rel, ok))
    return found
