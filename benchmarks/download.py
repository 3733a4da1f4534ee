"""Download throughput of ``bundle.registry.fetch`` against ``curl`` from the same local HTTP server, and
the time of the index commands ``bundle list`` and ``bundle info`` (target: at most 0.15 s each).

A 200 MiB file is served by ``tests/localserver.py`` in its own process (sendfile, so the server is
not the bottleneck); each client downloads it to the same folder (after one untimed run each), best
of N runs each, interleaved.
``fetch`` also computes the sha256 of what it receives and checks it; curl does not hash. Target:
fetch's throughput at least 0.9x curl's. ``list``/``info`` run as fresh processes on the zoo's index,
after one untimed run (the first read of an index checks its schema once); best of N.
A script, not a test: nothing asserts on timings.

    .venv/bin/python benchmarks/download.py [--mb 200] [--repeats 5] [--profile]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's bundle, not an installed one


def make_file(path: Path, mb: int) -> str:
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(mb):
            chunk = block[i % 251 :] + block[: i % 251]  # every MiB differs, cheaply
            f.write(chunk)
            h.update(chunk)
    return h.hexdigest()


def time_curl(url: str, dest: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["curl", "-s", "-f", "-o", str(dest), url], check=True)
    return time.perf_counter() - start


def time_fetch(url: str, dest: Path, sha256: str, size: int) -> float:
    from bundle.registry.fetch import fetch

    start = time.perf_counter()
    fetch(url, dest, sha256=sha256, size=size, progress=False)
    return time.perf_counter() - start


def time_commands(repeats: int, cache: Path) -> dict[str, list[float]]:
    """Wall times of fresh ``python -m bundle list`` / ``info`` processes and of a bare interpreter."""
    env = {**os.environ, "BUNDLE_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    env.pop("BUNDLE_INDEX", None)
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "bundle list": [sys.executable, "-m", "bundle", "list"],
                "bundle info": [sys.executable, "-m", "bundle", "info", "ellipsoid_segmentation"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # untimed: the index's schema check runs once per content
        subprocess.run(argv, env=env, cwd=REPO, check=True, capture_output=True)
    for _ in range(repeats):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, env=env, cwd=REPO, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="file size in MiB")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile one fetch and print the top functions")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        print("curl is not installed", file=sys.stderr)
        return 1
    import requests  # noqa: F401  (imported before timing, as a long-running program would have it)

    from bundle.registry.fetch import sha256_file

    with tempfile.TemporaryDirectory(prefix="bundle-download-bench-") as tmp:
        tmp = Path(tmp)
        source = tmp / "model.bin"
        digest = make_file(source, args.mb)
        size = source.stat().st_size
        server = subprocess.Popen([sys.executable, str(REPO / "tests" / "localserver.py"), str(source)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().strip()
            # one untimed run of each: the server's file in the page cache, the first allocation of
            # page-cache memory for a new file (slow on some machines) paid by neither timed run
            time_curl(url, tmp / "warm.bin")
            time_fetch(url, tmp / "warm2.bin", digest, size)
            (tmp / "warm.bin").unlink()
            (tmp / "warm2.bin").unlink()
            if args.profile:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                prof.runcall(time_fetch, url, tmp / "p.bin", digest, size)
                pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
                return 0
            curl, ours = [], []
            for i in range(args.repeats):
                for name, times, run in (("curl", curl, lambda d: time_curl(url, d)),
                                         ("fetch", ours, lambda d: time_fetch(url, d, digest, size))):
                    dest = tmp / f"{name}-{i}.bin"
                    times.append(run(dest))
                    if name == "curl" and i == 0 and sha256_file(dest) != digest:  # streamed: no 200 MB buffer
                        raise SystemExit("curl downloaded other bytes")
                    dest.unlink()
        finally:
            server.terminate()
            server.wait()
    mb = size / 1e6
    best_curl, best_ours = min(curl), min(ours)
    print(f"file: {size / (1 << 20):.0f} MiB from 127.0.0.1, best of {args.repeats} (interleaved)")
    print(f"curl  -s -o : {best_curl:6.3f} s  {mb / best_curl:8.1f} MB/s   (all: {', '.join(f'{t:.3f}' for t in curl)})")
    print(f"fetch()     : {best_ours:6.3f} s  {mb / best_ours:8.1f} MB/s   (all: {', '.join(f'{t:.3f}' for t in ours)})"
          "  [sha256 verified]")
    ratio = best_curl / best_ours
    print(f"fetch/curl throughput: {ratio:.2f}  (target >= 0.90: {'PASS' if ratio >= 0.9 else 'FAIL'})")
    with tempfile.TemporaryDirectory(prefix="bundle-commands-bench-") as cache:
        commands = time_commands(max(args.repeats, 7), Path(cache))
    print(f"\nindex commands on zoo/index.json, fresh processes, best of {max(args.repeats, 7)}:")
    for name, times in commands.items():
        target = "" if name.startswith("python") else f"  (target <= 0.15 s: {'PASS' if min(times) <= 0.15 else 'FAIL'})"
        print(f"{name:<15}: {min(times):.3f} s (median {sorted(times)[len(times) // 2]:.3f} s){target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
