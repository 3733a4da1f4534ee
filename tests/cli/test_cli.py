"""The command line, run as a user runs it: ``python -m bundle`` in a subprocess, in a scratch folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("torch", "onnx", "onnxruntime", "huggingface_hub")


@pytest.fixture
def env(tmp_path):
    """The environment for the subprocess: caches in tmp_path, no BUNDLE_DEBUG."""
    env = {k: v for k, v in os.environ.items() if k != "BUNDLE_DEBUG"}
    env["BUNDLE_CACHE_DIR"] = str(tmp_path / "cache")
    env["HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture
def run(tmp_path, env):
    def run(*args: str, extra_env: dict | None = None, code: str | None = None) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "bundle", *args]
        return subprocess.run(
            argv, cwd=tmp_path, env={**env, **(extra_env or {})}, capture_output=True, text=True, timeout=120
        )

    return run


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(
        textwrap.dedent(
            """
            {
              "features": 2,
              "network": {"_target_": "torch.nn.Linear", "in_features": "@features", "out_features": 3},
              "channels": [8, 16],
              "ratio": "$1 / 0"
            }
            """
        )
    )
    return path.name


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"], []], ids=["--help", "-h", "help", "no-args"])
def test_help_lists_the_commands(run, args):
    out = run(*args)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: bundle COMMAND")
    for command in ("audit", "show", "resolve"):
        assert f"\n  {command} " in out.stdout
    assert out.stderr == ""


def test_help_imports_nothing_heavy(run):
    code = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        import bundle.cli
        with contextlib.redirect_stdout(io.StringIO()) as text:
            code = bundle.cli.main(["--help"])
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        print(json.dumps({{"code": code, "heavy": heavy, "printed": "resolve" in text.getvalue()}}))
        """
    )
    out = run(code=code)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"code": 0, "heavy": [], "printed": True}


def test_python_m_bundle_help_imports_nothing_heavy(run):
    code = textwrap.dedent(
        f"""
        import contextlib, io, runpy, sys
        sys.argv = ["bundle", "--help"]
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                runpy.run_module("bundle", run_name="__main__", alter_sys=True)
            except SystemExit as exit:
                assert exit.code == 0, exit.code
        print(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}))
        """
    )
    out = run(code=code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_import_bundle_imports_no_torch(run):
    code = textwrap.dedent(
        f"""
        import sys
        import bundle
        from bundle import BundleError
        assert bundle.__version__
        print(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}))
        """
    )
    out = run(code=code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_version(run):
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("bundle ")


def test_unknown_command_exits_2_with_a_close_match(run):
    out = run("shwo", "net.json")
    assert out.returncode == 2
    assert "bundle: unknown command 'shwo'; did you mean 'show'?" in out.stderr
    assert "bundle --help" in out.stderr
    assert out.stdout == ""


def test_show_with_overrides(run, config_file):
    out = run("show", config_file, "--id", "network", "--network::out_features", "5", "--+network::bias=False")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "_target_": "torch.nn.Linear", "in_features": "@features", "out_features": 5, "bias": False,
    }


@pytest.mark.parametrize(
    "override, expected",
    [
        pytest.param(["--channels", "[16, 32]"], [16, 32], id="list"),
        pytest.param(["--channels", "None"], [8, 16], id="None-is-ignored-as-in-MONAI"),
        pytest.param(["--channels=null"], "null", id="null-is-text-as-in-MONAI"),
        pytest.param(["--channels=False"], False, id="False"),
        pytest.param(["--channels", "/data/x"], "/data/x", id="string"),
    ],
)
def test_show_override_values(run, config_file, override, expected):
    out = run("show", config_file, "--id", "channels", *override)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == expected


def test_show_yaml(run, config_file):
    out = run("show", config_file, "--id", "channels", "--format", "yaml")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "- 8\n- 16\n"


def test_unknown_override_exits_1_with_the_message_and_no_traceback(run, config_file):
    out = run("show", config_file, "--network::out_featurs", "5")
    assert out.returncode == 1
    assert out.stderr.startswith("error: <overrides>: id 'network::out_featurs' is not in the config\n")
    assert "did you mean 'network::out_features'" in out.stderr
    assert "'+network::out_featurs'" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


def test_bundle_debug_shows_the_traceback(run, config_file):
    out = run("show", config_file, "--network::out_featurs", "5", extra_env={"BUNDLE_DEBUG": "1"})
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr
    assert "MissingIdError" in out.stderr
    assert "error: <overrides>: id 'network::out_featurs' is not in the config" in out.stderr


def test_override_without_value(run, config_file):
    out = run("show", config_file, "--channels")
    assert out.returncode == 1
    assert "error: <command line>: override '--channels' has no value" in out.stderr
    assert "Traceback" not in out.stderr


def test_resolve_builds_a_linear(run, config_file):
    out = run("resolve", config_file, "--id", "network", "--features", "4")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "network: torch.nn.modules.linear.Linear",
        "Linear(in_features=4, out_features=3, bias=True)",
    ]


def test_resolve_error_names_the_place_and_the_cause(run, config_file):
    out = run("resolve", config_file, "--id", "ratio")
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert lines[0] == (
        f"error: {config_file}:6:3: config id 'ratio': expression '$1 / 0' raised ZeroDivisionError: division by zero"
    )
    assert not any("caused by" in line for line in lines)  # the message already quotes the cause
    assert "  (set BUNDLE_DEBUG=1 for the full traceback)" in lines
    assert "Traceback" not in out.stderr


def test_missing_config_file(run):
    out = run("show", "nope.json")
    assert out.returncode == 1
    assert "error: config file 'nope.json' does not exist" in out.stderr
    assert "Traceback" not in out.stderr
