"""Config engine benchmark: our ``bundle.ConfigParser`` against MONAI 1.6.1's, in one run.

Three sections, each timed for both engines in the same run (MONAI is the anchor every ratio is
taken against):

1. synthetic configs of 4k..128k items (nodes of the config tree): parse + resolve the root;
2. the compat corpus (every config combination of ../shared/compat/monai-model-zoo): read, parse
   and resolve the plain expressions;
3. CLI start-up: ``python -m bundle --help`` against ``python -m monai.bundle --help``.

Every measurement runs in a fresh subprocess (this same file, ``--worker ...``) so imports and
caches never leak between engines or sizes. Run ``python benchmarks/config_engine.py --help``;
``benchmarks/README.md`` explains what is measured and the targets.

This is a script, not a test: it prints PASS/FAIL against the targets and exits 0 unless
``--strict`` is given (then 1 on any FAIL or on a wrong result).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_COMPAT = REPO.parent / "shared" / "compat" / "monai-model-zoo"
RESULT_TAG = "@@BENCH-RESULT "
K = 1024

FULL_SIZES = [4 * K, 8 * K, 16 * K, 32 * K, 64 * K, 128 * K]
QUICK_SIZES = [4 * K, 8 * K, 16 * K]
MONAI_MAX_FULL = 32 * K
MONAI_MAX_QUICK = 8 * K
MONAI_REPEAT_MAX = 8 * K  # MONAI repeats only up to this size, a single run above

# targets (from the issue)
TARGET_SYNTH_SIZE = 32 * K
TARGET_SYNTH_RATIO = 100.0
TARGET_CORPUS_RATIO = 10.0
TARGET_HELP_S = 0.15
TARGET_LINEAR = 2.0  # per-item time at the largest size within 2x of the smallest

# expression texts the corpus workload leaves out: MONAI objects, running engines, printing or
# plotting, and starting/stopping torch.distributed (side effects, not config resolution)
CORPUS_SKIP_TEXT = ("monai", ".run(", "print(", "plt.", "init_process_group", "destroy_process_group")


# --------------------------------------------------------------------------------------------
# the synthetic config
# --------------------------------------------------------------------------------------------


def _earlier(i: int, mult: int, shift: int) -> int:
    """A deterministic, scattered index of an earlier block (0 for block 0)."""
    return ((i * mult) >> shift) % i if i else 0


def synthetic_block(i: int) -> dict:
    """One block of a bundle-like config: plain values, references (some chained, some to
    nested ids, some relative), expressions over other ids, a macro, nested dicts/lists and a
    component whose ``_target_`` is a plain dotted path both engines locate without MONAI."""
    j = _earlier(i, 2654435761, 7)
    k = _earlier(i, 40503, 3)
    return {
        f"v{i}": i,
        f"s{i}": f"name-{i}",
        f"f{i}": i * 0.5,
        f"r{i}": f"@v{j}",
        f"ch{i}": f"@ch{i - 1}" if i % 8 else f"@v{i}",  # chains of up to 8 references
        f"e{i}": f"$@v{i} + @f{k} * 2",
        f"l{i}": f"$[x * 2 for x in @d{i}::c[:2]] + [len(@s{i})]",
        f"d{i}": {
            "a": i,
            "b": f"@e{i}",
            "c": [1, 2, f"@v{i}"],
            "m": f"%v{j}",
            "n": {"p": "@::::a", "q": [f"$@d{i}::a + 1", {"z": f"@r{i}"}]},
        },
        f"c{i}": {
            "_target_": "collections.OrderedDict" if i % 2 else "builtins.dict",
            "a": f"@v{i}",
            "b": f"$@e{i} - 1",
            "c": [f"@d{i}::c::2", 3],
        },
    }


def expected_block(i: int) -> dict:
    """What resolving block ``i`` must give (computed here, independent of both engines)."""
    j = _earlier(i, 2654435761, 7)
    k = _earlier(i, 40503, 3)
    e = i + (k * 0.5) * 2
    return {
        f"v{i}": i,
        f"s{i}": f"name-{i}",
        f"f{i}": i * 0.5,
        f"r{i}": j,
        f"ch{i}": 8 * (i // 8),
        f"e{i}": e,
        f"l{i}": [2, 4, len(f"name-{i}")],
        f"d{i}": {"a": i, "b": e, "c": [1, 2, i], "m": j, "n": {"p": i, "q": [i + 1, {"z": j}]}},
        f"c{i}": {"a": i, "b": e - 1, "c": [i, 3]},
    }


def count_items(x) -> int:
    """Nodes of a config tree: the ids MONAI makes a ConfigItem for (the root included)."""
    if isinstance(x, dict):
        return 1 + sum(count_items(v) for v in x.values())
    if isinstance(x, list):
        return 1 + sum(count_items(v) for v in x)
    return 1


def synthetic_config(n_items: int) -> tuple[dict, int, int]:
    """A config of at least ``n_items`` items; returns (config, items, blocks)."""
    config: dict = {}
    items, blocks = 1, 0
    while items < n_items:
        block = synthetic_block(blocks)
        items += sum(count_items(v) for v in block.values())
        config.update(block)
        blocks += 1
    return config, items, blocks


def check_synthetic(out, blocks: int) -> str | None:
    """None when the resolved config is right (sampled blocks), else what is wrong."""
    if not isinstance(out, dict):
        return f"root resolved to {type(out).__name__}, not dict"
    for i in sorted({0, 1, 7, 8, 9, blocks // 2, blocks // 2 + 1, blocks - 2, blocks - 1}):
        if i < 0 or i >= blocks:
            continue
        for key, want in expected_block(i).items():
            got = out.get(key)
            if got != want:
                return f"{key}: got {got!r}, expected {want!r}"
        want_type = "OrderedDict" if i % 2 else "dict"
        if type(out[f"c{i}"]).__name__ != want_type:
            return f"c{i}: got a {type(out[f'c{i}']).__name__}, expected {want_type}"
    return None


def fingerprint(value) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# workers (run in a fresh subprocess each)
# --------------------------------------------------------------------------------------------


def import_engine(engine: str):
    if engine == "monai":
        from monai.bundle import ConfigParser
    else:
        from bundle import ConfigParser
    return ConfigParser


@contextlib.contextmanager
def no_gc():
    """Time without the cyclic garbage collector, as ``timeit`` does: a full collection of a heap
    holding torch (and MONAI) costs tens of milliseconds and lands on whichever run triggers it.
    Collected before, re-enabled after; the same for both engines."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def emit(result: dict) -> None:
    sys.stdout.write(RESULT_TAG + json.dumps(result) + "\n")
    sys.stdout.flush()


def _error(err: BaseException) -> str:
    import traceback

    tail = traceback.format_exception(type(err), err, err.__traceback__)
    return f"{type(err).__name__}: {err}\n" + "".join(tail[-4:])


def worker_synthetic(engine: str, size: int, repeats: int) -> None:
    t0 = time.perf_counter()
    import torch  # noqa: F401  (both engines import it for real bundles; not timed)

    t_torch = time.perf_counter() - t0
    t0 = time.perf_counter()
    ConfigParser = import_engine(engine)
    t_import = time.perf_counter() - t0

    # warm-up on a tiny config: first-use costs (MONAI's scan of monai.* for its component
    # locator, lazy imports, ...) are one-off and not what this section measures
    t0 = time.perf_counter()
    warm = ConfigParser({"w": {"_target_": "collections.OrderedDict", "a": 1}, "x": "$1 + 1", "y": "@x"})
    warm.parse()
    warm.get_parsed_content("")
    t_warm = time.perf_counter() - t0

    config, items, blocks = synthetic_config(size)
    times = []
    out = None
    try:
        for _ in range(repeats):
            data = copy.deepcopy(config)  # MONAI rewrites the dict it is given; not timed
            out = None
            with no_gc():
                t0 = time.perf_counter()
                parser = ConfigParser(data)
                parser.parse()
                out = parser.get_parsed_content("")
                times.append(time.perf_counter() - t0)
            del parser
    except Exception as err:  # noqa: BLE001
        emit({"error": _error(err), "items": items, "times": times})
        return
    emit({
        "items": items, "blocks": blocks, "times": times, "best": min(times),
        "import_s": t_import, "torch_s": t_torch, "warmup_s": t_warm,
        "check": check_synthetic(out, blocks), "fingerprint": fingerprint(out),
    })


def corpus_jobs(compat: Path, parser_cls=None) -> tuple[list[dict], list[str]]:
    """The corpus workload: per combination, the files, overrides and the expression ids to
    resolve. Ids are chosen from the goldens (MONAI's kinds and refs); the expression texts come
    from our parser's expanded config (which the compat tests check equals MONAI's)."""
    warnings: list[str] = []
    jobs = []
    for golden_path in sorted((compat / "goldens").glob("*.json")):
        golden = json.loads(golden_path.read_text())
        bundle = golden["bundle"]
        configs = compat / "bundles" / bundle / "configs"
        for combo in golden["combos"]:
            kinds, refs = combo["kinds"], combo["refs"]
            overrides = {"bundle_root": "BUNDLE_ROOT"}
            if "device" in kinds:
                overrides["device"] = "$torch.device('cpu')"
            meta = configs / "metadata.json"
            job = {
                "bundle": bundle, "files": [str(configs / f) for f in combo["files"]],
                "meta": str(meta) if meta.exists() else None, "overrides": overrides,
                "items": len(kinds),
            }
            texts: dict = {}
            if parser_cls is not None:
                try:
                    p = parser_cls()
                    p.read_config(job["files"])
                    if job["meta"]:
                        p.read_meta(job["meta"])
                    p.update(overrides)
                    p.parse()
                    texts = {i: p[i] for i, kind in kinds.items() if kind == "expression"}
                except Exception as err:  # noqa: BLE001
                    warnings.append(f"{bundle}:{'+'.join(combo['files'])}: could not read the expression "
                                    f"texts ({type(err).__name__}: {err}); chose its ids from the goldens only")

            def plain(i, seen):
                if i in seen:
                    return True
                seen.add(i)
                if kinds.get(i) == "component":
                    return False
                text = texts.get(i)
                if isinstance(text, str) and any(s in text for s in CORPUS_SKIP_TEXT):
                    return False
                return all(plain(d, seen) for d in refs.get(i, []))

            # what the compat goldens check: the expressions MONAI evaluated to plain data
            # (``values``), less those that need MONAI objects or have side effects
            job["ids"] = [i for i in combo["values"] if kinds.get(i) == "expression" and plain(i, set())]
            job["expressions"] = sum(1 for kind in kinds.values() if kind == "expression")
            jobs.append(job)
    return jobs, warnings


PHASES = ("read_config", "read_meta", "update", "parse", "resolve")


def run_corpus_pass(ConfigParser, jobs: list[dict]):
    """One pass over the corpus: per job its time, the ids that failed to resolve (id -> why),
    whole-job errors, and the time spent in each phase (summed over the jobs)."""
    times, failed, errors = [], [], []
    phases = dict.fromkeys(PHASES, 0.0)
    clock = time.perf_counter
    for job in jobs:
        bad: dict[str, str] = {}
        t0 = t = clock()
        phase = "read_config"
        try:
            parser = ConfigParser()
            parser.read_config(job["files"])
            phases[phase] += clock() - t
            phase, t = "read_meta", clock()
            if job["meta"]:
                parser.read_meta(job["meta"])
            phases[phase] += clock() - t
            phase, t = "update", clock()
            parser.update(job["overrides"])
            phases[phase] += clock() - t
            phase, t = "parse", clock()
            parser.parse()
            phases[phase] += clock() - t
            phase, t = "resolve", clock()
            for i in job["ids"]:
                try:
                    parser.get_parsed_content(i)
                except Exception as err:  # noqa: BLE001  (counted the same way for both engines)
                    bad[i] = _why(err)
            phases[phase] += clock() - t
        except Exception as err:  # noqa: BLE001
            phases[phase] += clock() - t
            errors.append(f"{job['bundle']}: {phase}: {_why(err)}")
            bad = dict.fromkeys(job["ids"], f"{phase} failed")
        times.append(clock() - t0)
        failed.append(bad)
    return times, failed, errors, phases


def _why(err: BaseException) -> str:
    """A short reason: the innermost cause's type and first line."""
    while err.__cause__ is not None and err.__cause__ is not err:
        err = err.__cause__
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:140]}"


def worker_corpus(engine: str, jobs_file: str, repeats: int) -> None:
    jobs = json.loads(Path(jobs_file).read_text())
    # cold start: importing the engine and making the first parser (MONAI's imports its
    # expression globals: monai, torch, numpy); shown, not in the ratio
    t0 = time.perf_counter()
    ConfigParser = import_engine(engine)
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    ConfigParser()
    t_first = time.perf_counter() - t0
    torch_by_engine = "torch" in sys.modules
    t0 = time.perf_counter()
    import torch  # noqa: F401  (the corpus uses torch in expressions; imported before the clock)

    t_torch = time.perf_counter() - t0

    passes, phase_list = [], []
    failed: list[dict] = []
    errors: list[str] = []
    for _ in range(repeats):
        with no_gc():
            times, failed, errors, phases = run_corpus_pass(ConfigParser, jobs)
        passes.append(times)
        phase_list.append(phases)
    totals = [sum(t) for t in passes]
    best = passes[totals.index(min(totals))]
    emit({
        "import_s": t_import, "first_parser_s": t_first, "torch_s": t_torch,
        "torch_by_engine": torch_by_engine, "totals": totals, "best": min(totals),
        "per_job": [min(p[n] for p in passes) for n in range(len(jobs))], "best_pass": best,
        "phases": phase_list[totals.index(min(totals))],
        "failed": failed, "errors": errors,
    })


def worker_profile(size: int, top: int) -> None:
    import cProfile
    import io
    import pstats

    import torch  # noqa: F401

    ConfigParser = import_engine("ours")
    warm = ConfigParser({"w": {"_target_": "collections.OrderedDict", "a": 1}, "x": "$1 + 1"})
    warm.get_parsed_content("")
    config, items, _ = synthetic_config(size)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    parser = ConfigParser(config)
    parser.parse()
    parser.get_parsed_content("")
    prof.disable()
    elapsed = time.perf_counter() - t0
    print(f"ours, synthetic {items} items, under cProfile: {elapsed:.2f} s")
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        text = buf.getvalue()
        print(f"--- top {top} by {key} ---")
        print(text[text.find("   ncalls"):].rstrip())


# --------------------------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------------------------


def call_worker(python: str, args: list[str], timeout: float | None) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
    return {"error": f"worker exited {proc.returncode}: " + " | ".join(tail)}


def label(n: int) -> str:
    return f"{n // K}k" if n % K == 0 else str(n)


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.0f}x" if x >= 10 else f"{x:.1f}x"


def table(headers: list[str], rows: list[list[str]], align: str | None = None, indent: str = "") -> None:
    widths = [max(len(h), *(len(r[c]) for r in rows)) if rows else len(h) for c, h in enumerate(headers)]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(cells):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align))

    print(indent + line(headers))
    print(indent + "  ".join("-" * w for w in widths))
    for r in rows:
        print(indent + line(r))


def monai_available(python: str) -> str | None:
    """MONAI's version, or None when it cannot be imported by ``python``."""
    try:
        proc = subprocess.run([python, "-c", "import monai; print(monai.__version__)"],
                              capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else None


def section_synthetic(opts, monai: bool, summary: list) -> bool:
    print("\n== 1. synthetic configs: parse + resolve the root (get_parsed_content('')) ==")
    print(f"   ours: best of {opts.repeats} runs per size; MONAI: best of {opts.repeats} up to "
          f"{label(MONAI_REPEAT_MAX)}, one run above; a fresh process per engine and size")
    ok = True
    rows, ours, theirs = [], {}, {}
    monai_times: list[tuple[int, float]] = []
    for size in opts.sizes:
        r = call_worker(sys.executable, ["synthetic", "--engine", "ours", "--size", str(size),
                                         "--repeats", str(opts.repeats)], opts.timeout)
        ours[size] = r
        m = None
        if monai and size <= opts.monai_max:
            reps = opts.repeats if size <= MONAI_REPEAT_MAX else 1
            m = call_worker(opts.monai_python, ["synthetic", "--engine", "monai", "--size", str(size),
                                                "--repeats", str(reps)], opts.monai_timeout)
            theirs[size] = m
            if "error" not in m:
                monai_times.append((m["items"], m["best"]))
        rows.append(_synth_row(size, r, m, monai, monai_times, ours, opts))
        print(f"   .. {label(size)} done", file=sys.stderr, flush=True)
    table(["size", "items", "ours s", "us/item", "x per 2x", "MONAI s", "MONAI/ours", "result"], rows,
          "lrrrrrrl")

    # correctness notes
    for size in opts.sizes:
        r, m = ours[size], theirs.get(size)
        if "error" in r:
            ok = False
            print(f"   ERROR ours at {label(size)}: {r['error'].strip()}")
        elif r["check"]:
            ok = False
            print(f"   WRONG ours at {label(size)}: {r['check']}")
        if m is not None:
            if "error" in m:
                print(f"   ERROR MONAI at {label(size)}: {m['error'].strip()}")
            elif m["check"]:
                print(f"   WRONG MONAI at {label(size)}: {m['check']}")
    first = next((ours[s] for s in opts.sizes if "error" not in ours[s]), None)
    if first:
        print(f"   (not timed) import torch {first['torch_s']:.2f} s; import ours {first['import_s'] * 1e3:.0f} ms; "
              f"ours warm-up {first['warmup_s'] * 1e3:.0f} ms", end="")
        mfirst = next((m for m in theirs.values() if "error" not in m), None)
        if mfirst:
            print(f"; import monai.bundle {mfirst['import_s']:.2f} s; MONAI warm-up {mfirst['warmup_s'] * 1e3:.0f} ms",
                  end="")
        print()

    # targets
    t = ours.get(TARGET_SYNTH_SIZE)
    m = theirs.get(TARGET_SYNTH_SIZE)
    if not monai or m is None:
        summary.append(("n/a", f"synthetic {label(TARGET_SYNTH_SIZE)}: MONAI/ours = n/a (no MONAI run at "
                                f"{label(TARGET_SYNTH_SIZE)}; target >= {TARGET_SYNTH_RATIO:.0f}x)"))
    elif "error" in m or t is None or "error" in t:
        summary.append(("FAIL", f"synthetic {label(TARGET_SYNTH_SIZE)}: no ratio (an engine failed)"))
    else:
        ratio = m["best"] / t["best"]
        summary.append(("PASS" if ratio >= TARGET_SYNTH_RATIO else "FAIL",
                        f"synthetic {label(TARGET_SYNTH_SIZE)}: MONAI/ours = {ratio:.0f}x "
                        f"({m['best']:.1f} s / {t['best']:.3f} s; target >= {TARGET_SYNTH_RATIO:.0f}x)"))
    good = [s for s in opts.sizes if "error" not in ours[s]]
    if len(good) >= 2:
        lo, hi = ours[good[0]], ours[good[-1]]
        per_lo, per_hi = lo["best"] / lo["items"], hi["best"] / hi["items"]
        growth = per_hi / per_lo
        summary.append(("PASS" if growth <= TARGET_LINEAR else "FAIL",
                        f"ours grows linearly: us/item {label(good[-1])} / {label(good[0])} = {growth:.2f} "
                        f"({per_hi * 1e6:.1f} / {per_lo * 1e6:.1f} us; target <= {TARGET_LINEAR:.0f})"))
    else:
        summary.append(("FAIL", "ours grows linearly: not enough sizes ran"))
    return ok


def _synth_row(size, r, m, monai, monai_times, ours, opts) -> list[str]:
    if "error" in r:
        ours_s = per = growth = "ERROR"
        best = None
    else:
        best = r["best"]
        ours_s, per = fmt_s(best), f"{best / r['items'] * 1e6:.1f}"
        prev = [s for s in opts.sizes if s < size and "error" not in ours[s]]
        if prev:
            p = ours[prev[-1]]
            # time ratio per doubling of the item count (2.0 = linear)
            doublings = math.log2(r["items"] / p["items"])
            growth = f"{(best / p['best']) ** (1 / doublings):.2f}" if doublings > 0 else "-"
        else:
            growth = "-"
    items = str(r.get("items", "?"))
    result = "ok" if "error" not in r and not r.get("check") else "WRONG"
    if not monai:
        return [label(size), items, ours_s, per, growth, "n/a", "n/a", result]
    if m is None:
        est = _extrapolate(monai_times, r.get("items", size))
        text = f"skipped (quadratic; would take ~{est:.0f} s by extrapolation)" if est else "skipped"
        ratio = f"(~{est / best:.0f}x est.)" if est and best else "n/a"
        return [label(size), items, ours_s, per, growth, text, ratio, result]
    if "error" in m:
        return [label(size), items, ours_s, per, growth, "ERROR", "n/a", result]
    if m.get("fingerprint") != r.get("fingerprint"):
        result += "; results DIFFER from MONAI"
    elif "error" not in r:
        result += " (= MONAI)"
    return [label(size), items, ours_s, per, growth, fmt_s(m["best"]),
            fmt_ratio(m["best"] / best) if best else "n/a", result]


def _extrapolate(points: list[tuple[int, float]], items: int) -> float | None:
    """MONAI's time at ``items`` from its last two measured sizes (their empirical exponent,
    at least 2: MONAI is quadratic in the number of items)."""
    if not points:
        return None
    if len(points) == 1:
        (n1, t1), exp = points[0], 2.0
    else:
        (n0, t0), (n1, t1) = points[-2], points[-1]
        exp = max(2.0, math.log(t1 / t0) / math.log(n1 / n0)) if t0 > 0 and n1 > n0 else 2.0
    return t1 * (items / n1) ** exp


def section_corpus(opts, monai: bool, summary: list) -> bool:
    print("\n== 2. compat corpus: read_config + read_meta + update + parse + resolve plain expressions ==")
    compat = opts.compat
    if not (compat / "goldens").is_dir():
        print(f"   skipped: no corpus at {compat}")
        summary.append(("n/a", "corpus: no corpus found"))
        return True
    try:
        from bundle import ConfigParser as Ours
    except Exception as err:  # noqa: BLE001
        Ours = None
        print(f"   (our parser cannot be imported to choose the ids: {err})")
    jobs, warnings = corpus_jobs(compat, Ours)
    for w in warnings:
        print(f"   warning: {w}")
    n_ids = sum(len(j["ids"]) for j in jobs)
    n_expr = sum(j["expressions"] for j in jobs)
    print(f"   {len(jobs)} combinations of {len({j['bundle'] for j in jobs})} bundles, "
          f"{sum(j['items'] for j in jobs)} items; resolving {n_ids} of their {n_expr} expressions "
          "(those needing no component and naming no monai/.run(/print(/plt./process groups)")
    reps_ours = opts.repeats
    reps_monai = 1 if opts.quick else opts.repeats
    print(f"   best of {reps_ours} passes (ours), {reps_monai} (MONAI); one process per engine")

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        jobs_file = Path(tmp) / "jobs.json"
        jobs_file.write_text(json.dumps(jobs))
        r = call_worker(sys.executable, ["corpus", "--engine", "ours", "--jobs", str(jobs_file),
                                         "--repeats", str(reps_ours)], opts.timeout)
        m = (call_worker(opts.monai_python, ["corpus", "--engine", "monai", "--jobs", str(jobs_file),
                                             "--repeats", str(reps_monai)], opts.monai_timeout)
             if monai else None)
    if "error" in r:
        print(f"   ERROR ours: {r['error'].strip()}")
        summary.append(("FAIL", "corpus: our engine failed"))
        return False
    if m is not None and "error" in m:
        print(f"   ERROR MONAI: {m['error'].strip()}")
        m = None

    # per bundle
    rows = []
    bundles = sorted({j["bundle"] for j in jobs})
    for b in bundles:
        idx = [n for n, j in enumerate(jobs) if j["bundle"] == b]
        t_o = sum(r["best_pass"][n] for n in idx)
        ids = sum(len(jobs[n]["ids"]) for n in idx)
        f_o = sum(len(r["failed"][n]) for n in idx)
        row = [b, str(len(idx)), str(ids), fmt_ms(t_o), f"{ids - f_o}/{f_o}"]
        if m:
            t_m = sum(m["best_pass"][n] for n in idx)
            f_m = sum(len(m["failed"][n]) for n in idx)
            row += [fmt_ms(t_m), f"{ids - f_m}/{f_m}", fmt_ratio(t_m / t_o)]
        else:
            row += ["n/a", "n/a", "n/a"]
        rows.append(row)
    f_o = sum(len(f) for f in r["failed"])
    total = ["TOTAL", str(len(jobs)), str(n_ids), fmt_ms(r["best"]), f"{n_ids - f_o}/{f_o}"]
    if m:
        f_m = sum(len(f) for f in m["failed"])
        total += [fmt_ms(m["best"]), f"{n_ids - f_m}/{f_m}", fmt_ratio(m["best"] / r["best"])]
    else:
        total += ["n/a", "n/a", "n/a"]
    rows.append(total)
    table(["bundle", "combos", "ids", "ours ms", "ours ok/fail", "MONAI ms", "MONAI ok/fail", "MONAI/ours"], rows)
    for e in r["errors"]:
        print(f"   ERROR ours: {e}")
    if m:
        for e in m["errors"]:
            print(f"   ERROR MONAI: {e}")

    ok = not r["errors"]
    if m:
        diffs, reasons = [], {}
        for n, job in enumerate(jobs):
            combo = f"{job['bundle']}:{'+'.join(Path(f).name for f in job['files'])}"
            a, b = r["failed"][n], m["failed"][n]
            for i in sorted(set(a) - set(b)):
                diffs.append(f"{combo} '{i}' fails in ours only: {a[i]}")
                reasons.setdefault(("ours only", a[i]), []).append(i)
            for i in sorted(set(b) - set(a)):
                diffs.append(f"{combo} '{i}' fails in MONAI only: {b[i]}")
                reasons.setdefault(("MONAI only", b[i]), []).append(i)
        if diffs:
            print(f"   WARNING: the engines differ on {len(diffs)} ids; by reason:")
            for (who, why), ids in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
                print(f"     {len(ids):4d} fail in {who}: {why}")
            if opts.verbose:
                for d in diffs:
                    print(f"     {d}")
            else:
                print("     (--verbose lists every id)")
        else:
            print("   both engines resolved and failed exactly the same ids")

    rows = []
    for name, x in (("ours", r), ("MONAI", m)):
        if x:
            rows.append([name] + [fmt_ms(x["phases"][ph]) for ph in PHASES] + [fmt_ms(x["best"])])
    if m:
        rows.append(["MONAI/ours"] + [fmt_ratio(m["phases"][ph] / r["phases"][ph]) if r["phases"][ph] else "-"
                                      for ph in PHASES] + [fmt_ratio(m["best"] / r["best"])])
    print("   time by phase (ms, best pass, all combinations):")
    table(["engine"] + list(PHASES) + ["total"], rows, indent="   ")

    # start-up costs, not in the ratio
    def cold(x, name):
        return (f"{name}: import {x['import_s'] * 1e3:.0f} ms + first ConfigParser() {x['first_parser_s'] * 1e3:.0f} ms"
                f" (torch imported by then: {'yes' if x['torch_by_engine'] else 'no'})")

    print("   not in the ratio (cold process):")
    print(f"     {cold(r, 'ours')}")
    if m:
        print(f"     {cold(m, 'MONAI')}")
    passes = ", ".join(fmt_ms(t) for t in r["totals"])
    print(f"   passes (ms): ours {passes}" + (f"; MONAI {', '.join(fmt_ms(t) for t in m['totals'])}" if m else ""))

    if m:
        ratio = m["best"] / r["best"]
        summary.append(("PASS" if ratio >= TARGET_CORPUS_RATIO else "FAIL",
                        f"corpus: MONAI/ours = {ratio:.1f}x ({m['best']:.2f} s / {r['best']:.3f} s; "
                        f"target >= {TARGET_CORPUS_RATIO:.0f}x)"))
    else:
        summary.append(("n/a", f"corpus: MONAI/ours = n/a (no MONAI run; ours {r['best']:.3f} s; "
                               f"target >= {TARGET_CORPUS_RATIO:.0f}x)"))
    return ok


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}" if seconds < 10 else f"{seconds * 1e3:.0f}"


def time_command(cmd: list[str], runs: int) -> tuple[list[float], str | None]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(cmd, capture_output=True, cwd=REPO, env=env)  # warm the file cache; not counted
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            return times, f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or proc.stdout[-200:]}"
    return times, None


def section_cli(opts, monai: bool, summary: list) -> bool:
    runs = opts.cli_runs
    print(f"\n== 3. CLI start-up: median wall time of {runs} runs, each a fresh process ==")
    rows = []
    ours, err = time_command([sys.executable, "-m", "bundle", "--help"], runs)
    med = statistics.median(ours) if ours and not err else None
    rows.append(["python -m bundle --help", fmt_s(med), fmt_s(min(ours)) if ours else "-", err or "ok"])
    mmed = None
    if monai:
        theirs, merr = time_command([opts.monai_python, "-m", "monai.bundle", "--help"], runs)
        mmed = statistics.median(theirs) if theirs and not merr else None
        rows.append(["python -m monai.bundle --help", fmt_s(mmed), fmt_s(min(theirs)) if theirs else "-",
                     merr or "ok"])
    rows.append(["python -c pass (interpreter floor)",
                 fmt_s(statistics.median(time_command([sys.executable, "-c", "pass"], runs)[0])), "", ""])
    table(["command", "median s", "min s", "status"], rows, "lrrl")
    if med and mmed:
        print(f"   MONAI/ours = {mmed / med:.0f}x")

    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "bundle", "--help"],
                          capture_output=True, text=True, cwd=REPO)
    names = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    heavy = [n for n in names if n.split(".")[0] in ("torch", "numpy", "monai", "yaml", "fire", "jsonschema")]
    print(f"   python -X importtime -m bundle --help: {len(names)} modules imported; torch imported: "
          f"{'YES' if any(n.split('.')[0] == 'torch' for n in names) else 'no'}"
          + (f"; heavy modules: {', '.join(sorted({n.split('.')[0] for n in heavy}))}" if heavy else ""))
    if med is None:
        summary.append(("FAIL", f"python -m bundle --help: {err}"))
        return False
    summary.append(("PASS" if med <= TARGET_HELP_S else "FAIL",
                    f"python -m bundle --help: {med:.3f} s median (target <= {TARGET_HELP_S} s"
                    + (f"; MONAI {mmed:.2f} s" if mmed else "") + ")"))
    return True


def parse_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        if part:
            sizes.append(int(float(part[:-1]) * K) if part.endswith("k") else int(part))
    return sorted(set(sizes))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: sizes up to 16k, MONAI up to 8k, one MONAI corpus pass, 5 CLI runs")
    ap.add_argument("--sizes", help="synthetic sizes in items, comma-separated (e.g. 4k,8k,32000)")
    ap.add_argument("--monai-max", help="largest synthetic size MONAI runs (default 32k; 8k with --quick)")
    ap.add_argument("--no-monai", action="store_true", help="run ours only; ratios are n/a")
    ap.add_argument("--monai-python", default=sys.executable,
                    help="the python of the environment with MONAI 1.6.1 (default: this one)")
    ap.add_argument("--compat", type=Path, default=DEFAULT_COMPAT, help=f"the corpus (default {DEFAULT_COMPAT})")
    ap.add_argument("--repeats", type=int, default=5, help="best-of-k repeats (default 5; the machine is noisy)")
    ap.add_argument("--cli-runs", type=int, default=None, help="runs per CLI command (default 10; 5 with --quick)")
    ap.add_argument("--only", default="synthetic,corpus,cli", help="sections to run (default all three)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per worker of ours")
    ap.add_argument("--monai-timeout", type=float, default=1800, help="seconds per worker of MONAI")
    ap.add_argument("--profile", metavar="SIZE", help="profile ours (cProfile) on a synthetic config and exit")
    ap.add_argument("--verbose", action="store_true", help="list every id the engines disagree on")
    ap.add_argument("--strict", action="store_true", help="exit 1 on any FAIL or wrong result")
    ap.add_argument("--worker", nargs="?", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--jobs", help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)

    if opts.worker == "synthetic":
        worker_synthetic(opts.engine, opts.size, opts.repeats)
        return 0
    if opts.worker == "corpus":
        worker_corpus(opts.engine, opts.jobs, opts.repeats)
        return 0
    if opts.profile:
        worker_profile(parse_sizes(opts.profile)[0], 25)
        return 0

    opts.sizes = parse_sizes(opts.sizes) if opts.sizes else (QUICK_SIZES if opts.quick else FULL_SIZES)
    opts.monai_max = (parse_sizes(opts.monai_max)[0] if opts.monai_max
                      else MONAI_MAX_QUICK if opts.quick else MONAI_MAX_FULL)
    opts.cli_runs = opts.cli_runs or (5 if opts.quick else 10)
    sections = {s.strip() for s in opts.only.split(",")}

    print("config engine benchmark: ours (bundle) vs MONAI (the anchor)")
    print(f"   python {sys.version.split()[0]} at {sys.executable}; {os.cpu_count()} CPUs; "
          f"{'quick' if opts.quick else 'full'} mode")
    monai = False
    if not opts.no_monai:
        version = monai_available(opts.monai_python)
        if version is None:
            print(f"   MONAI cannot be imported by {opts.monai_python}: running ours only (ratios n/a)")
        else:
            monai = True
            note = "" if version == "1.6.1" else "  (WARNING: the targets are against MONAI 1.6.1)"
            print(f"   MONAI {version} at {opts.monai_python}{note}")
    else:
        print("   --no-monai: ours only (ratios n/a)")

    summary: list[tuple[str, str]] = []
    ok = True
    t0 = time.perf_counter()
    if "synthetic" in sections:
        ok &= section_synthetic(opts, monai, summary)
    if "corpus" in sections:
        ok &= section_corpus(opts, monai, summary)
    if "cli" in sections:
        ok &= section_cli(opts, monai, summary)

    print(f"\n== summary (whole run {time.perf_counter() - t0:.0f} s) ==")
    for status, text in summary:
        print(f"{status:<4}  {text}")
    if not ok:
        print("WRONG  an engine failed or gave a wrong result (see above)")
    failed = not ok or any(s == "FAIL" for s, _ in summary)
    return 1 if (opts.strict and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
