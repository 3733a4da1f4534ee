"""The warm launcher (``bundle.fl.warm``) as the SuperExec uses it: a ``flwr-clientapp`` on ``PATH``
whose run is a child forked from the launcher, with the caller's arguments, environment,
folder, streams, exit code and signals. The children here run ``tests/fl/warm_entry.py`` instead of
Flower's ClientApp (the federation tests run Flower's through it)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from bundle.fl import warm
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not warm.supported(), reason="needs fork and Unix sockets")

ENTRIES = {"flwr-clientapp": "tests.fl.warm_entry:main"}
PRELOAD = ("json",)  # the federation tests fork Flower's ClientApp from the real preload (warm.PRELOAD)


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    log = tmp_path_factory.mktemp("warm") / "warm.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with warm.warm_flower_apps(env, log, entries=ENTRIES, preload=PRELOAD) as warm_env:
        yield warm_env, log


def _run(env, *args, cwd=None, extra=None):
    return subprocess.run(["flwr-clientapp", *args], env={**env, **(extra or {})}, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def _launcher_pid(log) -> int:
    for line in log.read_text().splitlines():
        if "ready on" in line:
            return int(line.rsplit("pid ", 1)[1].rstrip(")"))
    raise AssertionError(log.read_text())


def test_a_run_is_a_forked_child_with_the_callers_arguments_folder_environment_and_streams(launcher, tmp_path):
    env, log = launcher
    assert shutil.which("flwr-clientapp", path=env["PATH"]).startswith(str(os.path.dirname(env[warm.SOCKET_ENV])))
    done = _run(env, "echo", "--token", "x y", cwd=tmp_path, extra={"WARM_TEST_VALUE": "from the caller"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["argv"] == ["flwr-clientapp", "echo", "--token", "x y"]
    assert seen["cwd"] == str(tmp_path)
    assert seen["value"] == "from the caller"
    assert seen["parent"] == _launcher_pid(log)  # forked, not started
    assert done.stderr == "to stderr\n"
    assert f"started pid {seen['pid']} (flwr-clientapp)\n" in log.read_text()


def test_exit_codes_and_exceptions_come_back(launcher):
    env, _ = launcher
    assert _run(env, "exit", "3").returncode == 3
    failed = _run(env, "raise")
    assert failed.returncode == 1
    assert "RuntimeError: raised by the entry" in failed.stderr


def test_concurrent_runs_each_get_their_own_child(launcher):
    env, _ = launcher
    procs = [subprocess.Popen(["flwr-clientapp", "echo", str(i)], env=env, stdout=subprocess.PIPE, text=True)
             for i in range(4)]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert [o["argv"][2] for o in outs] == ["0", "1", "2", "3"]
    assert len({o["pid"] for o in outs}) == 4


def test_sigterm_to_the_caller_ends_the_child(launcher):
    env, log = launcher
    proc = subprocess.Popen(["flwr-clientapp", "sleep"], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "sleeping\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 10
    while f"exited with {-signal.SIGTERM}" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"exited with {-signal.SIGTERM}" in log.read_text()


def test_without_the_launcher_the_real_command_runs(tmp_path):
    real = tmp_path / "flwr-clientapp"
    real.write_text("#!/bin/sh\necho real \"$@\"\n")
    real.chmod(0o755)
    shim = [sys.executable, "-I", "-S", str(REPO / "bundle" / "fl" / "warm_shim.py")]
    env = {**os.environ, warm.SOCKET_ENV: str(tmp_path / "no.sock")}
    done = subprocess.run([*shim, str(real), "--token", "t"], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "real --token t\n")
    done = subprocess.run([*shim, str(tmp_path / "missing"), "--token", "t"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "the warm launcher is not reachable" in done.stderr


def test_a_command_the_launcher_has_no_entry_for_runs_cold(launcher, tmp_path):
    env, log = launcher
    real = tmp_path / "flwr-serverapp"
    real.write_text("#!/bin/sh\necho cold \"$@\"\n")
    real.chmod(0o755)
    shim = [sys.executable, "-I", "-S", str(REPO / "bundle" / "fl" / "warm_shim.py")]
    done = subprocess.run([*shim, str(real), "x"], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "cold x\n")
    assert "no entry for 'flwr-serverapp'" in log.read_text()


def test_leaving_stops_the_launcher_and_its_children(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with warm.warm_flower_apps(env, tmp_path / "warm.log", entries=ENTRIES, preload=PRELOAD) as warm_env:
        proc = subprocess.Popen(["flwr-clientapp", "echo"], env=warm_env, stdout=subprocess.PIPE, text=True)
        child = json.loads(proc.communicate(timeout=120)[0])["parent"]
        sleeper = subprocess.Popen(["flwr-clientapp", "sleep"], env=warm_env, stdout=subprocess.PIPE, text=True)
        assert sleeper.stdout.readline() == "sleeping\n"
        folder = os.path.dirname(warm_env[warm.SOCKET_ENV])
    assert sleeper.wait(30) == 128 + signal.SIGTERM  # the child was stopped with the launcher
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
    assert not os.path.exists(folder)


def test_disabled_leaves_the_environment_as_it_is():
    env = {"PATH": os.environ["PATH"]}
    with warm.warm_flower_apps(env, enabled=False) as same:
        assert same is env


def test_a_bad_request_is_logged_and_the_launcher_goes_on(launcher):
    import socket

    env, log = launcher
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(env[warm.SOCKET_ENV])
        conn.sendall(b"\x00\x00\x00\x05nope!")
    deadline = time.monotonic() + 30
    while "a bad request" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "a bad request" in log.read_text()
    assert _run(env, "exit", "4").returncode == 4
