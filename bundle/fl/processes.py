"""Stopping the process groups we start (Flower's processes, the warm launcher and what they start)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Sequence

__all__ = ["stop_groups"]


def stop_groups(processes: Sequence[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM to the process group of each process still running (each leads a session of its own),
    then SIGKILL to any that has not exited ``grace`` seconds later."""
    for p in processes:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in processes:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
