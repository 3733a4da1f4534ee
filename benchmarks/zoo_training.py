"""Zoo training benchmark: every bundle in ``zoo/`` trained from scratch, timed, and evaluated
against the metrics its metadata states.

For each bundle (or ``--only NAME``): the bundle folder is copied to a temporary folder, its
``models/`` emptied (so nothing but this run's training can produce the weights evaluated), then

* ``python -m bundle run COPY train`` is timed as a user runs it (a fresh process: interpreter
  start, imports, data generation or loading, training, validation, checkpoints);
* ``python -m bundle run COPY train evaluate`` evaluates the weights that training saved
  (``evaluate`` layered on ``train``, as MONAI bundles' evaluate configs are written), and each
  metric of the metadata's ``eval_metrics`` is read from the summary line the evaluator logs
  (``evaluate: mean_dice 0.9512 (8 batches, 0.4 s)``).

Targets: training takes at most 120 s, and each reached metric is at least the stated one minus
0.01 (higher is better). The committed weights are never touched: everything runs in the copy.
This is a script, not a test: it prints PASS/FAIL lines and exits 0 unless ``--strict`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's bundle, not an installed one
from benchmarks.config_engine import fmt_s, table  # noqa: E402

ZOO = REPO / "zoo"
TARGET_TRAIN_S = 120.0
TARGET_METRIC_SLACK = 0.01
TIMEOUT_S = 1800


def zoo_bundles(only: list[str] | None = None) -> list[Path]:
    """The bundle folders of ``zoo/`` (all, or those named in ``only``, in that order)."""
    found = {p.name: p for p in sorted(ZOO.iterdir()) if p.is_dir() and not p.name.startswith((".", "_"))}
    if not only:
        return list(found.values())
    unknown = [n for n in only if n not in found]
    if unknown:
        raise SystemExit(f"no bundle named {', '.join(unknown)} in {ZOO} (there: {', '.join(found) or 'none'})")
    return [found[n] for n in only]


def bundle_run(*args: str, cwd: Path, threads: int | None) -> tuple[float, subprocess.CompletedProcess]:
    """``python -m bundle run ARGS`` in a fresh process; returns (wall seconds, the process)."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "BUNDLE_DEBUG")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bundle", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    return time.perf_counter() - started, proc


def logged_metric(output: str, name: str) -> float | None:
    """The value of ``name`` in the evaluator's summary line (``evaluate: ... name 0.9512 ...``)."""
    match = re.search(rf"\bevaluate: .*?\b{re.escape(name)} (-?\d+(?:\.\d+)?)", output)
    return float(match.group(1)) if match else None


def tail(text: str, lines: int = 15) -> str:
    return "\n".join("      " + line for line in text.strip().splitlines()[-lines:])


def _outputs(root: Path, where: Path, names: list[str]) -> list[str]:
    """What not to copy: caches, and the output folders (``eval``, ``logs``) of earlier runs."""
    skip = {"__pycache__"} | ({"eval", "logs"} if where == root else set())
    return [n for n in names if n in skip]


def benchmark(folder: Path, work: Path, threads: int | None) -> tuple[list[list[str]], list[tuple[str, str]]]:
    """Train and evaluate one bundle in a copy under ``work``; returns table rows and summary lines."""
    name = folder.name
    copy = work / name
    shutil.copytree(folder, copy, ignore=lambda where, names: _outputs(folder, Path(where), names))
    for weights in (copy / "models").glob("*"):
        if weights.is_file():
            weights.unlink()
    stated = json.loads((copy / "configs" / "metadata.json").read_text(encoding="utf-8")).get("eval_metrics") or {}

    print(f"   {name}: training from scratch ...", flush=True)
    train_s, proc = bundle_run(str(copy), "train", cwd=work, threads=threads)
    if proc.returncode != 0:
        print(f"   {name}: training failed (exit {proc.returncode}):\n{tail(proc.stderr)}")
        return [[name, "train", fmt_s(train_s), "-", "-", "failed"]], [("FAIL", f"{name}: training failed")]
    eval_s, proc = bundle_run(str(copy), "train", "evaluate", cwd=work, threads=threads)
    if proc.returncode != 0:
        print(f"   {name}: evaluation failed (exit {proc.returncode}):\n{tail(proc.stderr)}")
    print(f"   {name}: trained in {train_s:.1f} s, evaluated in {eval_s:.1f} s", flush=True)

    rows: list[list[str]] = []
    summary = [("PASS" if train_s <= TARGET_TRAIN_S else "FAIL",
                f"{name}: training {train_s:.1f} s <= {TARGET_TRAIN_S:.0f} s")]
    if not stated:
        summary.append(("FAIL", f"{name}: metadata states no eval_metrics"))
    for metric, value in stated.items():
        reached = logged_metric(proc.stderr, metric) if proc.returncode == 0 else None
        shown = "-" if reached is None else f"{reached:.4f}"
        rows.append([name, metric, fmt_s(train_s), f"{value:.4f}", shown, f"{reached - value:+.4f}"
                     if reached is not None else "not logged"])
        if reached is None:
            summary.append(("FAIL", f"{name}: evaluate logged no '{metric}'"))
        else:
            ok = reached >= value - TARGET_METRIC_SLACK
            summary.append(("PASS" if ok else "FAIL",
                            f"{name}: {metric} {reached:.4f} >= stated {value:.4f} - {TARGET_METRIC_SLACK}"))
    return rows, summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="benchmark only this bundle of zoo/ (repeatable)")
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP_NUM_THREADS for the runs (default: torch's choice, one per core)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copies (their path is printed)")
    ap.add_argument("--strict", action="store_true", help="exit 1 on a FAIL")
    opts = ap.parse_args(argv)
    bundles = zoo_bundles(opts.only)

    print("zoo training benchmark: each bundle trained from scratch in a temporary copy, then evaluated")
    print(f"   python {sys.version.split()[0]}; {os.cpu_count()} CPUs; threads "
          f"{opts.threads or 'default'}; targets: train <= {TARGET_TRAIN_S:.0f} s, "
          f"metric >= stated - {TARGET_METRIC_SLACK}")
    work = Path(tempfile.mkdtemp(prefix="bundle-zoo-training-"))
    rows: list[list[str]] = []
    summary: list[tuple[str, str]] = []
    try:
        for folder in bundles:
            bundle_rows, bundle_summary = benchmark(folder, work, opts.threads)
            rows += bundle_rows
            summary += bundle_summary
    finally:
        if opts.keep:
            print(f"   copies kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not bundles:
        summary.append(("FAIL", f"no bundle in {ZOO}"))

    print()
    table(["bundle", "metric", "train s", "stated", "reached", "reached - stated"], rows, "llrrrr", indent="   ")
    print("\n== summary ==")
    for status, text in summary:
        print(f"{status:<4}  {text}")
    return 1 if opts.strict and any(s == "FAIL" for s, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
