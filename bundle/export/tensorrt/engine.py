"""Running a serialized TensorRT engine (``.engine``/``.plan``) from PyTorch: TensorRT's name-based
I/O API (``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``; TensorRT 8.5 and later)
on CUDA tensors that PyTorch allocates; TensorRT's log goes to ``logging``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

from bundle.errors import ExportError

__all__ = ["TensorRTEngine", "trt_logger"]

logger = logging.getLogger(__name__)


def trt_logger(trt: Any, errors: list[str] | None = None) -> Any:
    """A ``trt.ILogger`` writing TensorRT's messages to this module's logger; errors also go to ``errors``."""

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
                level = logging.ERROR
                if errors is not None:
                    errors.append(msg)
            elif severity == trt.ILogger.Severity.WARNING:
                level = logging.WARNING
            else:
                level = logging.DEBUG
            logger.log(level, "TensorRT: %s", msg)

    return _Logger()


class TensorRTEngine:
    """A serialized TensorRT engine loaded on a CUDA device; calling it runs it.

    Args:
        path: the engine file (what ``build_serialized_network`` returned, as written).
        device: the CUDA device to run on (``cuda:N``).
        output_order: output names in the order to return them (default: the engine's).

    Raises:
        ExportError: TensorRT cannot load the engine (another TensorRT version or GPU kind built it).

    Example:
        >>> engine = TensorRTEngine("models/model.engine")
        >>> (pred,) = engine(torch.rand(2, 1, 16, 16, 16))
    """

    def __init__(self, path: str | os.PathLike, device: str = "cuda:0", output_order: Sequence[str] = ()) -> None:
        import tensorrt as trt
        import torch

        self.path = Path(path)
        self.device = torch.device(device)
        errors: list[str] = []
        with torch.cuda.device(self.device):
            self._runtime = trt.Runtime(trt_logger(trt, errors))
            self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self.engine is None:
                raise ExportError(f"TensorRT {trt.__version__} cannot load the engine '{self.path}'"
                                  + (f": {errors[-1]}" if errors else ""),
                                  hint="an engine runs only with the TensorRT version, and on the kind of GPU, it "
                                       "was built with: build it again here")
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in self.inputs]
        if output_order and set(output_order) == set(outputs):
            outputs = [n for n in output_order if n in outputs]
        self.outputs = outputs
        self._dtypes = {n: torch_dtype(trt, self.engine.get_tensor_dtype(n)) for n in names}

    def __call__(self, *inputs: Any) -> list[Any]:
        """Run the engine on input tensors (any device; cast to the engine's types); return numpy outputs.

        Raises:
            ValueError: the number of inputs is wrong, or a shape is outside the engine's profile.
            RuntimeError: TensorRT fails to run it.
        """
        import torch

        if len(inputs) != len(self.inputs):
            raise ValueError(f"the engine takes {len(self.inputs)} inputs ({', '.join(self.inputs)}), not {len(inputs)}")
        with torch.cuda.device(self.device):
            stream = torch.cuda.current_stream(self.device)
            feeds = []  # kept referenced until the engine has run
            for name, x in zip(self.inputs, inputs):
                x = torch.as_tensor(x).to(self.device, dtype=self._dtypes[name]).contiguous()
                if not self.context.set_input_shape(name, tuple(x.shape)):
                    raise ValueError(f"input '{name}' of shape {tuple(x.shape)} is outside the shapes the engine "
                                     f"was built for")
                self.context.set_tensor_address(name, x.data_ptr())
                feeds.append(x)
            outputs = []
            for name in self.outputs:
                shape = tuple(self.context.get_tensor_shape(name))
                if any(s < 0 for s in shape):
                    raise RuntimeError(f"output '{name}' has a data-dependent shape {shape}, which this runner "
                                       "does not allocate")
                out = torch.empty(shape, dtype=self._dtypes[name], device=self.device)
                self.context.set_tensor_address(name, out.data_ptr())
                outputs.append(out)
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError(f"TensorRT failed to run the engine '{self.path.name}'")
            stream.synchronize()
        return [o.cpu().numpy() for o in outputs]


def torch_dtype(trt: Any, dtype: Any) -> Any:
    """The torch dtype of a ``trt.DataType``.

    Raises:
        ExportError: it has none (an fp8/fp4/int4 tensor at the engine's edge).
    """
    import torch

    table = {"FLOAT": torch.float32, "HALF": torch.float16, "BF16": torch.bfloat16, "INT8": torch.int8,
             "UINT8": torch.uint8, "INT32": torch.int32, "INT64": torch.int64, "BOOL": torch.bool}
    for name, torch_type in table.items():
        if getattr(trt.DataType, name, None) == dtype:
            return torch_type
    raise ExportError(f"the engine has an input or output of TensorRT type {dtype}, which PyTorch has no dtype for")
