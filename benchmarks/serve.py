"""bundle serve against its anchor, in-process inference of the same model at the same batch size.

For each zoo bundle on CPU: p50/p99 latency and requests/s at 1, 4 and 16 concurrent clients (a
bounded load generator: each client thread sends its requests one after another on a kept-alive
connection, binary tensor data, to a `python -m bundle serve` process on 127.0.0.1), with dynamic
batching on (max 16) and off (max 1). The anchor is measured in the same run: the network's forward
in this process at batch 1 (latency) and at batch 16 (throughput). If LitServe is installed it would be
the peer to compare with; the script says when it is not.

Targets (from the issue): at 1 client, p50 over HTTP <= in-process + 3 ms; at 16 clients with
batching, throughput >= 0.8x in-process batched throughput and >= 2x the same server with batching off.

    .venv/bin/python benchmarks/serve.py                 # both bundles, 200 requests per client count
    .venv/bin/python benchmarks/serve.py --requests 64 --bundles digits_classification
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HEADER = "Inference-Header-Content-Length"


def start_server(bundle: Path, max_batch: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "bundle", "serve", str(bundle), "--port", "0", "--max-batch-size",
                             str(max_batch), "--batch-timeout-ms", "2", "--log-level", "warning"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = proc.stdout.readline().split(" at ")[1].split()[0]
    for _ in range(1200):
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server not ready")


def body_for(x: np.ndarray) -> tuple[bytes, dict]:
    head = json.dumps({"inputs": [{"name": "image", "shape": list(x.shape), "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}],
                       "outputs": [{"name": "pred", "parameters": {"binary_data": True}}]}).encode()
    return head + x.tobytes(), {HEADER: str(len(head)), "Content-Type": "application/octet-stream"}


def load(url: str, name: str, x: np.ndarray, clients: int, requests: int) -> tuple[float, float, float]:
    """p50 and p99 latency (ms) and requests/s of ``clients`` threads sending ``requests`` in all."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    body, headers = body_for(x)
    latencies: list[float] = []
    lock = threading.Lock()
    per = max(1, requests // clients)

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        mine = []
        for _ in range(per):
            t = time.perf_counter()
            conn.request("POST", f"/v2/models/{name}/infer", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"status {resp.status}")
            mine.append(time.perf_counter() - t)
        conn.close()
        with lock:
            latencies.extend(mine)

    for _ in range(3):  # warm the connection path
        client_conn = http.client.HTTPConnection(host, int(port))
        client_conn.request("POST", f"/v2/models/{name}/infer", body=body, headers=headers)
        client_conn.getresponse().read()
        client_conn.close()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), len(lat) / wall


def in_process(bundle: Path, x: np.ndarray, requests: int) -> tuple[float, float]:
    """p50 latency (ms) at batch 1 and samples/s at batch 16, of the served model's forward here."""
    from bundle.serve.model import load_model

    model = load_model(bundle)
    model.warm_up()
    times = []
    for _ in range(max(20, requests // 4)):
        t = time.perf_counter()
        model.forward(x)
        times.append(time.perf_counter() - t)
    batch = np.repeat(x, 16, axis=0)
    for _ in range(3):
        model.forward(batch)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < 2.0:
        model.forward(batch)
        n += 16
    return float(np.percentile(np.array(times) * 1000, 50)), n / (time.perf_counter() - t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", default="digits_classification,ellipsoid_segmentation")
    parser.add_argument("--requests", type=int, default=200, help="requests per (server, client count)")
    args = parser.parse_args()
    try:
        import litserve  # noqa: F401

        print("LitServe is installed, but no LitServe run is written yet: compare by hand")
    except ImportError:
        print("LitServe is not installed: no peer comparison in this run")
    for name in args.bundles.split(","):
        bundle = ROOT / "zoo" / name
        meta = json.loads((bundle / "configs" / "metadata.json").read_text())["network_data_format"]["inputs"]["image"]
        spatial = [s if isinstance(s, int) else 32 for s in meta["spatial_shape"]]
        x = np.random.default_rng(0).random((1, meta["num_channels"], *spatial), dtype=np.float32)
        p50_local, batched_local = in_process(bundle, x, args.requests)
        print(f"\n{name} input {list(x.shape)}: in-process p50 {p50_local:.2f} ms at batch 1, "
              f"{batched_local:.0f} samples/s at batch 16")
        results = {}
        for label, max_batch in (("batching", 16), ("no batching", 1)):
            proc, url = start_server(bundle, max_batch)
            try:
                for clients in (1, 4, 16):
                    p50, p99, rps = load(url, name, x, clients, args.requests)
                    results[(label, clients)] = (p50, p99, rps)
                    print(f"  {label:<11} {clients:>2} clients: p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {rps:8.1f} req/s")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        p50_1 = results[("batching", 1)][0]
        rps16, rps16_off = results[("batching", 16)][2], results[("no batching", 16)][2]
        print(f"  1 client p50 over HTTP - in-process: {p50_1 - p50_local:+.2f} ms (target <= +3 ms): "
              f"{'PASS' if p50_1 - p50_local <= 3 else 'FAIL'}")
        print(f"  16 clients, batching / in-process batched throughput: {rps16 / batched_local:.2f}x (target >= 0.8x): "
              f"{'PASS' if rps16 / batched_local >= 0.8 else 'FAIL'}")
        print(f"  16 clients, batching / no batching: {rps16 / rps16_off:.2f}x (target >= 2x): "
              f"{'PASS' if rps16 / rps16_off >= 2 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
