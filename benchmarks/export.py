"""Export time, and CPU inference latency of eager PyTorch, TorchScript and ONNX Runtime for each zoo
bundle, as ratios to eager, in one run. A script, not a test: nothing asserts on timings.

    .venv/bin/python benchmarks/export.py [--repeats 20] [--batch 4] [--n 4]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's bundle, not an installed one

# bundle -> (TorchScript by trace?, ONNX exporter, dynamic spatial axes?): CompactUNet is not scriptable,
# and the dynamo-based exporter cannot make its spatial axes dynamic
BUNDLES = {
    "digits_classification": (False, "dynamo", False),
    "ellipsoid_segmentation": (True, "torchscript", True),
}


def best_of(run, x, repeats: int) -> float:
    run(x)  # warm-up: first calls compile / allocate
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--n", type=int, default=4, help="value of n in spatial_shape ('8*n')")
    args = parser.parse_args()

    import torch

    from bundle.export import export_bundle
    from bundle.export.core import build_network, load_checkpoint
    from bundle.export.inputs import input_spec
    from bundle.format import Bundle

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (trace, exporter, spatial) in BUNDLES.items():
            root = Path(tmp) / name
            shutil.copytree(REPO / "zoo" / name, root)
            b = Bundle(root)
            net = build_network([b.config_path("inference")], b.metadata_path, root, "network_def", None)
            load_checkpoint(net, b.weights_path(), "network_def", None)
            spec = input_spec(b.metadata)
            x = spec.tensor(spec.shape(args.batch, args.n))
            ts = export_bundle(root, format="torchscript", trace=trace, output=root / "m.ts")
            ox = export_bundle(root, format="onnx", exporter=exporter, dynamic_spatial=spatial, output=root / "m.onnx")
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(root / "m.onnx"), options, providers=["CPUExecutionProvider"])
            scripted = torch.jit.load(str(root / "m.ts"))
            with torch.no_grad():
                eager_s = best_of(net, x, args.repeats)
                ts_s = best_of(scripted, x, args.repeats)
            feed = {spec.name: x.numpy()}
            ort_s = best_of(lambda _: session.run(None, feed), x, args.repeats)
            rows.append((name, tuple(x.shape), ts.seconds, ox.seconds, eager_s, ts_s, ort_s))

    print(f"CPU, 1 thread, best of {args.repeats}; latency ratio = eager / runtime (>1: faster than eager)")
    print(f"{'bundle':<24} {'input':<18} {'export ts':>9} {'export onnx':>11} {'eager':>9} "
          f"{'torchscript':>14} {'onnxruntime':>14}")
    for name, shape, ts_export, onnx_export, eager_s, ts_s, ort_s in rows:
        print(f"{name:<24} {'x'.join(map(str, shape)):<18} {ts_export:>8.2f}s {onnx_export:>10.2f}s "
              f"{eager_s * 1e3:>7.2f}ms {ts_s * 1e3:>7.2f}ms x{eager_s / ts_s:<4.2f} "
              f"{ort_s * 1e3:>7.2f}ms x{eager_s / ort_s:<4.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
