"""Shared by the zoo tests: where the zoo is, its bundle folders, and running ``python -m bundle``
in a subprocess the way users do."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ZOO = REPO / "zoo"

# how the engines log a metric: "evaluate: mean_dice 0.9431 (8 batches, 1.2 s)"
METRIC_LINE = r"{engine}: .*?\b{name} (-?\d+\.\d+)"


def zoo_bundles() -> list[Path]:
    """Every bundle folder in ``zoo/`` (each folder not starting with ``.`` or ``_``), sorted."""
    if not ZOO.is_dir():
        return []
    return sorted(p for p in ZOO.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def subprocess_env(**extra: str) -> dict:
    """This checkout first on ``PYTHONPATH``, no inherited ``torchrun`` variables, no debug output."""
    env = {k: v for k, v in os.environ.items() if k not in ("BUNDLE_DEBUG", "WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def bundle_command(*args: str, cwd: Path, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    """``python -m bundle ARGS`` in ``cwd``; stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "bundle", *args], cwd=cwd, env=subprocess_env(**env), capture_output=True, text=True,
        timeout=timeout,
    )


def logged_metric(output: str, engine: str, name: str) -> float:
    """The value of metric ``name`` in the summary line an engine (``evaluate``, ``inference``) logged."""
    match = re.search(METRIC_LINE.format(engine=re.escape(engine), name=re.escape(name)), output)
    assert match, f"no '{engine}: ... {name} X' line in the output:\n{output}"
    return float(match.group(1))


def folder_snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder``: what a run must leave unchanged."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
