"""The package type-checks: mypy, run with the project's settings (``[tool.mypy]`` in pyproject.toml), finds
no error in ``bundle/``. Skipped where mypy is not installed (it comes with the ``test`` extra)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")


def test_package_type_checks(request, tmp_path):
    # mypy's cache lives in pytest's cache folder, so a second run takes seconds instead of a cold check's
    # minute or more; without pytest's cache plugin (-p no:cacheprovider) every run is a cold one
    cache = getattr(request.config, "cache", None)
    cache_dir = cache.mkdir("mypy") if cache is not None else tmp_path / "mypy"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"mypy found errors (`mypy` in {REPO} shows them):\n{result.stdout}{result.stderr}"
