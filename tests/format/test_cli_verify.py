"""The verify commands: through ``bundle.cli.main`` (the entry point ``python -m bundle`` calls) in
this process, and in a subprocess where what gets imported matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from bundle.cli import main

from ..conftest import REPO
from .conftest import write_json


@pytest.fixture
def run(capsys):
    """``bundle ARGS`` in this process: (returncode, stdout, stderr)."""

    def run(*args: str) -> SimpleNamespace:
        code = main(list(args))
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


@pytest.fixture
def run_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "BUNDLE_DEBUG"}
    env.update(BUNDLE_CACHE_DIR=str(tmp_path / "cache"), HOME=str(tmp_path / "home"),
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]))

    def run(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-c", code] if code else [sys.executable, "-m", "bundle", *args]
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    return run


def test_help_lists_the_verify_commands(run):
    out = run("--help")
    assert out.returncode == 0
    for command in ("verify ", "verify_metadata ", "verify_net_in_out "):
        assert f"  {command}" in out.stdout


def test_clean_bundle_exits_0_in_a_subprocess(run_process, bundle_dir):
    out = run_process("verify", str(bundle_dir))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verified: 0 errors, 0 warnings in 9 checks" in out.stdout


def test_broken_bundle_exits_1_and_groups_problems(run, bundle_dir, metadata):
    metadata["version"] = "1.0.0"
    metadata["network_data_format"]["outputs"]["pred"]["num_channels"] = 4
    write_json(bundle_dir / "configs" / "metadata.json", metadata)
    (bundle_dir / "LICENSE").unlink()
    out = run("verify", str(bundle_dir))
    assert out.returncode == 1
    text = out.stdout
    assert "[changelog]\n  configs/metadata.json:4:5 (changelog): the changelog has no entry for version '1.0.0'" in text
    assert "[license]\n  LICENSE is missing\n      hint: " in text
    assert "[network]\n  configs/metadata.json:" in text and "'pred' says num_channels is 4" in text
    assert "FAILED: 3 errors, 0 warnings in 9 checks" in text


def test_no_net_no_weights_and_json(run, bundle_dir):
    (bundle_dir / "models" / "model.pt").write_bytes(b"garbage")
    out = run("verify", str(bundle_dir), "--no-net", "--no-weights", "--json_output")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)  # the JSON alone: no exit code printed after it
    assert report["ok"] and report["skipped"] == {"network": "not requested", "weights": "not requested"}
    out = run("verify", str(bundle_dir), "--no-net", "--json_output")
    assert out.returncode == 1
    report = json.loads(out.stdout)  # the JSON alone: no exit code printed after it
    (problem,) = report["problems"]
    assert problem["check"] == "weights" and problem["file"] == "models/model.pt"
    assert set(problem) == {"check", "severity", "message", "file", "line", "col", "config_id", "where", "hint"}


def test_net_id_and_device(run, bundle_dir):
    out = run("verify", str(bundle_dir), "--net_id", "network_dfe", "--device", "cpu")
    assert out.returncode == 1
    assert "any config defines no 'network_dfe'" in out.stdout


def test_missing_folder(run, tmp_path):
    out = run("verify", str(tmp_path / "none"))
    assert out.returncode == 1
    assert "does not exist" in out.stdout and "bundle init" in out.stdout


def test_verify_metadata_with_monai_arguments(run, bundle_dir, tmp_path):
    meta = bundle_dir / "configs" / "metadata.json"
    out = run("verify_metadata", "--meta_file", str(meta), "--filepath", str(tmp_path / "eval" / "schema.json"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "eval" / "schema.json").is_file()
    data = json.loads(meta.read_text())
    data["version"] = 2
    meta.write_text(json.dumps(data, indent=4))
    out = run("verify_metadata", "--meta_file", str(meta))
    assert out.returncode == 1
    assert "configs/metadata.json:3:5" in out.stderr and "'version' is an integer (2); it must be a string" in out.stderr


def test_verify_metadata_does_not_import_torch(run_process, bundle_dir):
    meta = bundle_dir / "configs" / "metadata.json"
    code = textwrap.dedent(f"""
        import sys
        from bundle.cli import main
        code = main(["verify_metadata", "--meta_file", {str(meta)!r}])
        print("exit", code, [m for m in sys.modules if m.split(".")[0] == "torch"][:1])
    """)
    out = run_process(code=code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "exit 0 []"


def test_verify_net_in_out_with_monai_arguments(run, bundle_dir):
    meta = str(bundle_dir / "configs" / "metadata.json")
    config = str(bundle_dir / "configs" / "inference.json")
    out = run("verify_net_in_out", "network_def", "--meta_file", meta, "--config_file", config, "--device", "cpu",
              "--n", "2")
    assert out.returncode == 0, out.stderr
    assert "network_def: inputs and outputs match the metadata" in out.stdout
    out = run("verify_net_in_out", "--meta_file", meta, "--config_file", config, "--device", "cpu",
              "--_meta_::network_data_format::outputs::pred::num_channels", "3")
    assert out.returncode == 1
    assert "'pred' says num_channels is 3" in out.stderr
