"""fetch: one verified file over HTTP from a real local server with faults, or from a local path."""

from __future__ import annotations

import hashlib
import os
import pickle
import socket

import pytest

from bundle.errors import DownloadError, IntegrityError, ZooError
from bundle.registry.fetch import fetch, sha256_file

DATA = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: more than one read chunk of the server
SHA = hashlib.sha256(DATA).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_plain_download_is_verified_and_leaves_no_partial_file(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA)
    dest = fetch(url, tmp_path / "out" / "m.zip", sha256=SHA, size=len(DATA))
    assert dest == tmp_path / "out" / "m.zip"
    assert dest.read_bytes() == DATA
    assert leftovers(dest.parent) == ["m.zip"]
    [request] = local_server.requests("/m.zip")
    assert request.method == "GET" and request.range is None
    assert request.headers["accept-encoding"] == "identity"
    assert request.headers["user-agent"].startswith("bundle/")


def test_dropped_connection_is_resumed_with_a_range_request(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA, drop_after=300_000)
    dest = fetch(url, tmp_path / "m.zip", sha256=SHA)
    assert dest.read_bytes() == DATA
    assert [r.range for r in local_server.requests("/m.zip")] == [None, "bytes=300000-"]


def test_each_drop_resumes_where_the_last_one_stopped(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA, drop_after=100_000, drop_times=3)
    assert fetch(url, tmp_path / "m.zip", sha256=SHA).read_bytes() == DATA
    ranges = [r.range for r in local_server.requests("/m.zip")]
    assert ranges == [None, "bytes=100000-", "bytes=200000-", "bytes=300000-"]


def test_drops_beyond_the_retries_fail_and_keep_the_partial_file_for_later(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA, drop_after=1000, drop_times=10)
    with pytest.raises(DownloadError, match="after 2000 bytes") as info:
        fetch(url, tmp_path / "m.zip", sha256=SHA, retries=1)
    assert info.value.url == url
    assert not (tmp_path / "m.zip").exists()
    assert (tmp_path / "m.zip.part").stat().st_size == 2000
    # a later call resumes from what is there (it can check the result: it knows the sha256)
    local_server.add("/m.zip", DATA)
    assert fetch(url, tmp_path / "m.zip", sha256=SHA).read_bytes() == DATA
    assert local_server.requests("/m.zip")[-1].range == "bytes=2000-"


def test_server_without_range_support_restarts_from_zero(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA, drop_after=5000, ranges=False)
    assert fetch(url, tmp_path / "m.zip", sha256=SHA).read_bytes() == DATA
    # it asked for the rest, got the whole file (200) and started again: the bytes are still right
    assert [r.range for r in local_server.requests("/m.zip")] == [None, "bytes=5000-"]


@pytest.mark.parametrize("statuses", [[500, 500], [503], [429, 502, 504]], ids=["500,500", "503", "429,502,504"])
def test_server_errors_are_retried(local_server, tmp_path, statuses):
    url = local_server.add("/m.zip", DATA, statuses=statuses, headers={"Retry-After": "0"})
    assert fetch(url, tmp_path / "m.zip", sha256=SHA).read_bytes() == DATA
    assert len(local_server.requests("/m.zip")) == len(statuses) + 1


def test_server_errors_beyond_the_retries_are_a_download_error(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA, statuses=[500] * 5)
    with pytest.raises(DownloadError, match="HTTP 500") as info:
        fetch(url, tmp_path / "m.zip", retries=2)
    assert info.value.status == 500
    assert "try again later" in info.value.hint
    assert len(local_server.requests("/m.zip")) == 3
    assert leftovers(tmp_path) == []


def test_not_found_is_a_download_error_saying_the_source_does_not_have_it(local_server, tmp_path):
    url = local_server.url("/missing.zip")
    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path / "m.zip")
    err = info.value
    assert err.status == 404 and err.url == url
    assert url in str(err) and "404" in str(err)
    assert "does not have this file" in err.hint
    assert len(local_server.requests("/missing.zip")) == 1  # a 404 is not retried


def test_wrong_bytes_are_an_integrity_error_and_nothing_is_left(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA, wrong_bytes=True)
    with pytest.raises(IntegrityError) as info:
        fetch(url, tmp_path / "m.zip", sha256=SHA, size=len(DATA))
    err = info.value
    assert err.url == url and err.expected == SHA and err.kind == "sha256"
    assert err.actual == hashlib.sha256(bytes(255 - b for b in DATA)).hexdigest()
    assert url in str(err) and SHA in str(err) and err.actual in str(err)
    assert leftovers(tmp_path) == []
    copy = pickle.loads(pickle.dumps(err))  # errors cross process boundaries (multiprocessing, torchrun)
    assert (type(copy), copy.url, copy.expected, copy.actual, str(copy)) == (IntegrityError, url, SHA, err.actual, str(err))


def test_a_wrong_size_is_refused_before_the_body_is_read(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA)
    with pytest.raises(IntegrityError, match="wrong size") as info:
        fetch(url, tmp_path / "m.zip", size=1000)
    assert (info.value.expected, info.value.actual) == (1000, len(DATA))
    assert leftovers(tmp_path) == []


def test_a_failed_download_keeps_the_old_destination_whole(local_server, tmp_path):
    dest = tmp_path / "m.zip"
    dest.write_bytes(b"old")
    with pytest.raises(IntegrityError):
        fetch(local_server.add("/m.zip", DATA, wrong_bytes=True), dest, sha256=SHA)
    assert dest.read_bytes() == b"old"


def test_a_slow_server_times_out_with_a_hint(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA, delay=1.5)
    with pytest.raises(DownloadError, match="timed out") as info:
        fetch(url, tmp_path / "m.zip", timeout=0.2, retries=0)
    assert "BUNDLE_HTTP_TIMEOUT" in info.value.hint and info.value.status is None


def test_a_stalled_transfer_times_out_after_its_resumes(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA, chunk_delay=1.5, chunk_size=100_000)
    with pytest.raises(DownloadError, match="timed out"):
        fetch(url, tmp_path / "m.zip", timeout=(1, 0.2), retries=1)
    assert len(local_server.requests("/m.zip")) == 2


def test_the_timeout_comes_from_the_environment(local_server, tmp_path, monkeypatch):
    monkeypatch.setenv("BUNDLE_HTTP_TIMEOUT", "0.2")
    with pytest.raises(DownloadError, match=r"timed out \(connect 0.2 s, read 0.2 s\)"):
        fetch(local_server.add("/m.zip", DATA, delay=1.5), tmp_path / "m.zip", retries=0)
    monkeypatch.setenv("BUNDLE_HTTP_TIMEOUT", "fast")
    with pytest.raises(ZooError, match="BUNDLE_HTTP_TIMEOUT='fast' is not a timeout"):
        fetch(local_server.url("/m.zip"), tmp_path / "m.zip")


def test_a_partial_file_from_an_earlier_run_is_resumed(local_server, tmp_path):
    (tmp_path / "m.zip.part").write_bytes(DATA[:7000])
    url = local_server.add("/m.zip", DATA)
    assert fetch(url, tmp_path / "m.zip", sha256=SHA).read_bytes() == DATA
    assert [r.range for r in local_server.requests("/m.zip")] == ["bytes=7000-"]


def test_a_partial_file_is_not_resumed_when_nothing_could_check_the_result(local_server, tmp_path):
    (tmp_path / "m.zip.part").write_bytes(b"x" * 7000)
    url = local_server.add("/m.zip", DATA)
    assert fetch(url, tmp_path / "m.zip").read_bytes() == DATA
    assert [r.range for r in local_server.requests("/m.zip")] == [None]


def test_a_stale_partial_file_of_other_bytes_is_downloaded_again_whole(local_server, tmp_path, caplog):
    (tmp_path / "m.zip.part").write_bytes(b"x" * 7000)
    url = local_server.add("/m.zip", DATA)
    assert fetch(url, tmp_path / "m.zip", sha256=SHA).read_bytes() == DATA
    assert [r.range for r in local_server.requests("/m.zip")] == ["bytes=7000-", None]
    assert "from the start" in caplog.text


def test_a_complete_partial_file_is_finished_without_the_body(local_server, tmp_path):
    (tmp_path / "m.zip.part").write_bytes(DATA)
    url = local_server.add("/m.zip", DATA)
    assert fetch(url, tmp_path / "m.zip", sha256=SHA).read_bytes() == DATA
    assert [r.range for r in local_server.requests("/m.zip")] == [f"bytes={len(DATA)}-"]  # answered 416


def test_the_partial_file_goes_where_the_caller_says(local_server, tmp_path):
    url = local_server.add("/m.zip", DATA, drop_after=10, drop_times=10)
    with pytest.raises(DownloadError):
        fetch(url, tmp_path / "m.zip", retries=0, part=tmp_path / "tmp" / "abc.part")
    assert (tmp_path / "tmp" / "abc.part").stat().st_size == 10
    assert not (tmp_path / "m.zip.part").exists()


def test_request_headers_are_sent(local_server, tmp_path):
    url = local_server.add("/m.zip", b"x")
    fetch(url, tmp_path / "m.zip", headers={"Authorization": "Bearer abc"})
    assert local_server.requests("/m.zip")[0].headers["authorization"] == "Bearer abc"


def test_connection_refused_is_a_download_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="connection failed") as info:
        fetch(f"http://127.0.0.1:{port}/m.zip", tmp_path / "m.zip", retries=0)
    assert "BUNDLE_OFFLINE" in info.value.hint


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_local_files_are_copied_with_the_same_checks(tmp_path, as_url):
    source = tmp_path / "src.zip"
    source.write_bytes(DATA)
    url = source.as_uri() if as_url else str(source)
    assert fetch(url, tmp_path / "out" / "m.zip", sha256=SHA, size=len(DATA)).read_bytes() == DATA
    with pytest.raises(IntegrityError):
        fetch(url, tmp_path / "bad" / "m.zip", sha256="0" * 64)
    assert leftovers(tmp_path / "bad") == []
    with pytest.raises(DownloadError, match="no such file"):
        fetch(str(tmp_path / "nope.zip"), tmp_path / "m.zip")


def test_bad_arguments(tmp_path):
    with pytest.raises(ZooError, match="not a sha256"):
        fetch("x", tmp_path / "m", sha256="abc")
    with pytest.raises(DownloadError, match="unsupported URL scheme 'ftp'"):
        fetch("ftp://example.org/m.zip", tmp_path / "m")


def test_progress_bar_is_forced_on_or_off(local_server, tmp_path, capsys, monkeypatch):
    url = local_server.add("/m.zip", DATA)
    fetch(url, tmp_path / "a", progress=True)
    assert "m.zip" not in capsys.readouterr().out  # never on stdout
    monkeypatch.setenv("BUNDLE_NO_PROGRESS", "1")
    fetch(url, tmp_path / "b", progress=True)
    assert capsys.readouterr().err == ""


def test_sha256_file(tmp_path):
    (tmp_path / "f").write_bytes(DATA)
    assert sha256_file(tmp_path / "f") == SHA


def test_local_server_answers_ranges_head_and_unknown_paths(local_server):
    import requests

    url = local_server.add("/f", b"0123456789")
    assert requests.get(url, headers={"Range": "bytes=3-5"}).content == b"345"
    r = requests.get(url, headers={"Range": "bytes=7-"})
    assert (r.status_code, r.content, r.headers["Content-Range"]) == (206, b"789", "bytes 7-9/10")
    assert requests.get(url, headers={"Range": "bytes=10-"}).status_code == 416
    head = requests.head(url)
    assert (head.status_code, head.headers["Content-Length"], head.content) == (200, "10", b"")
    assert requests.get(local_server.url("/nothing")).status_code == 404
    assert [r.method for r in local_server.requests("/f")] == ["GET", "GET", "GET", "HEAD"]
    assert os.path.basename(url) == "f"
