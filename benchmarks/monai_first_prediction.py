"""Time to first prediction of a real MONAI model-zoo bundle: ``python -m bundle run`` against
``python -m monai.bundle run`` (the anchor), on the same bundle, input and weights, in one run.

The corpus' ``spleen_ct_segmentation`` is copied to a temporary folder with a synthetic NIfTI
volume (nibabel) and the network's randomly initialised weights as its checkpoint. Each
measurement is a fresh process running the bundle's ``inference`` config from interpreter start
to the prediction file written (imports, parsing, building, loading the weights, sliding-window
inference, saving). The two commands alternate, best of N each, and their predictions are
checked to be equal. Prints MONAI/ours; the target is ours no slower than MONAI's (ratio >= 1).
This is a script, not a test: it prints PASS/FAIL lines and exits 0 unless ``--strict`` is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's bundle, not an installed one
from benchmarks.config_engine import fmt_s, table  # noqa: E402

COMPAT = REPO.parent / "shared" / "compat" / "monai-model-zoo"
BUNDLE = "spleen_ct_segmentation"


def prepare(work: Path) -> list[str]:
    """The bundle copy, its input and weights; returns the ``run`` arguments both engines take."""
    import nibabel as nib
    import numpy as np
    import torch

    from bundle.config.parser import ConfigParser

    root = work / BUNDLE
    shutil.copytree(COMPAT / "bundles" / BUNDLE, root)
    images = work / "data" / "imagesTs"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    volume = rng.normal(0.0, 50.0, (96, 96, 48)).astype(np.float32)
    volume[24:72, 24:72, 12:36] += 200.0
    nib.save(nib.Nifti1Image(volume, np.diag([1.5, 1.5, 2.0, 1.0])), str(images / "case_0001.nii.gz"))
    parser = ConfigParser()
    parser.read_config(root / "configs" / "inference.json")
    parser.parse()
    torch.manual_seed(0)
    (root / "models").mkdir()
    torch.save(parser.get_parsed_content("network_def").state_dict(), root / "models" / "model.pt")
    return [
        "--config_file", str(root / "configs" / "inference.json"),
        "--meta_file", str(root / "configs" / "metadata.json"),
        "--logging_file", str(root / "configs" / "logging.conf"),
        "--bundle_root", str(root), "--dataset_dir", str(work / "data"),
    ]  # fmt: skip


def time_run(module: str, args: list[str], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "BUNDLE_DEBUG")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", module, "run", *args, "--output_dir", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or not list(out.rglob("*.nii*")):
        raise SystemExit(f"{module} run failed:\n{proc.stderr[-2000:]}")
    return elapsed


def same_predictions(a: Path, b: Path) -> float:
    import nibabel as nib
    import numpy as np

    diffs = [float(np.abs(nib.load(str(x)).get_fdata() - nib.load(str(y)).get_fdata()).max())
             for x, y in zip(sorted(a.rglob("*.nii*")), sorted(b.rglob("*.nii*")))]
    return max(diffs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per engine (best of; default 5)")
    ap.add_argument("--quick", action="store_true", help="2 runs per engine")
    ap.add_argument("--strict", action="store_true", help="exit 1 on any FAIL")
    opts = ap.parse_args(argv)
    runs = 2 if opts.quick else opts.runs
    print("Time to first prediction: bundle run vs monai.bundle run (the anchor)")
    if not (COMPAT / "bundles" / BUNDLE).is_dir():
        print(f"   skipped: no corpus at {COMPAT}")
        return 0
    try:
        import ignite  # noqa: F401
        import monai  # noqa: F401
        import nibabel  # noqa: F401
    except ImportError as err:
        print(f"   skipped: {err.name} is not installed (pip install -e '.[monai]')")
        return 0
    work = Path(tempfile.mkdtemp(prefix="bundle-bench-"))
    try:
        args = prepare(work)
        print(f"   {BUNDLE} inference on one 96x96x48 volume; best of {runs} fresh processes each, alternating")
        times: dict[str, list[float]] = {"bundle": [], "monai.bundle": []}
        for i in range(runs):
            for module in times:
                times[module].append(time_run(module, args, work / f"out-{module}"))
            print(f"   .. round {i + 1}/{runs} done")
        diff = same_predictions(work / "out-bundle", work / "out-monai.bundle")
        ours, theirs = min(times["bundle"]), min(times["monai.bundle"])
        print()
        table(["command", "best s", "all runs (s)"],
              [["python -m bundle run ...", fmt_s(ours), " ".join(f"{t:.2f}" for t in times["bundle"])],
               ["python -m monai.bundle run ...", fmt_s(theirs), " ".join(f"{t:.2f}" for t in times["monai.bundle"])]],
              "lrl", indent="   ")
        print(f"   predictions: max abs difference {diff:g}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = theirs / ours
    summary = [
        ("PASS" if ratio >= 1.0 else "FAIL", f"time to first prediction: MONAI/ours = {ratio:.2f}x ({theirs:.2f} s / {ours:.2f} s; target >= 1x)"),
        ("PASS" if diff <= 1e-5 else "FAIL", f"same prediction: max abs difference {diff:g} (target <= 1e-5)"),
    ]
    print("\n== summary ==")
    for status, text in summary:
        print(f"{status:<4}  {text}")
    return 1 if opts.strict and any(s == "FAIL" for s, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
