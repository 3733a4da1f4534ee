"""pack gives the same bytes for the same bundle; extract refuses every member that could escape or explode."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tarfile
import zipfile

import pytest

from bundle.errors import FormatError, UnsafeArchiveError, ZooError
from bundle.registry.archive import extract, is_excluded, pack
from bundle.registry.fetch import sha256_file

FILES = {
    "configs/metadata.json": json.dumps({"version": "0.1.0", "name": "demo"}),
    "configs/inference.json": "{}",
    "models/model.pt": bytes(range(256)) * 64,
    "docs/README.md": "# demo\n",
    "scripts/run.sh": "#!/bin/sh\necho hi\n",
}
EXCLUDED = ["__pycache__/x.cpython-311.pyc", "scripts/__pycache__/m.pyc", "scripts/old.pyc", ".git/HEAD",
            ".gitignore", "docs/.DS_Store", "eval/predictions.txt", "logs/train.log"]


def make_bundle(root, files=FILES, order=None, extra=EXCLUDED):
    names = list(files) if order is None else order
    for rel in names:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = files[rel]
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    (root / "scripts/run.sh").chmod(0o755)
    for rel in extra:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("junk")
    return root


def test_pack_writes_sorted_entries_with_fixed_dates_and_modes(tmp_path):
    bundle = make_bundle(tmp_path / "demo")
    (tmp_path / "dist").mkdir()
    info = pack(bundle, tmp_path / "dist")
    assert info.path == tmp_path / "dist" / "demo_v0.1.0.zip"
    assert info.size == info.path.stat().st_size and info.sha256 == sha256_file(info.path)
    with zipfile.ZipFile(info.path) as zf:
        entries = zf.infolist()
    assert [e.filename for e in entries] == sorted(f"demo/{rel}" for rel in FILES)
    for e in entries:
        assert e.date_time == (1980, 1, 1, 0, 0, 0)
        assert e.compress_type == zipfile.ZIP_DEFLATED
        mode = e.external_attr >> 16
        assert stat.S_IMODE(mode) == (0o755 if e.filename.endswith(".sh") else 0o644)
    assert list(tmp_path.joinpath("dist").iterdir()) == [info.path]  # no temporary file left


@pytest.mark.parametrize("rel, excluded", [
    ("a/__pycache__/b", True), ("x.pyc", True), (".github/workflows/ci.yml", True), ("eval/x", True),
    ("logs/x", True), ("models/logs/x", False), ("configs/eval.json", False), ("eval", False), ("d/.DS_Store", True),
])
def test_is_excluded(rel, excluded):
    assert is_excluded(rel) is excluded


def test_pack_is_deterministic_across_mtimes_umask_and_creation_order(tmp_path):
    first = make_bundle(tmp_path / "a" / "demo")
    old = os.umask(0o077)
    try:
        second = make_bundle(tmp_path / "b" / "demo", order=list(reversed(FILES)), extra=[])
    finally:
        os.umask(old)
    for i, path in enumerate(p for p in second.rglob("*") if p.is_file()):
        os.utime(path, (1_000_000 + i, 2_000_000_000 - i * 1000))
    os.chmod(second / "configs/inference.json", 0o600)
    one = pack(first, tmp_path / "one.zip")
    two = pack(second, tmp_path / "two.zip")
    assert one.sha256 == two.sha256 and one.size == two.size
    assert pack(first, tmp_path / "again.zip").sha256 == one.sha256


def test_pack_into_the_bundle_itself_leaves_the_archive_out(tmp_path):
    bundle = make_bundle(tmp_path / "demo")
    info = pack(bundle, bundle)
    with zipfile.ZipFile(info.path) as zf:
        assert "demo/demo_v0.1.0.zip" not in zf.namelist()
    again = pack(bundle, bundle)  # the first archive is now in the folder: still left out
    assert again.sha256 == info.sha256


def test_pack_refuses_what_it_cannot_name_or_read(tmp_path):
    with pytest.raises(FormatError, match="not a folder"):
        pack(tmp_path / "nope", tmp_path / "x.zip")
    (tmp_path / "bare").mkdir()
    with pytest.raises(FormatError, match="cannot read the version"):
        pack(tmp_path / "bare", tmp_path)


def test_pack_then_extract_round_trip(tmp_path):
    bundle = make_bundle(tmp_path / "demo")
    info = pack(bundle, tmp_path / "demo.zip")
    root = extract(info.path, tmp_path / "out")
    assert root == tmp_path / "out" / "demo"
    got = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert got == sorted(FILES)
    for rel, data in FILES.items():
        assert (root / rel).read_bytes() == (data if isinstance(data, bytes) else data.encode())
    assert os.access(root / "scripts/run.sh", os.X_OK)
    assert not os.access(root / "configs/inference.json", os.X_OK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "demo.zip", "out"]  # no staging left


@pytest.mark.parametrize("suffix, mode", [(".tar", "w"), (".tar.gz", "w:gz"), (".tar.bz2", "w:bz2"), (".tar.xz", "w:xz")])
def test_tar_archives_extract_with_links_inside_the_folder(tmp_path, suffix, mode):
    archive = tmp_path / f"b{suffix}"
    with tarfile.open(archive, mode) as tf:
        add_tar(tf, "b/models/w.bin", b"weights")
        add_tar(tf, "b/run.sh", b"#!/bin/sh\n", mode=0o755)
        add_tar(tf, "b/latest.bin", kind=tarfile.SYMTYPE, link="models/w.bin")
        add_tar(tf, "b/copy.bin", kind=tarfile.LNKTYPE, link="b/models/w.bin")
    root = extract(archive, tmp_path / "out")
    assert root == tmp_path / "out" / "b"
    assert (root / "latest.bin").is_symlink() and (root / "latest.bin").read_bytes() == b"weights"
    assert (root / "copy.bin").read_bytes() == b"weights" and not (root / "copy.bin").is_symlink()
    assert os.access(root / "run.sh", os.X_OK)


def test_extract_returns_the_destination_when_there_is_no_single_top_folder(tmp_path):
    archive = zip_of(tmp_path, {"a.txt": b"1", "b/c.txt": b"2"})
    assert extract(archive, tmp_path / "out") == tmp_path / "out"
    bare = zip_of(tmp_path, {"configs/metadata.json": b"{}"}, name="bare.zip")  # a bundle without its top folder
    assert extract(bare, tmp_path / "bare") == tmp_path / "bare"


def add_tar(tf, name, data=b"", *, kind=tarfile.REGTYPE, link="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.size = kind, link, mode, len(data)
    tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def zip_of(tmp_path, members: dict, name="evil.zip", links: dict | None = None):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
        for member, target in (links or {}).items():
            info = zipfile.ZipInfo(member)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def tar_of(tmp_path, build, name="evil.tar.gz"):
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tf:
        build(tf)
    return path


MALICIOUS = {
    "zip-dotdot": (lambda t: zip_of(t, {"b/ok.txt": b"1", "../evil": b"x"}), "../evil", "'..' component"),
    "zip-dotdot-inside": (lambda t: zip_of(t, {"b/../../evil": b"x"}), "b/../../evil", "'..' component"),
    "zip-backslash": (lambda t: zip_of(t, {"..\\evil": b"x"}), "..\\evil", "'..' component"),
    "zip-absolute": (lambda t: zip_of(t, {"/tmp/evil": b"x"}), "/tmp/evil", "absolute path"),
    "zip-drive": (lambda t: zip_of(t, {"C:/evil": b"x"}), "C:/evil", "drive letter"),
    "zip-symlink-out": (lambda t: zip_of(t, {}, links={"b/etc": "/etc"}), "b/etc", "outside the folder"),
    "tar-dotdot": (lambda t: tar_of(t, lambda tf: add_tar(tf, "../evil", b"x")), "../evil", "'..' component"),
    "tar-absolute": (lambda t: tar_of(t, lambda tf: add_tar(tf, "/etc/evil", b"x")), "/etc/evil", "absolute path"),
    "tar-symlink-etc": (lambda t: tar_of(t, lambda tf: add_tar(tf, "b/etc", kind=tarfile.SYMTYPE, link="/etc")),
                        "b/etc", "outside the folder"),
    "tar-symlink-up": (lambda t: tar_of(t, lambda tf: add_tar(tf, "b/up", kind=tarfile.SYMTYPE, link="../../x")),
                       "b/up", "outside the folder"),
    "tar-hardlink-out": (lambda t: tar_of(t, lambda tf: add_tar(tf, "b/pw", kind=tarfile.LNKTYPE, link="/etc/passwd")),
                         "b/pw", "hard link"),
    "tar-hardlink-up": (lambda t: tar_of(t, lambda tf: add_tar(tf, "b/pw", kind=tarfile.LNKTYPE, link="../x")),
                        "b/pw", "'..' component"),
    "tar-device": (lambda t: tar_of(t, lambda tf: add_tar(tf, "b/null", kind=tarfile.CHRTYPE)), "b/null", "device"),
    "tar-fifo": (lambda t: tar_of(t, lambda tf: add_tar(tf, "b/pipe", kind=tarfile.FIFOTYPE)), "b/pipe", "pipe"),
    # a link inside the folder, then a file written through it
    "tar-write-through-link": (lambda t: tar_of(t, lambda tf: (
        add_tar(tf, "b/sub/x", b"1"), add_tar(tf, "b/d", kind=tarfile.SYMTYPE, link="sub"), add_tar(tf, "b/d/f", b"2"))),
        "b/d/f", "through the link"),
    # a link that looks inside when written, and points out once a later link exists
    "tar-late-link": (lambda t: tar_of(t, lambda tf: (
        add_tar(tf, "l", kind=tarfile.SYMTYPE, link="e/../x"), add_tar(tf, "e", kind=tarfile.SYMTYPE, link="."))),
        "l", "resolves outside"),
    "zip-duplicate": (lambda t: zip_of(t, {"b/a": b"1", "b/./a": b"2"}), "b/./a", "appears twice"),
}


@pytest.mark.parametrize("case", list(MALICIOUS), ids=list(MALICIOUS))
def test_unsafe_members_are_refused_and_nothing_is_left(tmp_path, case):
    build, member, why = MALICIOUS[case]
    archive = build(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UnsafeArchiveError) as info:
        extract(archive, tmp_path / "out")
    err = info.value
    assert err.member == member and why in err.why
    assert f"member '{member}'" in str(err) and str(archive) in str(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no dest, no staging folder
    assert isinstance(err, FormatError) and isinstance(err, ZooError)


def test_a_zip_bomb_is_stopped_at_the_byte_limit(tmp_path, monkeypatch):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("b/zeros", b"\0" * (20 << 20))
        zf.writestr("b/after.txt", b"never")
    assert archive.stat().st_size < 64 << 10  # a few KB
    monkeypatch.setenv("BUNDLE_MAX_EXTRACT_BYTES", "1M")
    with pytest.raises(UnsafeArchiveError, match="beyond 1048576 bytes") as info:
        extract(archive, tmp_path / "out")
    assert info.value.member == "b/zeros"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


def test_a_tar_bomb_is_stopped_at_the_byte_limit(tmp_path):
    archive = tar_of(tmp_path, lambda tf: add_tar(tf, "b/zeros", b"\0" * (8 << 20)), name="bomb.tar.xz")
    with pytest.raises(UnsafeArchiveError, match="beyond 100000 bytes"):
        extract(archive, tmp_path / "out", max_bytes=100_000)
    assert not (tmp_path / "out").exists()


def test_too_many_members_are_refused(tmp_path):
    archive = zip_of(tmp_path, {f"b/{i}.txt": b"x" for i in range(5)})
    with pytest.raises(UnsafeArchiveError, match="limit of 3 members") as info:
        extract(archive, tmp_path / "out", max_files=3)
    assert info.value.member == "b/3.txt"
    tar = tar_of(tmp_path, lambda tf: [add_tar(tf, f"b/{i}", b"x") for i in range(5)])
    with pytest.raises(UnsafeArchiveError, match="limit of 3 members"):
        extract(tar, tmp_path / "out", max_files=3)


def test_not_an_archive_corrupt_archive_and_busy_destination(tmp_path, monkeypatch):
    (tmp_path / "x.zip").write_bytes(b"hello, not an archive")
    with pytest.raises(FormatError, match="neither a zip nor a tar"):
        extract(tmp_path / "x.zip", tmp_path / "out")
    good = zip_of(tmp_path, {"b/a.txt": b"a" * 1000}, name="good.zip")
    data = bytearray(good.read_bytes())
    data[40:60] = b"\xff" * 20  # inside the member's compressed data
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    with pytest.raises(FormatError, match="not a readable zip archive"):
        extract(tmp_path / "bad.zip", tmp_path / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "f").write_text("x")
    with pytest.raises(FormatError, match="not an empty folder"):
        extract(good, tmp_path / "busy")
    monkeypatch.setenv("BUNDLE_MAX_EXTRACT_BYTES", "lots")
    with pytest.raises(FormatError, match="BUNDLE_MAX_EXTRACT_BYTES='lots'"):
        extract(good, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extract_into_an_existing_empty_folder(tmp_path):
    good = zip_of(tmp_path, {"b/a.txt": b"a"}, name="good.zip")
    (tmp_path / "out").mkdir()
    assert extract(good, tmp_path / "out") == tmp_path / "out" / "b"
    shutil.rmtree(tmp_path / "out")
