"""Shared fixtures: every test runs with its own cache and home folders, never the user's, and opens no
socket beyond this machine's loopback."""

from __future__ import annotations

import ipaddress
import socket
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


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkGuardError(ConnectionRefusedError):
    """A test tried to reach beyond 127.0.0.1 (the guard below refuses, and the test fails)."""


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Refuse (and fail the test for) a connection from this process to anything but loopback; name
    lookups of other hosts fail as they do on a machine without network, so nothing leaves it."""
    tried: list[str] = []
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def checked(address):
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            tried.append(f"{address[0]}:{address[1]}")
            raise NetworkGuardError(f"tests may only connect to 127.0.0.1, not {address[0]}:{address[1]}")

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            checked(address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            checked(address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"name lookups of {host!r} are not allowed in tests")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield tried  # the attempts so far (a test of the guard itself clears them)
    if tried:
        pytest.fail(f"the test tried to connect beyond 127.0.0.1: {', '.join(tried)}")


@pytest.fixture
def local_server(monkeypatch):
    """A real HTTP server on 127.0.0.1 (``tests/localserver.py``): ``add(path, body, faults...)`` -> URL,
    ``requests(path)`` -> what it received. Retries back off in milliseconds while it runs."""
    from tests.localserver import LocalServer

    monkeypatch.setattr("bundle.registry.transfer.BACKOFF", 0.01)
    with LocalServer() as server:
        yield server
