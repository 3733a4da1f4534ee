"""bundle serve against its anchor, in-process inference of the same model at the same batch size, and
against LitServe (a peer serving library) when it is installed.

For each zoo bundle on CPU: p50/p99 latency and requests/s at 1, 4 and 16 concurrent clients. The load
generator is bounded (closed loop: each client sends its next request when its answer is in) and
light: asyncio in this process, one kept-alive connection per client, the request's bytes built once,
so that on a small machine it takes as little CPU from the server as it can. Servers run as their
own processes on 127.0.0.1:

- ours, `python -m bundle serve`, with dynamic batching on (max 16, 2 ms) and off (max 1), with
  binary tensor data; at 1 and 16 clients also with JSON tensors (the body LitServe is sent);
- LitServe (`serve_litserve.py`: its LitAPI with its own batching, max 16, 2 ms), the same model
  through the same `ServedModel.forward`, sent the same JSON inference request at its `/predict`,
  answering the same JSON.

The anchor, measured in the same run: the forward in this process at batch 1 (p50 latency) and at
batch 16 (samples/s). `--threads N` sets torch's intra-op threads in every server process (ours and
LitServe's worker; the anchor keeps torch's default).

Targets (from the issue): at 1 client, p50 over HTTP <= in-process + 3 ms; at 16 clients with
batching, throughput >= 0.8x in-process batched throughput and >= 2x the same server with batching
off; ahead of LitServe (ratio ours/LitServe: > 1 for throughput, < 1 for p50).

    .venv/bin/python benchmarks/serve.py                 # both bundles, 200 requests per client count
    .venv/bin/python benchmarks/serve.py --requests 96 --bundles digits_classification --threads 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HEADER = "Inference-Header-Content-Length"


def wait_ready(proc: subprocess.Popen, url: str) -> None:
    for _ in range(2400):
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server not ready")


def start_server(bundle: Path, max_batch: int, threads: int | None) -> tuple[subprocess.Popen, str]:
    extra = ["--threads", str(threads)] if threads else []
    proc = subprocess.Popen([sys.executable, "-m", "bundle", "serve", str(bundle), "--port", "0", "--max-batch-size",
                             str(max_batch), "--batch-timeout-ms", "2", "--log-level", "warning", *extra],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = proc.stdout.readline().split(" at ")[1].split()[0]
    wait_ready(proc, url + "/v2/health/ready")
    return proc, url


def start_litserve(bundle: Path, max_batch: int, threads: int | None, fast_queue: bool) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:  # a free port: LitServe binds its own
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("serve_litserve.py")), str(bundle),
                             "--port", str(port), "--max-batch", str(max_batch), "--batch-timeout-ms", "2",
                             *(["--threads", str(threads)] if threads else []), *(["--fast-queue"] if fast_queue else [])],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url + "/health")
    return proc, url


def binary_body(x: np.ndarray) -> tuple[bytes, dict]:
    head = json.dumps({"inputs": [{"name": "image", "shape": list(x.shape), "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}],
                       "outputs": [{"name": "pred", "parameters": {"binary_data": True}}]}).encode()
    return head + x.tobytes(), {HEADER: str(len(head)), "Content-Type": "application/octet-stream"}


def json_body(x: np.ndarray) -> tuple[bytes, dict]:
    body = json.dumps({"inputs": [{"name": "image", "shape": list(x.shape), "datatype": "FP32",
                                   "data": x.reshape(-1).tolist()}]}).encode()
    return body, {"Content-Type": "application/json"}


def request_bytes(url: str, path: str, body: bytes, headers: dict) -> tuple[str, int, bytes]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return host, int(port), head.encode() + body


async def one_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> None:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12]
    length = None
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length is None:
        raise RuntimeError("a response without Content-Length")
    await reader.readexactly(length)
    if status != b"200":
        raise RuntimeError(f"status {status.decode()}")


async def load_async(host: str, port: int, raw: bytes, clients: int, requests: int) -> tuple[list[float], float]:
    per = max(1, requests // clients)
    conns = [await asyncio.open_connection(host, port) for _ in range(clients)]
    for reader, writer in conns[:3]:  # warm the connection path
        await one_request(reader, writer, raw)
    latencies: list[float] = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(per):
            t = time.perf_counter()
            await one_request(reader, writer, raw)
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(client(r, w) for r, w in conns))
    wall = time.perf_counter() - start
    for _, writer in conns:
        writer.close()
    return latencies, wall


def load(url: str, path: str, body: tuple[bytes, dict], clients: int, requests: int) -> tuple[float, float, float]:
    """p50 and p99 latency (ms) and requests/s of ``clients`` clients sending ``requests`` in all."""
    host, port, raw = request_bytes(url, path, *body)
    try:
        import uvloop  # the lighter loop, as the servers use: the generator shares the cores with them

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        latencies, wall = loop.run_until_complete(load_async(host, port, raw, clients, requests))
    finally:
        loop.close()
    lat = np.array(latencies) * 1000
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), len(lat) / wall


def batches(url: str) -> tuple[float, float]:
    """Samples and forward passes so far, from the server's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        values = dict(line.rsplit(" ", 1) for line in r.read().decode().splitlines()
                      if line.startswith("bundle_serve_batch_size_"))
    return float(values["bundle_serve_batch_size_sum"]), float(values["bundle_serve_batch_size_count"])


def in_process(bundle: Path, x: np.ndarray, requests: int) -> tuple[float, float, float]:
    """p50 latency (ms) at batch 1, samples/s at batch 1 and at batch 16, of the served model's forward here."""
    from bundle.serve.model import load_model

    model = load_model(bundle)
    model.warm_up()
    times = []
    for _ in range(max(20, requests // 4)):
        t = time.perf_counter()
        model.forward(x)
        times.append(time.perf_counter() - t)
    rates = []
    for size in (1, 16):
        batch = np.repeat(x, size, axis=0)
        for _ in range(3):
            model.forward(batch)
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < 2.0:
            model.forward(batch)
            n += size
        rates.append(n / (time.perf_counter() - t))
    return float(np.percentile(np.array(times) * 1000, 50)), rates[0], rates[1]


def stop(proc: subprocess.Popen, group: bool = False) -> None:
    if group:  # LitServe's workers are its children
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL) if group else proc.kill()
        proc.wait()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bench(name: str, args: argparse.Namespace, litserve: bool) -> None:
    bundle = ROOT / "zoo" / name
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())["network_data_format"]["inputs"]["image"]
    spatial = [s if isinstance(s, int) else 32 for s in meta["spatial_shape"]]
    x = np.random.default_rng(0).random((1, meta["num_channels"], *spatial), dtype=np.float32)
    p50_local, single_local, batched_local = in_process(bundle, x, args.requests)
    print(f"\n{name} input {list(x.shape)}: in-process p50 {p50_local:.2f} ms at batch 1; samples/s "
          f"{single_local:.0f} at batch 1, {batched_local:.0f} at batch 16 ({batched_local / single_local:.2f}x: "
          f"the most batching can gain where the forward is all the work)")
    infer = f"/v2/models/{name}/infer"
    results = {}

    def row(label: str, clients: int, url: str, path: str, body: tuple[bytes, dict]) -> None:
        counted = label.startswith("batching")
        before = batches(url) if counted else None
        p50, p99, rps = load(url, path, body, clients, args.requests)
        results[(label, clients)] = (p50, p99, rps)
        mean = ""
        if before is not None:
            after = batches(url)
            mean = f"  mean batch {(after[0] - before[0]) / max(1.0, after[1] - before[1]):4.1f}"
        print(f"  {label:<22} {clients:>2} clients: p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {rps:8.1f} req/s{mean}")

    for label, max_batch in (("batching", 16), ("no batching", 1)):
        proc, url = start_server(bundle, max_batch, args.threads)
        try:
            for clients in (1, 4, 16):
                row(label, clients, url, infer, binary_body(x))
            if max_batch > 1:
                for clients in (1, 16):
                    row("batching, JSON", clients, url, infer, json_body(x))
        finally:
            stop(proc)
    if litserve:
        proc, url = start_litserve(bundle, 16, args.threads, args.litserve_fast_queue)
        try:
            for clients in (1, 4, 16):
                row("LitServe, JSON", clients, url, "/predict", json_body(x))
        finally:
            stop(proc, group=True)
    p50_1 = results[("batching", 1)][0]
    rps16, rps16_off = results[("batching", 16)][2], results[("no batching", 16)][2]
    print(f"  1 client p50 over HTTP - in-process: {p50_1 - p50_local:+.2f} ms (target <= +3 ms): "
          f"{verdict(p50_1 - p50_local <= 3)}")
    print(f"  16 clients, batching / in-process batched throughput: {rps16 / batched_local:.2f}x (target >= 0.8x): "
          f"{verdict(rps16 / batched_local >= 0.8)}")
    print(f"  16 clients, batching / no batching: {rps16 / rps16_off:.2f}x (target >= 2x): "
          f"{verdict(rps16 / rps16_off >= 2)}")
    if litserve:
        ours, theirs = results[("batching, JSON", 16)][2], results[("LitServe, JSON", 16)][2]
        print(f"  JSON, 16 clients, throughput ours / LitServe: {ours / theirs:.2f}x (ahead: > 1): {verdict(ours > theirs)}")
        ours, theirs = results[("batching, JSON", 1)][0], results[("LitServe, JSON", 1)][0]
        print(f"  JSON, 1 client, p50 ours / LitServe: {ours / theirs:.2f}x (ahead: < 1): {verdict(ours < theirs)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", default="digits_classification,ellipsoid_segmentation")
    parser.add_argument("--requests", type=int, default=200, help="requests per (server, client count)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads in the server processes")
    parser.add_argument("--no-litserve", action="store_true", help="leave LitServe out even when installed")
    parser.add_argument("--litserve-fast-queue", action="store_true", help="LitServe with its ZeroMQ queues (fast_queue)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # rows as they are measured, also into a file
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out (timeout(1))
    litserve = False
    if not args.no_litserve:
        try:
            import litserve as ls

            litserve = True
            print(f"LitServe {ls.__version__} is installed: served in the same run")
        except ImportError:
            print("LitServe is not installed (pip install -e '.[bench]'): no peer comparison in this run")
    print(f"server torch threads: {args.threads or 'torch default'}; this machine: {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    for name in args.bundles.split(","):
        bench(name, args, litserve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
