"""Warm Flower app processes: Flower's own ``flwr-clientapp`` and ``flwr-serverapp``, forked from a
process that has already imported Python's, Flower's, torch's and our modules.

Flower 1.42 starts a fresh ``flwr-clientapp`` process for every message a site gets (its SuperExec's
``SubprocessExecutor``; ``flwr-serverapp`` once per run), and each one imported flwr, torch (with
``torch._dynamo``, which an optimizer imports) and the bundle engine again: seconds per client per
round, most of a round of a small bundle. Flower's own warm executor pools exist only for its
Kubernetes executor.

``warm_flower_apps()`` starts one launcher process (``python -m bundle.fl.warm SOCKET ...``) that
imports all that once, then waits on a Unix socket in a private folder; the SuperExec finds our
``flwr-clientapp`` and ``flwr-serverapp`` first on ``PATH`` (``warm_shim.py``), which hand their
arguments, environment, working folder and standard streams to the launcher. The launcher forks a
child per task that runs Flower's entry point of that command unchanged: a process per message still
(the same isolation, the same task protocol, a new process id), without the imports. The launcher
starts no threads and never runs a bundle's code itself, so each child starts from the same clean
state. Where ``fork`` or Unix sockets are missing (Windows), or ``warm=False``, Flower's processes
start cold.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from bundle.fl.processes import stop_groups
from bundle.fl.warm_shim import SOCKET_ENV

__all__ = ["warm_flower_apps", "supported", "ENTRIES", "PRELOAD", "SOCKET_ENV"]

# the commands Flower's SuperExecs start by name, and their entry points (flwr's console scripts)
ENTRIES = {
    "flwr-clientapp": "flwr.supernode.cli:flwr_clientapp",
    "flwr-serverapp": "flwr.superlink.cli:flwr_serverapp",
}

# imported once by the launcher: what an app process of ours needs before it builds the bundle
PRELOAD = (
    "flwr.supernode.cli", "flwr.superlink.cli", "flwr.serverapp", "torch", "torch.optim", "torch._dynamo",
    "bundle.fl.flower", "bundle.fl.algo", "bundle.workflows.config_workflow", "bundle.config.parser",
    "bundle.components.training", "bundle.components.evaluation", "bundle.components.loaders",
    "bundle.components.handlers", "bundle.components.metrics", "bundle.components.networks",
)


def supported() -> bool:
    """Whether this platform can fork warm app processes (POSIX: ``fork`` and Unix sockets)."""
    return hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds")


@contextlib.contextmanager
def warm_flower_apps(env: dict[str, str], log: Path | None = None, *, enabled: bool = True,
                     ready_timeout: float = 120.0, entries: Mapping[str, str] = ENTRIES,
                     preload: Sequence[str] = PRELOAD) -> Iterator[dict[str, str]]:
    """Start the launcher; yield ``env`` with what Flower's processes need to use it (``PATH``, socket).

    Args:
        env: the environment the SuperLink and SuperNodes will be started with (its ``PATH`` finds
            Flower's commands).
        log: a file for the launcher's own output (default: discarded).
        enabled: False (or an unsupported platform) yields ``env`` unchanged: cold processes.
        ready_timeout: seconds to wait for the launcher's socket before going on without it.
        entries: command name -> the ``module:function`` a child runs for it (Flower's commands);
            a command not found on ``env``'s ``PATH`` is left to Flower.
        preload: the modules the launcher imports before it forks (the entries' modules are added).

    The launcher runs in a session of its own and is stopped (with any child still running) on exit.
    """
    real = {name: shutil.which(name, path=env.get("PATH")) for name in entries}
    if not enabled or not supported() or not any(real.values()):
        yield env
        return
    folder = Path(tempfile.mkdtemp(prefix="bundle-warm-"))  # 0700, and short enough for a socket path
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    shim = Path(__file__).with_name("warm_shim.py")
    for name, path in real.items():
        if path is not None:
            script = shlex.join([sys.executable, "-I", "-S", str(shim), path])
            (bin_dir / name).write_text(f'#!/bin/sh\nexec {script} "$@"\n', encoding="utf-8")
            (bin_dir / name).chmod(0o700)
    address = str(folder / "launcher.sock")
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    process = subprocess.Popen([sys.executable, "-m", "bundle.fl.warm", address, json.dumps(dict(entries)), *preload],
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + ready_timeout
        while not os.path.exists(address) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        yield {**env, "PATH": str(bin_dir) + os.pathsep + env.get("PATH", ""), SOCKET_ENV: address}
    finally:
        stop_groups([process])  # the launcher and the children it forked
        if out is not subprocess.DEVNULL:
            out.close()  # type: ignore[union-attr]
        shutil.rmtree(folder, ignore_errors=True)


# --- the launcher ------------------------------------------------------------------------------

def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One request: a length-prefixed JSON object and the shim's standard streams."""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    try:
        while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
            more = conn.recv(1 << 20)
            if not more:
                raise ConnectionError("the request ended early")
            data += more
        size = struct.unpack("!I", data[:4])[0]
        request = json.loads(data[4:4 + size])
        if not isinstance(request, dict) or not {"command", "argv", "env", "cwd"} <= request.keys():
            raise ValueError("not a request: it needs command, argv, env and cwd")
        return request, fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def _child(request: dict[str, Any], fds: list[int], entry: str) -> None:
    """In the forked child: become the shim's process (its Flower command) and run ``entry``."""
    code: Any = 1
    try:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        given = dict(zip(request.get("streams", []), fds))
        for target in (0, 1, 2):  # the shim's streams (a stream the shim had closed: the null device)
            os.dup2(given.get(target, devnull), target)
        for fd in (*fds, devnull):
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            numpy.random.seed()  # as a fresh process would be (Python's random reseeds itself at fork)
        module, _, function = entry.partition(":")
        getattr(importlib.import_module(module), function)()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001 (the child must end here, whatever happened)
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def serve(address: str, entries: Mapping[str, str] = ENTRIES, preload: Sequence[str] = PRELOAD) -> None:
    """Listen on ``address`` first (early connections wait), import ``preload``, then fork a child per
    request that runs the entry (``module:function``) of the request's command."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address + ".tmp")
    listener.listen(64)
    os.replace(address + ".tmp", address)  # the socket appears when it accepts
    for name in (*preload, *(entry.partition(":")[0] for entry in entries.values())):
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 (a module a child imports, and reports, itself)
            print(f"bundle.fl.warm: not preloaded: {name}: {err!r}", flush=True)
    import threading

    if threading.active_count() > 1:  # forking a process with threads can copy a held lock into every child
        print(f"bundle.fl.warm: the preloaded modules started threads: {threading.enumerate()}", flush=True)
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    print(f"bundle.fl.warm: ready on {address} (pid {os.getpid()})", flush=True)
    while not stopping or children:  # stopping: the children (in our process group) got the signal too
        if stopping:
            time.sleep(0.05)
        for _key, _ in [] if stopping else selector.select(timeout=0.05):
            conn, _ = listener.accept()
            try:
                request, fds = _receive(conn)
            except (OSError, ValueError) as err:
                print(f"bundle.fl.warm: a bad request: {err}", flush=True)
                conn.close()
                continue
            entry = entries.get(request["command"])
            if entry is None:  # the shim runs the command cold
                print(f"bundle.fl.warm: no entry for {request['command']!r}", flush=True)
                for fd in fds:
                    os.close(fd)
                conn.close()
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                selector.close()
                for other in children.values():
                    other.close()
                conn.close()
                _child(request, fds, entry)
            for fd in fds:
                os.close(fd)
            children[pid] = conn
            print(f"bundle.fl.warm: started pid {pid} ({request['command']})", flush=True)
            with contextlib.suppress(OSError):
                conn.sendall(f"PID {pid}\n".encode())
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            caller = children.pop(pid, None)
            code = os.waitstatus_to_exitcode(status)
            print(f"bundle.fl.warm: pid {pid} exited with {code}", flush=True)
            if caller is not None:
                with contextlib.suppress(OSError):
                    caller.sendall(f"EXIT {code}\n".encode())
                caller.close()
    listener.close()
    with contextlib.suppress(OSError):
        os.unlink(address)


if __name__ == "__main__":
    serve(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:])
