"""``python -m bundle run`` overhead: what running a bundle from the command line costs beyond the
workflow itself, against ``import torch`` and against ``python -m monai.bundle run``, in one run.

Measured on one small bundle (written to a temporary folder; valid for both engines: ``torch.nn``
targets by full path, expressions both accept; ``--workload infer`` forward passes by default,
``train`` for SGD steps), each a best of N fresh processes, the measurements interleaved:

* ``python -c "import torch"``: the floor any PyTorch command pays;
* ``python -m bundle run --config_file ... --meta_file ...``: our whole command;
* the workflow in-process: a fresh process imports torch and the engine (not timed), then times
  making the workflow, ``initialize()``, ``run()`` and ``finalize()`` (the work the command
  wraps);
* the same two for MONAI (``python -m monai.bundle run``, ``monai.bundle.ConfigWorkflow``).

Our overhead beyond the workflow is ``our total - our workflow``; the target is at most
``import torch + 0.3 s``. The script also prints how long the interpreter takes to exit after the
workflow and after ``import torch`` alone: tearing down modules the workflow imported (``train``
loads ``torch._dynamo`` and sympy) counts as overhead in that formula, though it is not ours. This is a script, not a test: it prints PASS/FAIL lines and exits 0
unless ``--strict`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's bundle, not an installed one
from benchmarks.config_engine import fmt_ratio, fmt_s, monai_available, table  # noqa: E402

RESULT_TAG = "@@RUN-OVERHEAD "
TARGET_EXTRA_S = 0.3  # our overhead beyond the workflow may exceed `import torch` by this much
STEPS = 10

META = {"version": "0.1.0", "monai_version": "1.6.1", "pytorch_version": "2.13.0", "numpy_version": "2.0.0",
        "description": "run-overhead benchmark bundle"}


def bundle_config(workload: str = "infer", steps: int = STEPS) -> dict:
    """A small workflow on a 16-32-4 MLP: ``infer`` runs ``steps`` forward passes; ``train`` runs
    ``steps`` SGD steps (``torch.optim`` loads ``torch._dynamo`` on first use: seconds of imports,
    and more to tear down when the interpreter exits, which the in-process timing cannot see)."""
    forward = ["$@network(@inputs).sum().item()"]
    sgd = ["$@optimizer.zero_grad()", "$@network(@inputs).square().mean().backward()", "$@optimizer.step()"]
    config = {
        "bundle_root": ".",
        "device": "$torch.device('cpu')",
        "layer1": {"_target_": "torch.nn.Linear", "in_features": 16, "out_features": 32},
        "act": {"_target_": "torch.nn.ReLU"},
        "layer2": {"_target_": "torch.nn.Linear", "in_features": 32, "out_features": 4},
        "network": "$torch.nn.Sequential(@layer1, @act, @layer2).to(@device)",
        "inputs": "$torch.randn(64, 16, generator=torch.Generator().manual_seed(0))",
        "initialize": ["$torch.manual_seed(0)"],
        "run": (sgd if workload == "train" else forward) * steps + forward,
        "finalize": ["$@network.train()"],
    }
    if workload == "train":
        config["optimizer"] = {"_target_": "torch.optim.SGD", "params": "$@network.parameters()", "lr": 0.01}
    return config


def write_bundle(root: Path, workload: str) -> tuple[str, str]:
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "train.json").write_text(json.dumps(bundle_config(workload), indent=2))
    (root / "configs" / "metadata.json").write_text(json.dumps(META, indent=2))
    return str(root / "configs" / "train.json"), str(root / "configs" / "metadata.json")


# --- the in-process worker ------------------------------------------------------------------------


def worker(engine: str, config: str, meta: str) -> None:
    import torch  # noqa: F401  (not timed: both commands pay it, it is measured on its own)

    t0 = time.perf_counter()
    if engine == "monai":
        from monai.bundle import ConfigWorkflow
    else:
        from bundle.workflows import ConfigWorkflow
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    workflow = ConfigWorkflow(config_file=config, meta_file=meta, logging_file=False)
    workflow.initialize()
    out = workflow.run()
    workflow.finalize()
    elapsed = time.perf_counter() - t0
    result = {"workflow_s": elapsed, "import_s": import_s, "result": round(out[-1], 6), "end": time.time()}
    print(RESULT_TAG + json.dumps(result), flush=True)


def call_worker(engine: str, config: str, meta: str) -> dict:
    """The worker's result, with ``exit_s``: from its last line to the end of the process (the
    interpreter tearing down what was imported, which no in-process timing sees)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", engine, config, meta]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=_env())
    ended = time.time()
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG):])
            result["exit_s"] = ended - result.pop("end")
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-4:]
    return {"error": f"worker exited {proc.returncode}: " + " | ".join(tail)}


# --- the driver -----------------------------------------------------------------------------------


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "BUNDLE_DEBUG")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def time_command(cmd: list[str], cwd: Path) -> tuple[float | None, str | None, float | None]:
    """Wall time, error, and (for a command whose last output line is ``time.time()``) the
    seconds from that line to the end of the process."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=_env())
    ended, elapsed = time.time(), time.perf_counter() - t0
    if proc.returncode != 0:
        return None, f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1]}", None
    try:
        exit_s = ended - float(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        exit_s = None
    return elapsed, None, exit_s


class Best:
    """The best (smallest) time of several runs of one measurement, the first error, a result,
    and the smallest interpreter exit time seen."""

    def __init__(self) -> None:
        self.s: float | None = None
        self.error: str | None = None
        self.result: object = None
        self.exit_s: float | None = None

    def add(self, seconds: float | None, error: str | None = None, result: object = None,
            exit_s: float | None = None) -> None:
        if error is not None:
            self.error = self.error or error
        elif seconds is not None:
            self.s = seconds if self.s is None else min(self.s, seconds)
            self.result = result
        if exit_s is not None:
            self.exit_s = exit_s if self.exit_s is None else min(self.exit_s, exit_s)

    @property
    def value(self) -> float | None:
        return None if self.error else self.s


def measure(measurements: dict, runs: int, cwd: Path) -> dict[str, Best]:
    """Run every measurement once per round, ``runs`` rounds (interleaved, so that a busy moment
    of a shared machine lands on all of them alike), after one untimed round that warms the
    file cache."""
    best = {name: Best() for name in measurements}
    for round_ in range(runs + 1):
        for name, (kind, arg) in measurements.items():
            if kind == "command":
                seconds, error, exit_s = time_command(arg, cwd)
                result = None
            else:
                r = call_worker(*arg)
                seconds, error, result, exit_s = r.get("workflow_s"), r.get("error"), r.get("result"), r.get("exit_s")
            if round_ > 0:
                best[name].add(seconds, error, result, exit_s)
        print(f"   .. round {round_}/{runs} done", file=sys.stderr, flush=True)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="best of 3 instead of best of 7")
    ap.add_argument("--runs", type=int, help="runs per measurement (best of N)")
    ap.add_argument("--no-monai", action="store_true", help="ours only; ratios are n/a")
    ap.add_argument("--workload", choices=("infer", "train"), default="infer",
                    help="infer: forward passes (default); train: SGD steps (loads torch._dynamo, see above)")
    ap.add_argument("--strict", action="store_true", help="exit 1 on a FAIL")
    ap.add_argument("--worker", nargs=3, metavar=("ENGINE", "CONFIG", "META"), help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    if opts.worker:
        worker(*opts.worker)
        return 0
    runs = opts.runs or (3 if opts.quick else 7)
    monai = not opts.no_monai and monai_available(sys.executable) is not None

    print("run overhead benchmark: python -m bundle run vs import torch, the workflow in-process, and MONAI")
    print(f"   python {sys.version.split()[0]}; {os.cpu_count()} CPUs; best of {runs} fresh processes each"
          + ("" if monai else "; MONAI not measured"))
    tmp = Path(tempfile.mkdtemp(prefix="bundle-run-overhead-"))
    summary: list[tuple[str, str]] = []
    try:
        config, meta = write_bundle(tmp / "bench", opts.workload)
        what = "SGD steps" if opts.workload == "train" else "forward passes"
        print(f"   bundle: {STEPS} {what} of a 16-32-4 MLP, then one inference "
              f"({len(bundle_config(opts.workload)['run'])} run expressions)")
        args = ["run", "--config_file", config, "--meta_file", meta]
        measurements = {
            "torch": ("command", [sys.executable, "-c", "import time, torch; print(time.time())"]),
            "ours": ("command", [sys.executable, "-m", "bundle", *args]),
            "ours_wf": ("worker", ("ours", config, meta)),
        }
        if monai:
            measurements["monai"] = ("command", [sys.executable, "-m", "monai.bundle", *args])
            measurements["monai_wf"] = ("worker", ("monai", config, meta))
        best = measure(measurements, runs, tmp)

        def row(label: str, name: str, show_result: bool = False) -> list[str]:
            b = best[name]
            status = b.error or (f"ok (result {b.result})" if show_result else "ok")
            return [label, fmt_s(b.value), status]

        rows = [row("python -c 'import torch'", "torch"), row("python -m bundle run ...", "ours"),
                row("  workflow in-process (ours)", "ours_wf", True)]
        torch_s, ours_s, our_wf = best["torch"].value, best["ours"].value, best["ours_wf"].value
        monai_s = monai_wf = None
        if monai:
            rows += [row("python -m monai.bundle run ...", "monai"),
                     row("  workflow in-process (MONAI)", "monai_wf", True)]
            monai_s, monai_wf = best["monai"].value, best["monai_wf"].value
            ours_r, monai_r = best["ours_wf"].result, best["monai_wf"].result
            if ours_r is not None and monai_r is not None and ours_r != monai_r:
                summary.append(("FAIL", f"the engines disagree: ours {ours_r}, MONAI {monai_r}"))
        print()
        table(["measurement", "best s", "status"], rows, "lrl", indent="   ")

        if None in (torch_s, ours_s, our_wf):
            summary.append(("FAIL", "a measurement of ours failed (see above)"))
        else:
            overhead = ours_s - our_wf
            limit = torch_s + TARGET_EXTRA_S
            print(f"\n   our overhead beyond the workflow: {ours_s:.3f} - {our_wf:.3f} = {overhead:.3f} s "
                  f"(import torch {torch_s:.3f} s; so {overhead - torch_s:+.3f} s beyond import torch)")
            exit_wf, exit_torch = best["ours_wf"].exit_s, best["torch"].exit_s
            if exit_wf is not None and exit_torch is not None:
                print(f"   interpreter exit: {exit_wf:.3f} s after the workflow, {exit_torch:.3f} s after import "
                      f"torch alone: {exit_wf - exit_torch:+.3f} s of the overhead is tearing down what the "
                      "workflow imported")
            summary.append(("PASS" if overhead <= limit else "FAIL",
                            f"overhead beyond the workflow {overhead:.3f} s <= import torch + {TARGET_EXTRA_S} s "
                            f"= {limit:.3f} s"))
            if monai_s and monai_wf:
                m_over = monai_s - monai_wf
                print(f"   MONAI's overhead beyond the workflow: {monai_s:.3f} - {monai_wf:.3f} = {m_over:.3f} s")
                print(f"   ratios MONAI/ours: whole command {fmt_ratio(monai_s / ours_s)}, "
                      f"workflow {fmt_ratio(monai_wf / our_wf)}, overhead {fmt_ratio(m_over / overhead)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("\n== summary ==")
    for status, text in summary:
        print(f"{status:<4}  {text}")
    return 1 if opts.strict and any(s == "FAIL" for s, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
