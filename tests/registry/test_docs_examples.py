"""The examples of docs/registry.md run as written, against the zoo's own index: its GitHub release
assets are served from 127.0.0.1 (BUNDLE_GITHUB_URL), built by packing zoo/ deterministically, so the
index's sha256 must match what packing the zoo gives today."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from bundle.registry.archive import pack
from bundle.registry.index import Index
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def code_block(doc: str, heading: str) -> str:
    text = (REPO / "docs" / doc).read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_script_example_runs_against_the_zoo_index(tmp_path, local_server):
    index = Index.load(str(REPO / "zoo" / "index.json"))
    for name in index.names():
        record = index.resolve(name)
        info = pack(REPO / "zoo" / name, tmp_path)
        assert info.sha256 == record.sha256  # the released archive is what packing the zoo gives
        github = next(s for s in record.sources if "github" in s)
        local_server.add(f"/{github['github']}/releases/download/{github['tag']}/{github['asset']}", info.path.read_bytes())
    env = {**os.environ, "BUNDLE_GITHUB_URL": local_server.url("").rstrip("/"), "PYTHONPATH": str(REPO)}
    env.pop("BUNDLE_INDEX", None)
    done = subprocess.run([sys.executable, "-c", code_block("registry.md", "### A script")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("torch.Size([1, 32, 32, 32])")
