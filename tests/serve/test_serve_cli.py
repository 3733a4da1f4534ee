"""python -m bundle serve as a real process: --port 0 prints the URL, ready after warm-up, tritonclient
works against it, SIGTERM lets a request in flight finish and exits 0; --workers 2 share the port and
each answers; --help imports no fastapi/torch."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpclient = pytest.importorskip("tritonclient.http")
np = pytest.importorskip("numpy")

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "zoo" / "digits_classification"


def _start(*args):
    proc = subprocess.Popen([sys.executable, "-m", "bundle", "serve", str(DIGITS), "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        assert " at http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split(" at ")[1].split()[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url + "/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        return proc, url
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # a busy machine answers slowly
                time.sleep(0.05)
        raise AssertionError("not ready: " + proc.stderr.read())
    except BaseException:
        proc.kill()  # never leave a server behind
        proc.wait()
        raise


def test_serve_process_tritonclient_and_sigterm_drains():
    proc, url = _start("--max-batch-size", "8", "--batch-timeout-ms", "5")
    try:
        client = httpclient.InferenceServerClient(url.removeprefix("http://"))
        assert client.get_model_metadata("digits_classification")["inputs"][0]["shape"] == [-1, 1, 8, 8]
        inp = httpclient.InferInput("image", [2, 1, 8, 8], "FP32")
        inp.set_data_from_numpy(np.zeros((2, 1, 8, 8), np.float32))
        assert client.infer("digits_classification", [inp]).as_numpy("pred").shape == (2, 10)
        # a request in flight when SIGTERM comes: half its body sent before, the rest after
        body = json.dumps({"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32",
                                       "data": [0.25] * 64}]}).encode()
        sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        sock.sendall(b"POST /v2/models/digits_classification/infer HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:40])
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert proc.poll() is None, "the server exited with a request in flight"
        sock.sendall(body[40:])
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < 20:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        sock.close()
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert b'"pred"' in reply
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_help_imports_neither_fastapi_nor_torch():
    code = ("import sys; from bundle.cli import main; main(['--help']); "
            "print([m for m in ('fastapi', 'uvicorn', 'torch', 'prometheus_client') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "serve" in out and out.strip().endswith("[]")


def test_unknown_bundle_folder_is_a_clear_error():
    out = subprocess.run([sys.executable, "-m", "bundle", "serve", str(ROOT / "no_such_bundle"), "--port", "0"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 1 and "does not exist" in out.stderr


def _cpu_ticks(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the workers' CPU time from /proc")
def test_workers_share_the_port_and_each_answers():
    proc, url = _start("--workers", "2", "--log-level", "warning")
    workers = []
    try:
        workers += [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and p.joinpath("stat").exists()
                   and int(p.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1]) == proc.pid
                   and b"spawn_main" in p.joinpath("cmdline").read_bytes()]
        assert len(workers) == 2, workers
        # each worker loads and warms up its own model; both are done when neither uses CPU any more
        deadline, before, quiet = time.monotonic() + 90, [_cpu_ticks(w) for w in workers], 0
        while quiet < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
            now = [_cpu_ticks(w) for w in workers]
            quiet, before = quiet + 1 if now == before else 0, now
        body = json.dumps({"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32",
                                       "data": [0.5] * 64}]}).encode()

        def one(_):  # a new connection each: the kernel hands each to whichever worker accepts first
            req = urllib.request.Request(url + "/v2/models/digits_classification/infer", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, len(json.loads(r.read())["outputs"][0]["data"])

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(400)))
        assert set(answers) == {(200, 10)}
        used = [_cpu_ticks(w) - b for w, b in zip(workers, before)]
        assert min(used) >= 3, f"CPU ticks each worker spent on the requests: {used}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not any(Path(f"/proc/{w}").exists() and Path(f"/proc/{w}/stat").read_text().split()[2] != "Z"
                       for w in workers)
    finally:
        if proc.poll() is None:
            proc.kill()
            for w in workers:  # a killed supervisor leaves its workers running
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
