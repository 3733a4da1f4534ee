"""Real sites: ``bundle fl server`` with TLS and a site's ``bundle fl client`` on its own data folder
(``--data``), as separate processes on 127.0.0.1, through the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

pytest.importorskip("flwr")
torch = pytest.importorskip("torch")

from tests.conftest import REPO  # noqa: E402
from tests.fl.certs import make_certificates  # noqa: E402

DIGITS = REPO / "zoo" / "digits_classification"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_and_a_site_with_its_own_data_over_tls(tmp_path):
    tls = make_certificates(tmp_path / "certs")
    # the site's own folder: the digits table with 300 of its training rows
    lines = (DIGITS / "data" / "digits.csv").read_text().splitlines()
    train = [row for row in lines[1:] if row.split(",")[1] == "train"][:300]
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "digits.csv").write_text(
        "\n".join([lines[0], *train, *[r for r in lines[1:] if r.split(",")[1] != "train"]]) + "\n")
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "bundle", "fl", "server", str(DIGITS), "--clients", "1", "--rounds", "1",
         "--host", "127.0.0.1", "--port", str(port), "--ssl_certfile", tls["ssl-certfile"],
         "--ssl_keyfile", tls["ssl-keyfile"], "--ssl_ca_certfile", tls["ssl-ca-certfile"],
         "--summary", str(tmp_path / "summary.json"), "--output", str(tmp_path / "global")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    site = subprocess.Popen(
        [sys.executable, "-m", "bundle", "fl", "client", str(DIGITS), "--superlink", f"127.0.0.1:{port}",
         "--root_certificates", tls["ssl-ca-certfile"], "--data", str(tmp_path / "site"), "--name", "hospital-a"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out, _ = server.communicate(timeout=240)
        assert server.returncode == 0, out[-3000:]
        summary = json.loads((tmp_path / "summary.json").read_text())
        first = {r["round"]: r for r in summary["rounds"]}[1]
        assert list(first["clients"]) == ["hospital-a"]
        assert first["clients"]["hospital-a"]["num-examples"] == 300  # it trained on its own folder
        assert (tmp_path / "global" / "models" / "model.pt").is_file()
        # a site's SuperNode stays up for the next run until it is stopped
        assert site.poll() is None
        site.send_signal(signal.SIGTERM)
        site_out, _ = site.communicate(timeout=60)
        assert site.returncode == 130, site_out[-3000:]
        assert "insecure" not in site_out.lower()
    finally:
        for p in (server, site):
            if p.poll() is None:
                p.kill()
                p.wait()
