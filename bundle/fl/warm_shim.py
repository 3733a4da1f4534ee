"""``flwr-clientapp`` as Flower's SuperExec starts it, handed to a warm process (``bundle.fl.warm``).

Run as a script (``python -I -S warm_shim.py ARGS...``; the standard library only, so it starts in
milliseconds): it passes its arguments, environment, working folder and standard streams to the warm
process on the Unix socket ``$BUNDLE_FL_WARM_SOCKET``, which forks a child that runs Flower's own
``flwr-clientapp`` with them; it forwards SIGTERM and SIGINT to that child and exits with its exit
code. When the warm process cannot be reached it becomes Flower's ``flwr-clientapp``
(``$BUNDLE_FL_CLIENTAPP``), so a round never fails for want of it.
"""

import json
import os
import signal
import socket
import struct
import sys

SOCKET_ENV = "BUNDLE_FL_WARM_SOCKET"
CLIENTAPP_ENV = "BUNDLE_FL_CLIENTAPP"


def _cold(args: list) -> None:
    exe = os.environ.get(CLIENTAPP_ENV, "")
    if not exe:
        sys.exit(f"bundle: the warm ClientApp launcher is not reachable and ${CLIENTAPP_ENV} is not set")
    os.execv(exe, [exe] + args)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _read_line(conn: socket.socket, buffer: bytearray) -> bytes:
    while b"\n" not in buffer:
        chunk = conn.recv(256)
        if not chunk:
            return b""
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def main() -> int:
    args = sys.argv[1:]
    path = os.environ.get(SOCKET_ENV, "")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        _cold(args)
    streams = [fd for fd in (0, 1, 2) if _is_open(fd)]
    request = json.dumps({"argv": ["flwr-clientapp"] + args, "env": dict(os.environ), "cwd": os.getcwd(),
                          "streams": streams}).encode()
    socket.send_fds(conn, [struct.pack("!I", len(request)) + request], streams)
    buffer = bytearray()
    reply = _read_line(conn, buffer)
    if not reply.startswith(b"PID "):  # the warm process went away before it forked
        conn.close()
        _cold(args)
    child = int(reply[4:])

    def forward(signum: int, frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    reply = _read_line(conn, buffer)
    if not reply.startswith(b"EXIT "):
        sys.stderr.write("bundle: the warm ClientApp launcher stopped before the ClientApp ended\n")
        return 1
    code = int(reply[5:])
    return code if code >= 0 else 128 - code  # a child ended by signal N: 128 + N, as a shell says


if __name__ == "__main__":
    sys.exit(main())
