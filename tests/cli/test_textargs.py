"""The argument parser of the registry commands: text stays text, options by annotation, clear usage errors."""

from __future__ import annotations

import pytest

from bundle.cli import main
from bundle.cli.textargs import UsageError, call_with_text_args


def command(name: str, version: str | None = None, *, keep: int | None = None, days: float | None = None,
            dry_run: bool = False, progress: bool | None = None) -> dict:
    """A command for the tests."""
    return {"name": name, "version": version, "keep": keep, "days": days, "dry_run": dry_run, "progress": progress}


def test_text_stays_text_and_options_follow_annotations():
    got = call_with_text_args(command, ["x", "0.10", "--keep", "2", "--days=1.5", "--dry-run", "--noprogress"], "t")
    assert got == {"name": "x", "version": "0.10", "keep": 2, "days": 1.5, "dry_run": True, "progress": False}
    assert call_with_text_args(command, ["--name", "y", "--progress"], "t")["progress"] is True
    assert call_with_text_args(command, ["y", "--no_progress", "--dry_run=false"], "t")["dry_run"] is False


@pytest.mark.parametrize("args, message", [
    (["x", "--kep", "1"], "unknown option --kep; did you mean 'keep'?"),
    (["x", "--keep"], "--keep needs a value"),
    (["x", "--keep", "many"], "--keep takes a whole number, not 'many'"),
    ([], "missing NAME"),
    (["x", "1", "extra"], "too many arguments: extra"),
])
def test_usage_errors(args, message):
    with pytest.raises(UsageError, match=message):
        call_with_text_args(command, args, "t")


def test_help_and_exit_status(capsys):
    assert main(["info", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: bundle info REF")
    assert main(["versions"]) == 2
    assert "missing NAME" in capsys.readouterr().err
