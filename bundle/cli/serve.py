"""``bundle serve``: start the inference server (the app is built by ``bundle.serve.create_app``)."""

from __future__ import annotations

import json
import os
from typing import Any


def serve(
    bundle: str,
    port: int = 8000,
    host: str = "127.0.0.1",
    format: str = "pytorch",
    device: str | None = None,
    max_batch_size: int = 8,
    batch_timeout_ms: float = 5.0,
    workers: int = 1,
    max_body_mb: float = 64.0,
    name: str | None = None,
    version: str | None = None,
    drain_s: float = 30.0,
    threads: int | None = None,
    safe: bool | None = None,
    trusted: bool | None = None,
    log_level: str = "info",
) -> int:
    """Serve a bundle on the Open Inference Protocol (KServe v2 / Triton's HTTP API) with /predict and /metrics.

    Prints the URL it bound ("serving NAME at http://HOST:PORT"), then loads and warms up the model:
    /v2/health/ready answers 200 once it can serve. SIGTERM stops accepting connections, lets
    requests in flight finish (up to --drain_s seconds) and exits 0 (Ctrl-C does the same, exit 130).

    Args:
        bundle: a bundle folder, a zoo name (NAME or NAME@SPEC, downloaded and cached), or an exported
            file in a bundle's models/ (model.ts, model.onnx).
        port: the TCP port; 0 picks a free one.
        host: the address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it).
        format: pytorch (the config's network with models/model.pt), torchscript or onnx.
        device: cpu (default) or cuda[:N].
        max_batch_size: the most samples in one forward pass; 1 turns dynamic batching off.
        batch_timeout_ms: how long a request waits for others to share its forward pass.
        workers: server processes sharing the port (each loads the model).
        max_body_mb: larger request bodies are refused with 413.
        name: the model's name in URLs (default: the bundle's folder name).
        version: the zoo version or range, for a zoo name.
        drain_s: on SIGTERM, how long requests in flight may take to finish.
        threads: torch's intra-op threads per server process (default: torch's own, one per core).
        safe: build in safe mode (the default for downloaded bundles).
        trusted: run a downloaded bundle's own code (only for bundles you trust).
        log_level: uvicorn's log level (debug, info, warning, error).
    """
    from bundle.cli.run import trust_from_flags
    from bundle.serve.server import bind, url_of

    trust = trust_from_flags(safe, trusted, {})
    options: dict[str, Any] = {"format": format, "name": name, "device": device, "trusted": trust,
                               "max_batch_size": int(max_batch_size), "batch_timeout_ms": float(batch_timeout_ms),
                               "max_body_mb": float(max_body_mb), "version": version,
                               "threads": int(threads) if threads else None}
    source = bundle
    if not os.path.exists(bundle):  # a zoo name: fetch it now, so a bad name fails before binding
        from bundle.registry.load import locate

        source = str(locate(bundle, version))
        options["name"] = name or bundle.split("@", 1)[0]  # served under the zoo name, not the cache folder's
    sock = bind(host, int(port))
    url = url_of(sock)
    print(f"serving {bundle} at {url} (ready at {url}/v2/health/ready)", flush=True)
    if int(workers) > 1:
        _multiprocess(source, options, sock, int(workers), drain_s, log_level)
        return 0
    from bundle.serve import create_app
    from bundle.serve.server import serve as run_server

    app = create_app(source, **options)
    run_server(app, sock, drain_s=float(drain_s), log_level=log_level)
    return 0


def _multiprocess(source: str, options: dict, sock: Any, workers: int, drain_s: float, log_level: str) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ["BUNDLE_SERVE_APP"] = json.dumps({"source": source, **options})
    config = uvicorn.Config("bundle.serve.app:app_from_env", factory=True, workers=workers, log_level=log_level,
                            timeout_graceful_shutdown=drain_s,  # type: ignore[arg-type]  # uvicorn says int; waits any seconds
                            access_log=False)
    Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock]).run()
