"""write_atomic: whole files only, and the permissions a plain open() would give."""

from __future__ import annotations

import os
import stat

import pytest

from bundle.atomic import current_umask, write_atomic


def test_writes_whole_file_with_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    write_atomic(target, "hello")
    assert target.read_text() == "hello"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~current_umask()
    write_atomic(target, b"bytes")
    assert target.read_bytes() == b"bytes"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_follows_a_changed_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "private.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600
