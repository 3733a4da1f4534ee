"""The Open Inference Protocol's (KServe v2) tensors: JSON ``data`` and the binary tensor data
extension (a JSON header of ``Inference-Header-Content-Length`` bytes followed by raw little-endian
tensors, each input's size in ``parameters.binary_data_size``), decoded to NumPy and encoded back.

JSON goes through orjson where it is installed (the ``serve`` extra has it): it writes a float array
some 30 times faster than ``json`` writes its ``tolist()``. The standard library takes over where
orjson would differ: a body it refuses (``json`` reads ``NaN``, and gives the error message), outputs
that are not all finite (orjson would write ``null``).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np

from bundle.serve.errors import RequestError

try:
    import orjson
except ImportError:  # the standard library's json does it all, slower
    orjson = None  # type: ignore[assignment]  # checked before each use

__all__ = ["HEADER_LENGTH", "decode_request", "encode_response"]

HEADER_LENGTH = "Inference-Header-Content-Length"
NUMPY = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT64": np.int64, "INT32": np.int32,
         "INT16": np.int16, "INT8": np.int8, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
         "UINT64": np.uint64, "BOOL": np.bool_}
DATATYPE = {np.dtype(v): k for k, v in NUMPY.items()}


def decode_request(body: bytes, header_length: str | None) -> tuple[dict, dict[str, np.ndarray]]:
    """The request's JSON and its inputs by name.

    Raises:
        RequestError: the body is not JSON, an input lacks name/shape/datatype/data, its datatype is
            unknown, or its data does not fill its shape.
    """
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            raise RequestError(f"{HEADER_LENGTH} is '{header_length}', not a number of bytes") from None
        if not 0 <= size <= len(body):
            raise RequestError(f"{HEADER_LENGTH} is {size}, but the body has {len(body)} bytes")
        head, binary = body[:size], memoryview(body)[size:]
    else:
        head, binary = body, memoryview(b"")
    try:
        request = _loads(head)
    except (ValueError, UnicodeDecodeError) as err:
        raise RequestError(f"the request body is not JSON: {err}",
                           hint=f"send a JSON inference request (binary tensors after {HEADER_LENGTH} bytes)") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
        raise RequestError("the request has no 'inputs' list", hint='send {"inputs": [{"name", "shape", "datatype", "data"}]}')
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for i, item in enumerate(request["inputs"]):
        if not isinstance(item, dict):
            raise RequestError(f"inputs[{i}] is not an object")
        missing = [k for k in ("name", "shape", "datatype") if k not in item]
        if missing:
            raise RequestError(f"inputs[{i}] has no {', '.join(missing)}")
        name, datatype, shape = item["name"], item["datatype"], item["shape"]
        if datatype not in NUMPY:
            raise RequestError(f"input '{name}' has datatype '{datatype}'; this server takes {', '.join(NUMPY)}")
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise RequestError(f"input '{name}' has shape {shape!r}; write a list of sizes")
        dtype = np.dtype(NUMPY[datatype])
        count = int(np.prod(shape)) if shape else 1
        nbytes = (item.get("parameters") or {}).get("binary_data_size")
        if nbytes is not None:
            if not isinstance(nbytes, int) or nbytes != count * dtype.itemsize:
                raise RequestError(f"input '{name}' declares binary_data_size {nbytes}; shape {shape} of {datatype} is "
                                   f"{count * dtype.itemsize} bytes")
            if offset + nbytes > len(binary):
                raise RequestError(f"input '{name}' needs {nbytes} bytes of binary data; only {len(binary) - offset} follow")
            array = np.frombuffer(binary[offset:offset + nbytes], dtype=dtype.newbyteorder("<")).reshape(shape)
            offset += nbytes
        else:
            if "data" not in item:
                raise RequestError(f"input '{name}' has no data (neither 'data' nor parameters.binary_data_size)")
            try:
                array = np.asarray(item["data"], dtype=dtype)
            except (TypeError, ValueError) as err:
                raise RequestError(f"input '{name}': its data is not {datatype}: {err}") from None
            if array.size != count:
                raise RequestError(f"input '{name}' has {array.size} values; shape {shape} needs {count}")
            array = array.reshape(shape)
        inputs[name] = array
    if offset != len(binary):
        raise RequestError(f"{len(binary) - offset} bytes of binary data follow the inputs that nothing declared")
    return request, inputs


def _loads(data: bytes) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # json says why, or reads what orjson refuses (NaN, Infinity)
    return json.loads(data)


def _wants_binary(request: Mapping[str, Any], name: str) -> bool:
    for out in request.get("outputs") or []:
        if isinstance(out, dict) and out.get("name") == name:
            return bool((out.get("parameters") or {}).get("binary_data", False))
    return bool((request.get("parameters") or {}).get("binary_data_output", False))


def _tolist(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_response(request: Mapping[str, Any], model: str, version: str,
                    outputs: Sequence[tuple[str, np.ndarray]]) -> tuple[bytes, int | None]:
    """The response body and, when some outputs go as binary, the JSON header's length.

    Only the outputs the request names are returned (all of them when it names none).

    Raises:
        RequestError: the request asks for an output the model does not have, or names none.
    """
    names: list[str] = []
    for i, o in enumerate(request.get("outputs") or []):
        if not isinstance(o, dict) or not isinstance(o.get("name"), str):
            raise RequestError(f"outputs[{i}] has no name", hint='ask for outputs as [{"name": "..."}]')
        names.append(o["name"])
    have = dict(outputs)
    unknown = [n for n in names if n not in have]
    if unknown:
        raise RequestError(f"the model has no output '{unknown[0]}'; its outputs: {', '.join(have)}")
    chosen = [(n, have[n]) for n in names] if names else list(outputs)
    items, blobs = [], []
    fast = orjson is not None  # and every output finite
    for name, array in chosen:
        array = np.ascontiguousarray(array)
        if array.dtype not in DATATYPE:
            array = array.astype(np.float32)
        entry: dict[str, Any] = {"name": name, "datatype": DATATYPE[array.dtype], "shape": list(array.shape)}
        if _wants_binary(request, name):
            blob = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = array.reshape(-1)  # a list, written by orjson or by _tolist
            fast = fast and (array.dtype.kind not in "fc" or bool(np.isfinite(array).all()))
        items.append(entry)
    response: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": items}
    if "id" in request:
        response["id"] = request["id"]
    head = None
    if fast:
        try:
            head = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
        except orjson.JSONEncodeError:  # something in the request's id orjson cannot write
            pass
    if head is None:
        head = json.dumps(response, separators=(",", ":"), default=_tolist).encode()
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)
