"""A real HTTP server on 127.0.0.1 for tests and benchmarks: routes with bytes and faults, and a request log.

Faults per route: a connection dropped after N body bytes, a sequence of error statuses before the
real answer, slowness, wrong bytes, no Range support; unknown paths answer 404. Range requests
(``bytes=N-`` and ``bytes=N-M``) get 206 with Content-Range; HEAD gets the headers only.

    with LocalServer() as server:
        url = server.add("/a.zip", b"...", drop_after=100)
        ...
        assert server.requests("/a.zip")[1].headers["range"] == "bytes=100-"

Outside pytest: ``python tests/localserver.py FILE`` serves FILE at ``/NAME`` until killed
and prints its URL on the first line.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_INVERT = bytes(255 - i for i in range(256))


@dataclass(frozen=True)
class Request:
    """One request as the server saw it. ``headers`` has lower-case names."""

    method: str
    path: str
    headers: dict[str, str]

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


@dataclass
class Route:
    """What a path serves and how it misbehaves; counters are consumed as requests arrive."""

    body: bytes | Path
    drop_after: int | None = None
    drop_times: int = 1
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunk_size: int = CHUNK
    wrong_bytes: bool = False
    ranges: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    served: int = 0  # body-serving GETs so far (drop_after applies to the first drop_times of them)

    @property
    def size(self) -> int:
        return self.body.stat().st_size if isinstance(self.body, Path) else len(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: LocalServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address) -> None:
        # a client that hangs up (a timeout test, a dropped connection) is not a server error
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    server: _Server

    def log_message(self, format, *args) -> None:  # quiet: tests read the request log instead
        pass

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        with owner.lock:
            owner.log.setdefault(path, []).append(
                Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            )
            route = owner.routes.get(path)
            status = route.statuses.pop(0) if route and route.statuses else None
        if route is None:
            return self._status(404, {}, head)
        if route.delay and owner.stopping.wait(route.delay):
            return
        if status is not None:
            return self._status(status, route.headers, head)
        total = route.size
        start, end, code = 0, total - 1, 200
        wanted = self.headers.get("Range") if route.ranges else None
        if wanted:
            m = _RANGE.match(wanted.strip())
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
                else:  # bytes=-N: the last N bytes
                    start = max(total - int(m.group(2)), 0)
                if start >= total or start > end:
                    return self._status(416, {**route.headers, "Content-Range": f"bytes */{total}"}, head)
                code = 206
        length = end - start + 1
        headers = {"Content-Length": str(length), "Content-Type": "application/octet-stream", **route.headers}
        if route.ranges:
            headers["Accept-Ranges"] = "bytes"
        if code == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if head:
            return
        with owner.lock:
            route.served += 1
            drop = route.drop_after if route.drop_after is not None and route.served <= route.drop_times else None
        self._send_body(route, start, length, drop)

    def _send_body(self, route: Route, start: int, length: int, drop: int | None) -> None:
        limit = length if drop is None else min(drop, length)
        step = route.chunk_size
        if isinstance(route.body, Path) and not route.wrong_bytes and not route.chunk_delay:
            with open(route.body, "rb") as f:  # zero-copy: the benchmark's server must not be the bottleneck
                self.connection.sendfile(f, start, limit)
        else:
            data = memoryview(route.body.read_bytes() if isinstance(route.body, Path) else route.body)
            if route.wrong_bytes:
                data = memoryview(bytes(data[start : start + limit]).translate(_INVERT))
                start = 0
            sent = 0
            while sent < limit:
                if route.chunk_delay and self.server.owner.stopping.wait(route.chunk_delay):
                    return
                n = min(step, limit - sent)
                self.wfile.write(data[start + sent : start + sent + n])
                sent += n
        if drop is not None and drop < length:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def _status(self, code: int, headers: dict[str, str], head: bool) -> None:
        body = f"{code}\n".encode()
        self.send_response(code)
        for key, value in {"Content-Length": str(len(body)), "Content-Type": "text/plain", **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving routes added with :meth:`add`."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: dict[str, list[Request]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _Server(self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def add(
        self,
        path: str,
        body: bytes | str | os.PathLike,
        *,
        drop_after: int | None = None,
        drop_times: int = 1,
        statuses: list[int] | tuple[int, ...] = (),
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        chunk_size: int = CHUNK,
        wrong_bytes: bool = False,
        ranges: bool = True,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve ``body`` (bytes, or a file path served with sendfile) at ``path``; returns its URL.

        Args:
            drop_after: send the headers (full Content-Length), then only this many body bytes, then
                close the connection; on the first ``drop_times`` body-serving GETs.
            statuses: answer these statuses, one per request, before serving the body.
            delay: seconds to wait before answering (a server slow to reply).
            chunk_delay: seconds to wait before each ``chunk_size`` bytes of body (a slow stream).
            wrong_bytes: serve other bytes of the same length (each byte inverted).
            ranges: honour Range requests; False answers 200 with the whole body.
            headers: extra response headers (e.g. ``Retry-After``), on every answer of this route.
        """
        if not path.startswith("/"):
            path = "/" + path
        data = Path(body) if isinstance(body, (str, os.PathLike)) else bytes(body)
        route = Route(data, drop_after, drop_times, list(statuses), delay, chunk_delay, chunk_size,
                      wrong_bytes, ranges, dict(headers or {}))
        with self.lock:
            self.routes[path] = route
        return self.url(path)

    def requests(self, path: str, method: str | None = None) -> list[Request]:
        """The requests that ``path`` received so far, oldest first (only ``method`` ones if given)."""
        if not path.startswith("/"):
            path = "/" + path
        with self.lock:
            log = list(self.log.get(path, []))
        return [r for r in log if method is None or r.method == method]

    def start(self) -> LocalServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="localserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server() -> LocalServer:
    """A started :class:`LocalServer` (call ``.stop()`` when done), for use outside pytest."""
    return LocalServer().start()


def main() -> None:
    parser = argparse.ArgumentParser(description="serve one file on 127.0.0.1 until killed")
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    server = start_server()
    print(server.add("/" + args.file.name, args.file), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
