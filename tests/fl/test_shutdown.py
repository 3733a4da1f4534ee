"""SIGTERM to ``fl run`` and ``fl client`` stops every Flower process they started (the SuperLink,
the SuperNodes and what those start), although each runs in a session of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from tests.conftest import REPO  # noqa: E402

DIGITS = REPO / "zoo" / "digits_classification"


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, command line) of every process on this machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[1]), int(fields[2]), cmdline)
    return found


def _children(pid: int) -> dict[int, str]:
    return {p: cmd for p, (parent, _, cmd) in _processes().items() if parent == pid}


def _groups_alive(groups: set[int]) -> list[str]:
    return [cmd for _, (_, group, cmd) in _processes().items() if group in groups]


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _terminate_and_check(proc: subprocess.Popen, groups: set[int]) -> None:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out  # the CLI's answer to an interruption
    _wait_for(lambda: not _groups_alive(groups), 15, f"the Flower processes to stop: {_groups_alive(groups)}")


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def test_sigterm_to_fl_run_stops_superlink_and_supernodes(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "bundle", "fl", "run", str(DIGITS), "--clients", "2", "--rounds", "50",
         "--output", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        # the SuperLink, both SuperNodes and the warm ClientApp launcher are up, each the leader of its own group
        flower = _wait_for(lambda: (c := _children(proc.pid)) and len(
            [cmd for cmd in c.values() if "flower-super" in cmd or "bundle.fl.warm" in cmd]) == 4 and c, 120,
            "the SuperLink, SuperNodes and launcher")
        groups = {_processes()[pid][1] for pid, cmd in flower.items() if "flower-super" in cmd or "bundle.fl.warm" in cmd}
        assert proc.pid not in groups
        _terminate_and_check(proc, groups)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_to_fl_client_stops_its_supernode():
    proc = subprocess.Popen(
        [sys.executable, "-m", "bundle", "fl", "client", str(DIGITS), "--superlink", "127.0.0.1:1", "--insecure",
         "--connect_timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        node = _wait_for(lambda: [p for p, cmd in _children(proc.pid).items() if "flower-supernode" in cmd],
                         60, "the SuperNode")
        launcher = [p for p, cmd in _children(proc.pid).items() if "bundle.fl.warm" in cmd]
        assert len(launcher) == 1  # the warm ClientApp launcher, started before the SuperNode
        groups = {_processes()[node[0]][1], _processes()[launcher[0]][1]}
        # its SuperExec (which starts the ClientApp processes) is in the same group
        _wait_for(lambda: any("flower-superexec" in cmd for cmd in _groups_alive(groups)), 60, "the SuperExec")
        _terminate_and_check(proc, groups)
    finally:
        if proc.poll() is None:
            proc.kill()
