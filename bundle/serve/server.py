"""Running an app with uvicorn on a socket bound first, so ``port=0`` can say which port it got.

SIGTERM and Ctrl-C stop accepting connections, let requests in flight finish (up to ``drain_s``) and
shut the batcher down; after SIGTERM ``serve`` returns, after Ctrl-C ``KeyboardInterrupt`` is raised.
"""

from __future__ import annotations

import signal
import socket
import threading
from typing import Any, Callable

__all__ = ["bind", "serve"]


def bind(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(app: Any, sock: socket.socket, *, drain_s: float = 30.0, log_level: str = "info",
          on_server: Callable[[Any], None] | None = None) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM/SIGINT (signals are handled only in the main thread; from
    another thread set ``server.should_exit``, the server ``on_server`` is given)."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=drain_s,  # type: ignore[arg-type]  # uvicorn says int; waits any seconds
                            access_log=False)
    server = uvicorn.Server(config)
    if on_server is not None:
        on_server(server)
    # uvicorn re-raises a captured SIGTERM once it has shut down, so that the default action kills the
    # process (exit -15); a drained shutdown is a success, so SIGTERM's handler while serving is a no-op.
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: None) if main else None
    try:
        server.run(sockets=[sock])
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
