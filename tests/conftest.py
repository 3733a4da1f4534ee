"""Shared fixtures: every test runs with its own cache and home folders, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
COMPAT = SHARED / "compat" / "monai-model-zoo"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("BUNDLE_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.delenv("BUNDLE_DEBUG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))  # a zoo bundle's run outputs go here
    monkeypatch.delenv("BUNDLE_OUTPUT_DIR", raising=False)
    monkeypatch.delenv("BUNDLE_LOG_RANKS", raising=False)


@pytest.fixture
def local_server(monkeypatch):
    """A real HTTP server on 127.0.0.1 (``tests/localserver.py``): ``add(path, body, faults...)`` -> URL,
    ``requests(path)`` -> what it received. Retries back off in milliseconds while it runs."""
    from tests.localserver import LocalServer

    monkeypatch.setattr("bundle.registry.transfer.BACKOFF", 0.01)
    with LocalServer() as server:
        yield server
