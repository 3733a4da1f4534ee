"""The guard in conftest.py: a connection beyond loopback is refused, a name lookup of another host fails
as on a machine without network, and loopback works."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import NetworkGuardError


def test_loopback_connections_work():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass


def test_other_addresses_are_refused(_loopback_only):
    with socket.socket() as s, pytest.raises(NetworkGuardError, match="not 192.0.2.1:80"):
        s.connect(("192.0.2.1", 80))
    assert _loopback_only == ["192.0.2.1:80"]  # the guard would fail this test at teardown...
    _loopback_only.clear()  # ...but trying was the point here


def test_name_lookups_of_other_hosts_fail():
    with pytest.raises(socket.gaierror, match="not allowed in tests"):
        socket.getaddrinfo("example.org", 443)
    assert socket.getaddrinfo("localhost", 80)
