"""Small bundles written into tmp_path, and logging restored after tests that configure it."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

META = {"version": "0.1.0", "monai_version": "1.6.1", "pytorch_version": "2.13.0", "numpy_version": "2.0.0"}


def write_bundle(root: Path, configs: dict, *, meta: dict | None = META, scripts: dict | None = None,
                 files: dict | None = None) -> Path:
    """A bundle folder: ``configs/<name>.json`` for each config (a dict, or text for other suffixes),
    ``configs/metadata.json`` (unless None), ``scripts/<module>.py`` and any other files."""
    (root / "configs").mkdir(parents=True, exist_ok=True)
    for name, config in configs.items():
        path = root / "configs" / (name if "." in name else f"{name}.json")
        path.write_text(config if isinstance(config, str) else json.dumps(config, indent=2))
    if meta is not None:
        (root / "configs" / "metadata.json").write_text(json.dumps(meta))
    if scripts is not None:
        (root / "scripts").mkdir(exist_ok=True)
        (root / "scripts" / "__init__.py").write_text("")
        for module, text in scripts.items():
            (root / "scripts" / f"{module}.py").write_text(text)
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def make_bundle(tmp_path):
    def make(configs: dict, name: str = "bundle", **kw) -> Path:
        return write_bundle(tmp_path / name, configs, **kw)

    return make


@pytest.fixture
def restore_logging():
    """Logging configured by a test (fileConfig / dictConfig) is put back as it was; test loggers
    are named ``wftest...``."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    known = set(logging.Logger.manager.loggerDict)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in list(logging.Logger.manager.loggerDict):
        if name in known and not name.startswith("wftest"):
            continue
        logger = logging.getLogger(name)
        for h in logger.handlers[:]:
            logger.removeHandler(h)
            h.close()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        logger.disabled = False
    logging.disable(logging.NOTSET)


@pytest.fixture
def no_scripts_module():
    """Each test starts and must end without a ``scripts`` package imported."""
    before = {n for n in sys.modules if n == "scripts" or n.startswith("scripts.")}
    yield
    after = {n for n in sys.modules if n == "scripts" or n.startswith("scripts.")}
    assert after == before, f"scripts modules left behind: {sorted(after - before)}"
