"""bundle serve's library: the Open Inference Protocol through the official tritonclient.http client
against a real uvicorn server on 127.0.0.1, predictions equal to bundle.load + forward, dynamic batching
under concurrent load, /predict on npy and NIfTI, /metrics, and the faults (each a 4xx, server keeps serving)."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
httpclient = pytest.importorskip("tritonclient.http")
np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

import bundle
from bundle.serve import create_app
from bundle.serve.server import bind, serve, url_of

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "zoo" / "digits_classification"
SEG = ROOT / "zoo" / "ellipsoid_segmentation"


class Server:
    """A real uvicorn server in a thread on 127.0.0.1 (port 0), ready once the model is warmed up."""

    def __init__(self, app):
        self.app = app
        self.sock = bind("127.0.0.1", 0)
        self.url = url_of(self.sock)
        self.host = self.url.removeprefix("http://")
        self.server = None
        self.thread = threading.Thread(target=serve, args=(app, self.sock),
                                       kwargs={"log_level": "warning", "on_server": self._keep}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:  # not listening yet, or slow to answer while the model loads (a busy machine)
                pass
            time.sleep(0.05)
        raise AssertionError("the server did not become ready")

    def _keep(self, server):
        self.server = server

    def stop(self):
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def digits():
    server = Server(create_app(DIGITS, max_batch_size=16, batch_timeout_ms=20, max_body_mb=1))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def seg():
    server = Server(create_app(SEG, max_batch_size=4, batch_timeout_ms=5))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def digits_net():
    return bundle.load(DIGITS)


def _infer(client, name, x, *, binary=True):
    inp = httpclient.InferInput("image", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = httpclient.InferRequestedOutput("pred", binary_data=binary)
    return client.infer(name, [inp], outputs=[out]).as_numpy("pred")


def _post(url, body, headers=None):
    req = urllib.request.Request(url, data=body, headers=headers or {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_tritonclient_health_metadata_and_parity(digits, digits_net):
    client = httpclient.InferenceServerClient(digits.host)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("digits_classification")
    meta = client.get_model_metadata("digits_classification")
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 8, 8]}]
    assert meta["outputs"] == [{"name": "pred", "datatype": "FP32", "shape": [-1, 10]}]
    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        want = digits_net(torch.from_numpy(x)).numpy()
    for binary in (True, False):
        got = _infer(client, "digits_classification", x, binary=binary)
        diff = float(np.abs(got - want).max())
        print(f"digits batch 3 binary={binary}: max abs diff {diff:.2e}")
        assert got.shape == (3, 10) and diff < 1e-5


def test_concurrent_requests_are_batched_and_routed(digits, digits_net):
    client = httpclient.InferenceServerClient(digits.host, concurrency=16)
    rng = np.random.default_rng(1)
    xs = [rng.random((1, 1, 8, 8), dtype=np.float32) for _ in range(32)]
    before = _metric(digits.url, "bundle_serve_batch_size_count")
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda x: _infer(httpclient.InferenceServerClient(digits.host), "digits_classification", x), xs))
    with torch.no_grad():
        want = digits_net(torch.from_numpy(np.concatenate(xs))).numpy()
    diff = max(float(np.abs(r[0] - w).max()) for r, w in zip(results, want))
    print(f"digits 32 concurrent requests: max abs diff {diff:.2e}")
    assert diff < 1e-5
    forwards = _metric(digits.url, "bundle_serve_batch_size_count") - before
    assert forwards < 32, f"{forwards} forward passes for 32 concurrent requests: nothing was batched"
    client.close()


def _metric(url, name):
    with urllib.request.urlopen(url + "/metrics") as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_metrics_prometheus_text(digits):
    with urllib.request.urlopen(digits.url + "/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name for f in text_string_to_metric_families(text)}
    assert {"bundle_serve_requests", "bundle_serve_request_latency_seconds", "bundle_serve_batch_size"} <= families


@pytest.mark.parametrize("body, message", [
    ({"inputs": [{"name": "image", "shape": [1, 1, 8, 7], "datatype": "FP32", "data": [0.0] * 56}]}, "size 7 in dim 3"),
    ({"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "BYTES", "data": ["a"] * 64}]}, "datatype 'BYTES'"),
    ({"inputs": [{"name": "img", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.0] * 64}]}, "no input 'image'"),
    ({"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.0] * 60}]}, "needs 64"),
    ({"inputs": []}, "no 'inputs'"),
])
def test_bad_requests_are_4xx_and_server_keeps_serving(digits, body, message):
    status, raw, _ = _post(digits.url + "/v2/models/digits_classification/infer", json.dumps(body).encode())
    assert status == 400 and message in json.loads(raw)["error"]
    client = httpclient.InferenceServerClient(digits.host)
    assert _infer(client, "digits_classification", np.zeros((1, 1, 8, 8), np.float32)).shape == (1, 10)


def test_unknown_model_body_limit_and_not_json(digits):
    status, raw, _ = _post(digits.url + "/v2/models/nope/infer", b"{}")
    assert status == 404 and "unknown model 'nope'" in json.loads(raw)["error"]
    import socket

    # a body over --max-body-mb is refused from its Content-Length, before it is read
    sock = socket.create_connection(("127.0.0.1", int(digits.host.rsplit(":", 1)[1])))
    sock.sendall(b"POST /v2/models/digits_classification/infer HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (2 << 20))
    reply = b""
    while b"max-body-mb" not in reply:
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 413") and b"max-body-mb" in reply
    # a chunked body (no Content-Length) is cut off once it passes the limit
    import requests

    r = requests.post(digits.url + "/v2/models/digits_classification/infer", data=iter([b"x" * (1 << 19)] * 3))
    assert r.status_code == 413 and "max-body-mb" in r.json()["error"]
    status, raw, _ = _post(digits.url + "/v2/models/digits_classification/infer", b"{not json")
    assert status == 400 and "not JSON" in json.loads(raw)["error"]
    r = requests.get(digits.url + "/v2/models/digits_classification/versions/1/infer")
    assert r.status_code == 405 and "POST" in r.json()["error"]
    r = requests.get(digits.url + "/v2/models/digits_classification/nothing")
    assert r.status_code == 404 and "no endpoint GET" in r.json()["error"]


def test_client_disconnecting_mid_request(digits):
    import socket

    sock = socket.create_connection(("127.0.0.1", int(digits.host.rsplit(":", 1)[1])))
    sock.sendall(b"POST /v2/models/digits_classification/infer HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"inputs\": [")
    sock.close()
    client = httpclient.InferenceServerClient(digits.host)
    assert client.is_server_ready()
    assert _infer(client, "digits_classification", np.zeros((1, 1, 8, 8), np.float32)).shape == (1, 10)


def test_predict_classifier_npy_json(digits, digits_net):
    x = np.random.default_rng(2).random((8, 8), dtype=np.float32)
    buf = io.BytesIO()
    np.save(buf, x)
    status, raw, _ = _post(digits.url + "/v2/models/digits_classification/predict?filename=x.npy", buf.getvalue(),
                           {"Content-Type": "application/octet-stream"})
    result = json.loads(raw)
    with torch.no_grad():
        probs = torch.softmax(digits_net(torch.from_numpy(x)[None, None]), 1)[0].numpy()
    assert status == 200 and result["index"] == int(probs.argmax())
    assert max(abs(result["scores"][str(i)] - float(p)) for i, p in enumerate(probs)) < 1e-5
    status, raw, _ = _post(digits.url + "/v2/models/digits_classification/predict", buf.getvalue()[:100],
                           {"Content-Type": "application/octet-stream"})
    assert status == 400 and "truncated" in json.loads(raw)["error"]
    status, raw, _ = _post(digits.url + "/v2/models/digits_classification/predict", b"GIF89a" + bytes(100),
                           {"Content-Type": "application/octet-stream"})
    assert status == 415


def test_predict_classifier_png_upload(digits, digits_net):
    image = pytest.importorskip("PIL.Image")
    requests = pytest.importorskip("requests")

    pixels = np.random.default_rng(4).integers(0, 256, (8, 8), dtype=np.uint8)
    buf = io.BytesIO()
    image.fromarray(pixels).save(buf, format="PNG")
    r = requests.post(digits.url + "/v2/models/digits_classification/predict",
                      files={"file": ("digit.png", buf.getvalue())}, timeout=30)
    assert r.status_code == 200, r.text
    with torch.no_grad():
        probs = torch.softmax(digits_net(torch.from_numpy(pixels.astype(np.float32))[None, None]), 1)[0].numpy()
    assert r.json()["index"] == int(probs.argmax())
    assert max(abs(r.json()["scores"][str(i)] - float(p)) for i, p in enumerate(probs)) < 1e-4
    r = requests.post(digits.url + "/v2/models/digits_classification/predict",
                      files={"file": ("digit.png", buf.getvalue()[:40])}, timeout=30)
    assert r.status_code == 400 and "cannot be read as png" in r.json()["error"]


def test_segmentation_nifti_predict_is_the_bundles_tiled_inference(seg):
    nib = pytest.importorskip("nibabel")
    requests = pytest.importorskip("requests")

    from bundle.components.inference import ChannelArgmax, TiledInferer

    net = bundle.load(SEG)
    volume = np.random.default_rng(3).normal(0.5, 0.3, (40, 32, 32)).astype(np.float32)
    affine = np.diag([1.5, 1.5, 2.0, 1.0])
    data = gzip.compress(nib.Nifti1Image(volume, affine).to_bytes())
    r = requests.post(seg.url + "/v2/models/ellipsoid_segmentation/predict",
                      files={"file": ("vol.nii.gz", data)}, timeout=60)
    assert r.status_code == 200, r.text
    assert 'vol_label.nii.gz' in r.headers["Content-Disposition"]
    label = nib.Nifti1Image.from_bytes(gzip.decompress(r.content))
    with torch.no_grad():
        want = ChannelArgmax()(TiledInferer([32, 32, 32], overlap=0.25)(torch.from_numpy(volume)[None, None], net))
    assert np.array_equal(np.asarray(label.dataobj), want[0, 0].numpy()) and np.allclose(label.affine, affine)
    bad = gzip.compress(nib.Nifti1Image(volume[0], affine).to_bytes())
    r = requests.post(seg.url + "/v2/models/ellipsoid_segmentation/predict", files={"file": ("flat.nii.gz", bad)})
    assert r.status_code == 400 and "2 dims" in r.json()["error"]
    client = httpclient.InferenceServerClient(seg.host)
    x = volume[None, None, :32]
    with torch.no_grad():
        diff = float(np.abs(_infer(client, "ellipsoid_segmentation", x) - net(torch.from_numpy(x)).numpy()).max())
    print(f"ellipsoid infer 1x1x32x32x32: max abs diff {diff:.2e}")
    assert diff < 1e-4


def test_ready_is_false_until_warm_and_model_errors_are_500_with_an_id(caplog):
    from fastapi.testclient import TestClient

    from bundle.serve.model import load_model

    model = load_model(DIGITS)
    gate = threading.Event()
    runner = model.runner

    def slow_then_failing(batch):
        gate.wait(10)
        if batch.shape[0] == 2:
            raise RuntimeError("boom inside the model")
        return runner(batch)

    model.runner = slow_then_failing
    with TestClient(create_app(model)) as client:
        assert client.get("/v2/health/ready").status_code == 503
        assert client.post("/v2/models/digits_classification/infer", json={}).status_code == 503
        gate.set()
        for _ in range(200):
            if client.get("/v2/health/ready").status_code == 200:
                break
            time.sleep(0.02)
        assert client.get("/v2/health/ready").json() == {"ready": True}
        r = client.post("/v2/models/digits_classification/infer", json={"inputs": [
            {"name": "image", "shape": [2, 1, 8, 8], "datatype": "FP32", "data": [0.0] * 128}]})
        assert r.status_code == 500
        error = r.json()["error"]
        assert "boom" not in error and "Traceback" not in error
        incident = error.split()[2]
        assert any(incident in rec.getMessage() for rec in caplog.records)


def test_onnx_export_served_in_safe_mode_with_gzip_requests(tmp_path, digits_net):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import shutil

    from bundle.export import export_bundle

    root = tmp_path / "digits_classification"
    shutil.copytree(DIGITS, root)
    export_bundle(root, format="onnx")
    server = Server(create_app(root / "models" / "model.onnx", trusted=False))
    try:
        client = httpclient.InferenceServerClient(server.host)
        assert client.get_model_metadata("digits_classification")["platform"] == "onnx"
        x = np.random.default_rng(4).random((2, 1, 8, 8), dtype=np.float32)
        inp = httpclient.InferInput("image", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        got = client.infer("digits_classification", [inp], request_compression_algorithm="gzip").as_numpy("pred")
        with torch.no_grad():
            diff = float(np.abs(got - digits_net(torch.from_numpy(x)).numpy()).max())
        print(f"digits onnx export served: max abs diff {diff:.2e}")
        assert diff < 1e-4
    finally:
        server.stop()


from tests.registry.test_load_and_lock import zoo  # noqa: E402,F401 - the fixture: an index on a local server


def test_zoo_name_is_downloaded_verified_and_served_in_safe_mode(zoo, monkeypatch):
    from fastapi.testclient import TestClient

    from bundle.serve.model import load_model

    index, _ = zoo
    monkeypatch.setenv("BUNDLE_INDEX", str(index))
    model = load_model("digits_classification@^9")
    assert model.version == "9.0.0"
    from bundle.format.bundle import Bundle
    from bundle.registry.load import locate

    assert Bundle(locate("digits_classification@^9")).trusted is False  # a download: safe mode by the trust rule
    with TestClient(create_app(model)) as client:
        for _ in range(200):
            if client.get("/v2/health/ready").status_code == 200:
                break
            time.sleep(0.02)
        assert client.get("/v2/models/digits_classification").json()["versions"] == ["9.0.0"]
