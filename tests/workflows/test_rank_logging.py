"""Under torchrun only rank 0 logs INFO by default; every line says its rank; BUNDLE_LOG_RANKS chooses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bundle.errors import FormatError
from bundle.workflows.logs import process_rank, rank_logs_info

from ..conftest import REPO

SCRIPT = (
    "import logging; from bundle.cli.run import _setup_logging; _setup_logging(); "
    "log = logging.getLogger('bundle.test'); log.info('an info line'); log.warning('a warning line')"
)


def _stderr(**env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "BUNDLE_LOG_RANKS")}
    environ["PYTHONPATH"] = os.pathsep.join([str(REPO), environ.get("PYTHONPATH", "")])
    environ.update(env)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=environ, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_process_rank():
    assert process_rank({}) is None
    assert process_rank({"WORLD_SIZE": "1", "RANK": "0"}) is None
    assert process_rank({"WORLD_SIZE": "4", "RANK": "3"}) == 3


def test_rank_logs_info_default_list_and_all():
    assert rank_logs_info(None, {})
    assert rank_logs_info(0, {}) and not rank_logs_info(1, {})
    assert rank_logs_info(1, {"BUNDLE_LOG_RANKS": "0,1"}) and not rank_logs_info(2, {"BUNDLE_LOG_RANKS": "0,1"})
    assert rank_logs_info(5, {"BUNDLE_LOG_RANKS": "all"})
    with pytest.raises(FormatError, match="BUNDLE_LOG_RANKS"):
        rank_logs_info(0, {"BUNDLE_LOG_RANKS": "first"})


def test_rank_1_logs_warnings_only_with_its_rank_in_front():
    err = _stderr(WORLD_SIZE="2", RANK="1")
    assert "an info line" not in err
    assert err.startswith("[rank 1] ") and "a warning line" in err


def test_rank_0_logs_info_and_all_ranks_on_request():
    assert "[rank 0] " in _stderr(WORLD_SIZE="2", RANK="0") and "an info line" in _stderr(WORLD_SIZE="2", RANK="0")
    assert "an info line" in _stderr(WORLD_SIZE="2", RANK="1", BUNDLE_LOG_RANKS="all")


def test_one_process_logs_info_without_a_rank():
    err = _stderr()
    assert "an info line" in err and "[rank" not in err
