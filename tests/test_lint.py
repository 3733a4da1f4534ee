"""The package is clean under ruff with the project's settings (pyproject.toml's [tool.ruff]): pyflakes,
pycodestyle, import order, bugbear, pyupgrade and simplification rules."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


def test_ruff_finds_nothing_in_the_package():
    pytest.importorskip("ruff")
    # the ruff of this interpreter's environment, not whichever one PATH finds first
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "bundle"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
