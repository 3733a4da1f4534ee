"""python -m bundle serve as a real process: --port 0 prints the URL, ready after warm-up, tritonclient
works against it, SIGTERM lets a request in flight finish and exits 0; --help imports no fastapi/torch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
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
    line = proc.stdout.readline()
    assert " at http://127.0.0.1:" in line, line + proc.stderr.read()
    url = line.split(" at ")[1].split()[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("not ready: " + proc.stderr.read())


def test_serve_process_tritonclient_and_sigterm_drains():
    proc, url = _start("--max-batch-size", "8", "--batch-timeout-ms", "800")
    try:
        client = httpclient.InferenceServerClient(url.removeprefix("http://"))
        assert client.get_model_metadata("digits_classification")["inputs"][0]["shape"] == [-1, 1, 8, 8]
        result = {}

        def slow_request():  # waits 800 ms in the batcher for company: in flight when SIGTERM comes
            inp = httpclient.InferInput("image", [1, 1, 8, 8], "FP32")
            inp.set_data_from_numpy(np.zeros((1, 1, 8, 8), np.float32))
            result["pred"] = httpclient.InferenceServerClient(url.removeprefix("http://")).infer(
                "digits_classification", [inp]).as_numpy("pred")

        thread = threading.Thread(target=slow_request)
        thread.start()
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        thread.join(30)
        assert proc.wait(30) == 0
        assert result["pred"].shape == (1, 10)
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
