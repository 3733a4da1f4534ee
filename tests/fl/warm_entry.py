"""An entry point for the warm launcher's tests (``tests/fl/test_warm.py``): what it does is its first argument."""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    action = sys.argv[1]
    if action == "echo":
        print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "value": os.environ.get("WARM_TEST_VALUE"),
                          "pid": os.getpid(), "parent": os.getppid()}))
        sys.stderr.write("to stderr\n")
    elif action == "exit":
        sys.exit(int(sys.argv[2]))
    elif action == "raise":
        raise RuntimeError("raised by the entry")
    elif action == "sleep":
        print("sleeping", flush=True)
        time.sleep(120)
