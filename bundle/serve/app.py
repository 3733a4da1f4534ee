"""The FastAPI app: the Open Inference Protocol's endpoints, ``/predict`` for image files, ``/metrics``.

Every refused request gets a 4xx with ``{"error": "..."}`` naming the problem; an exception inside the
model gives a 500 whose ``error`` holds only an id, which the server log shows with the traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from typing import Any, Mapping

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from bundle.serve.errors import ModelNotFound, RequestError

__all__ = ["create_app"]

log = logging.getLogger("bundle.serve")


def create_app(source: Any, *, format: str = "pytorch", name: str | None = None, device: Any = None,
               trusted: bool | None = None, max_batch_size: int = 8, batch_timeout_ms: float = 5.0,
               max_body_mb: float = 64.0, overrides: Mapping[str, Any] | None = None,
               version: str | None = None, threads: int | None = None) -> Any:
    """A FastAPI app serving one model.

    Args:
        source: a bundle folder, a zoo name (``NAME[@SPEC]``, from the cache), an exported file
            (``models/model.ts`` or ``models/model.onnx`` of a bundle), or a loaded ``ServedModel``.
        format: ``pytorch`` (``Bundle.build_network`` with ``models/model.pt``), ``torchscript`` or ``onnx``.
        name: the model's name in URLs (default: the bundle folder's name).
        device: where the network runs (default CPU).
        trusted: None: the trust rule (a folder trusted, a download not); False: safe mode.
        max_batch_size: the most samples in one forward; 1 turns dynamic batching off.
        batch_timeout_ms: how long a request waits for others to share its forward.
        max_body_mb: larger request bodies get a 413.
        threads: torch's intra-op threads for the forward (``torch.set_num_threads``, process-wide;
            default torch's own, one per core). Fewer leave cores to the event loop and the clients.

    The model is loaded and warmed up in the background once the server starts; until then
    ``/v2/health/ready`` answers 503 and inference 503.
    """
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    registry = CollectorRegistry()
    requests = Counter("bundle_serve_requests", "Requests by endpoint and status code", ["endpoint", "code"],
                       registry=registry)
    latency = Histogram("bundle_serve_request_latency_seconds", "Request latency by endpoint", ["endpoint"],
                        registry=registry, buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
    batch_sizes = Histogram("bundle_serve_batch_size", "Samples per forward pass", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128))
    in_flight = Gauge("bundle_serve_in_flight", "Requests being handled", registry=registry)
    ready_gauge = Gauge("bundle_serve_ready", "1 once the model is loaded and warmed up", registry=registry)

    state: dict[str, Any] = {"model": None, "batcher": None, "error": None, "arriving": 0}
    limit = int(max_body_mb * 1024 * 1024)

    def load() -> Any:
        from bundle.serve.model import ServedModel, load_model

        if threads:
            import torch

            torch.set_num_threads(int(threads))  # before any forward: threads started later take it up
        if isinstance(source, ServedModel):
            model = source
        else:
            model = load_model(source, format=format, name=name, device=device, trusted=trusted,
                               overrides=overrides, version=version)
        model.warm_up()
        return model

    async def start() -> None:
        from bundle.serve.batcher import Batcher

        try:
            model = await asyncio.to_thread(load)
        except Exception as err:  # noqa: BLE001 - reported by /ready and the log; the server stays up
            state["error"] = err
            log.error("loading the model failed: %s", err)
            return
        batcher = Batcher(model.forward, max_batch_size=max_batch_size, timeout_ms=batch_timeout_ms,
                          on_batch=batch_sizes.observe, arriving=lambda: state["arriving"])
        batcher.start()
        state["model"], state["batcher"] = model, batcher
        ready_gauge.set(1)
        log.info("model '%s' loaded and warmed up", model.name)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        task = asyncio.get_running_loop().create_task(start())
        app.state.loading = task
        yield
        task.cancel()
        if state["batcher"] is not None:
            await state["batcher"].stop()

    app = FastAPI(title="bundle serve", lifespan=lifespan)
    app.state.serving = state
    app.state.metrics = registry

    def error(status: int, message: str) -> Any:
        return JSONResponse({"error": message}, status_code=status)

    def served(model_name: str) -> Any:
        model = state["model"]
        if model is None:
            raise RequestError("the model is not loaded yet" if state["error"] is None
                               else f"the model failed to load: {state['error']}", status=503)
        if model_name != model.name:
            raise ModelNotFound(model_name, model.name)
        return model

    async def front(scope: dict, receive: Any, send: Any, routes: Any) -> None:
        """In front of the routes, as plain ASGI (Starlette's ``BaseHTTPMiddleware`` costs a task and
        two memory streams a request): the body limit, errors as ``{"error"}``, the metrics; and
        ``infer``, the hot path, answered here without FastAPI's routing and dependency solving."""
        if scope["type"] != "http":
            await routes(scope, receive, send)
            return
        path = scope["path"]
        endpoint = _endpoint(path)
        started = time.perf_counter()
        status = 500
        sent = False

        async def sending(message: dict) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status, sent = message["status"], True
            await send(message)

        in_flight.inc()
        try:
            size = _header(scope, b"content-length")
            if size is not None and size.isdigit() and int(size) > limit:
                raise RequestError(f"the request body is {int(size)} bytes; this server takes at most {limit} "
                                   f"(--max-body-mb {max_body_mb:g})", status=413)
            model_name = _infer_model(path)
            if model_name is not None:
                if scope["method"] != "POST":
                    raise RequestError(f"infer takes POST, not {scope['method']}", status=405)
                await infer(model_name, scope, receive, sending)
            else:
                await routes(scope, receive, sending)
        except ClientDisconnect:
            status = 499  # nginx's code for it: the client went away before its answer
        except RequestError as err:
            if not sent:
                await _send_json(sending, err.status, {"error": str(err)})
        except Exception:  # noqa: BLE001 - the client sees an id, the log the traceback
            incident = uuid.uuid4().hex[:12]
            log.exception("error %s while handling %s %s", incident, scope["method"], path)
            if not sent:
                await _send_json(sending, 500, {"error": f"internal error {incident} (the server log has the details)"})
        finally:
            in_flight.dec()
            requests.labels(endpoint, str(status)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - started)

    app.add_middleware(_Front, handle=front)

    async def body_of(receive: Any) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(f"the request body is over {limit} bytes (--max-body-mb {max_body_mb:g})",
                                   status=413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    @app.get("/v2")
    async def server_metadata() -> Any:
        from bundle import __version__

        return {"name": "bundle", "version": __version__, "extensions": ["binary_tensor_data"]}

    @app.get("/v2/health/live")
    async def live() -> Any:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Any:
        ok = state["model"] is not None
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/v2/models/{model_name}/ready")
    @app.get("/v2/models/{model_name}/versions/{model_version}/ready")
    async def model_ready(model_name: str, model_version: str = "") -> Any:
        served(model_name)
        return {"name": model_name, "ready": True}

    @app.get("/v2/models/{model_name}")
    @app.get("/v2/models/{model_name}/versions/{model_version}")
    async def model_metadata(model_name: str, model_version: str = "") -> Any:
        return served(model_name).metadata()

    async def infer(model_name: str, scope: dict, receive: Any, send: Any) -> None:
        """``POST /v2/models/NAME[/versions/V]/infer``: the network on the request's tensors, batched."""
        from bundle.serve.protocol import HEADER_LENGTH, encode_response

        model = served(model_name)
        state["arriving"] += 1
        try:
            array, payload = decoded(model, scope, await body_of(receive))
        finally:
            state["arriving"] -= 1
        outs = await state["batcher"].submit(array)
        named = [(s.name, o) for s, o in zip(model.outputs, outs)]
        body_out, header = encode_response(payload, model.name, model.version, named)
        headers = [(b"content-type", b"application/json" if header is None else b"application/octet-stream"),
                   (b"content-length", str(len(body_out)).encode())]
        if header is not None:
            headers.append((HEADER_LENGTH.lower().encode(), str(header).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body_out})

    def decoded(model: Any, scope: dict, body: bytes) -> Any:
        import numpy as np

        from bundle.serve.protocol import HEADER_LENGTH, decode_request

        encoding = _header(scope, b"content-encoding")
        if encoding in ("gzip", "deflate"):
            import zlib

            try:
                body = zlib.decompress(body, 47)  # gzip or zlib header
            except zlib.error as err:
                raise RequestError(f"the body is not valid {encoding} data: {err}") from None
        payload, inputs = decode_request(body, _header(scope, HEADER_LENGTH.lower().encode()))
        for spec in model.inputs:
            if spec.name not in inputs:
                raise RequestError(f"the request has no input '{spec.name}'; the model takes "
                                   f"{', '.join(s.name for s in model.inputs)}")
        for key in inputs:
            model.input_spec(key)
        spec = model.inputs[0]
        array = inputs[spec.name]
        if array.dtype != np.float32 and spec.datatype == "FP32" and not np.issubdtype(array.dtype, np.floating):
            raise RequestError(f"input '{spec.name}' is {payload['inputs'][0]['datatype']}; the model takes {spec.datatype}")
        model.check_input(spec.name, array)
        return array.astype(np.float32, copy=False), payload

    @app.post("/v2/models/{model_name}/predict")
    async def predict(model_name: str, request: Request) -> Any:
        from bundle.serve.images import MEDIA, decode_image, encode_image

        model = served(model_name)
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            form = await request.form(max_part_size=limit)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise RequestError("the form has no file field 'file'", hint="curl -F file=@image.nii.gz URL")
            filename, data = upload.filename or "upload", await upload.read()
        else:
            filename, data = request.query_params.get("filename", "upload"), await body_of(request.receive)
        if not data:
            raise RequestError("the upload is empty")
        image, kind, info = decode_image(filename, data)
        result = await state["batcher"].run(model.predict, image)
        if model.task == "classification":
            values = [float(v) for v in result.reshape(-1)]
            best = max(range(len(values)), key=values.__getitem__)
            names = model.class_names if len(model.class_names) == len(values) else [str(i) for i in range(len(values))]
            return {"model_name": model.name, "class": names[best], "index": best,
                    "scores": dict(zip(names, values))}
        return Response(encode_image(result, kind, info), media_type=MEDIA[kind],
                        headers={"Content-Disposition": f'attachment; filename="{_label_name(filename, kind)}"'})

    @app.get("/metrics")
    async def metrics() -> Any:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Any) -> Any:
        return error(404, f"no endpoint {request.method} {request.url.path}")

    return app


class _Front:
    """The ASGI middleware that hands every request to ``create_app``'s ``front``."""

    def __init__(self, app: Any, handle: Any) -> None:
        self.app, self.handle = app, handle

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.handle(scope, receive, send, self.app)


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _infer_model(path: str) -> str | None:
    """The model name of an ``infer`` path (``/v2/models/NAME[/versions/V]/infer``), else None."""
    parts = path.split("/")
    if len(parts) in (5, 7) and parts[1] == "v2" and parts[2] == "models" and parts[-1] == "infer" and parts[3] \
            and (len(parts) == 5 or parts[4] == "versions" and parts[5]):
        return parts[3]
    return None


async def _send_json(send: Any, status: int, content: Any) -> None:
    body = json.dumps(content, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _endpoint(path: str) -> str:
    parts = path.rstrip("/").split("/")
    if len(parts) >= 4 and parts[1:3] == ["v2", "models"]:
        return parts[-1] if parts[-1] in ("infer", "predict", "ready") else "metadata"
    return path


def _label_name(filename: str, kind: str) -> str:
    base = os.path.basename(filename) or "upload"
    for ext in (".nii.gz", ".nii", ".npy", ".png"):
        if base.endswith(ext):
            return base[: -len(ext)] + "_label" + ext
    return base + "_label"


def app_from_env() -> Any:
    """The app ``bundle serve --workers N`` builds in each worker, from ``BUNDLE_SERVE_APP`` (JSON of
    ``create_app``'s arguments, ``source`` included)."""
    options = json.loads(os.environ["BUNDLE_SERVE_APP"])
    return create_app(options.pop("source"), **options)
