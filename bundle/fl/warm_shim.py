"""A Flower app command (``flwr-clientapp``, ``flwr-serverapp``) as Flower's SuperExec starts it,
handed to a warm process (``bundle.fl.warm``).

Run as a script (``python -I -S warm_shim.py REAL_COMMAND ARGS...``; the standard library only, so it
starts in milliseconds): it passes the command's name, its arguments, environment, working folder and
standard streams to the warm process on the Unix socket ``$BUNDLE_FL_WARM_SOCKET``, which forks a child
that runs Flower's entry point of that command with them; it forwards SIGTERM and SIGINT to that child
and exits with its exit code. When the warm process cannot be reached it becomes ``REAL_COMMAND``
(Flower's executable), so a round never fails for want of it.
"""

import json
import os
import signal
import socket
import struct
import sys

SOCKET_ENV = "BUNDLE_FL_WARM_SOCKET"


def _cold(real: str, args: list) -> None:
    try:
        os.execv(real, [real] + args)
    except OSError as err:
        sys.exit(f"bundle: the warm launcher is not reachable, and '{real}' cannot run: {err}")


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def main() -> int:
    real, args = sys.argv[1], sys.argv[2:]
    command = os.path.basename(real)
    path = os.environ.get(SOCKET_ENV, "")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        _cold(real, args)
    streams = [fd for fd in (0, 1, 2) if _is_open(fd)]
    request = json.dumps({"command": command, "argv": [command] + args, "env": dict(os.environ), "cwd": os.getcwd(),
                          "streams": streams}).encode()
    socket.send_fds(conn, [struct.pack("!I", len(request)) + request], streams)
    replies = conn.makefile("rb")  # a line "PID N" once forked, then "EXIT CODE"
    reply = replies.readline()
    if not reply.startswith(b"PID "):  # the warm process went away, or does not run this command
        conn.close()
        _cold(real, args)
    child = int(reply[4:])

    def forward(signum: int, frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    reply = replies.readline()
    if not reply.startswith(b"EXIT "):
        sys.stderr.write(f"bundle: the warm launcher stopped before {command} ended\n")
        return 1
    code = int(reply[5:])
    return code if code >= 0 else 128 - code  # a child ended by signal N: 128 + N, as a shell says


if __name__ == "__main__":
    sys.exit(main())
