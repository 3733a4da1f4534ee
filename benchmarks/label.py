"""Labeling latency: ``InferTask`` (the network kept loaded between calls) against ``bundle run`` of the
same volume (a new process that builds everything per image), on the zoo's segmentation bundle.

Prints the first-call latency, the median latency from the second call on, the median ``bundle run``
time and the ratio (goal: >= 5x from the second call on).

    python benchmarks/label.py [--calls 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "zoo" / "ellipsoid_segmentation"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from bundle.components.synthetic import SyntheticEllipsoids
    from bundle.label import InferTask

    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "case.npy"
        np.save(image, SyntheticEllipsoids("test", 1, size=32, num_classes=3, seed=0)[0]["image"][0].numpy())
        started = time.perf_counter()
        task = InferTask(BUNDLE)
        task({"image": str(image), "output_dir": tmp})
        first = time.perf_counter() - started
        warm = []
        for _ in range(args.calls):
            mark = time.perf_counter()
            task({"image": str(image), "output_dir": tmp})
            warm.append(time.perf_counter() - mark)
        dataset = '{"_target_": "VolumeDataset", "data": [{"image": "%s"}]}' % image
        cold = []
        for _ in range(args.runs):
            mark = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bundle", "run", str(BUNDLE), "inference", "--dataset", dataset,
                            "--output_dir", str(Path(tmp) / "run")], check=True, capture_output=True)
            cold.append(time.perf_counter() - mark)
    w, c = statistics.median(warm), statistics.median(cold)
    print(f"InferTask first call (build + load + infer): {first * 1000:.1f} ms")
    print(f"InferTask from the 2nd call, median of {args.calls}: {w * 1000:.1f} ms")
    print(f"bundle run inference, median of {args.runs}: {c * 1000:.1f} ms")
    print(f"ratio bundle run / warm InferTask: {c / w:.1f}x (goal >= 5x)")


if __name__ == "__main__":
    main()
