"""A path given as a bundle folder that is a file, or a misspelled folder: said as such, via run, verify and the API."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from bundle.cli import main
from bundle.errors import BundleFileNotFoundError, FormatError
from bundle.format.bundle import Bundle

from ..conftest import REPO


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    """A folder holding a copy of a zoo bundle; the current folder."""
    shutil.copytree(REPO / "zoo" / "digits_classification", tmp_path / "digits_classification")
    (tmp_path / "notes.md").write_text("# notes\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(capsys):
    def run(*args: str) -> SimpleNamespace:
        code = main(list(args))
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, out=out.out + out.err)

    return run


def test_api_config_file_is_a_file_and_the_bundle_folder_is_suggested(zoo):
    with pytest.raises(FormatError) as info:
        Bundle("digits_classification/configs/inference.json")
    assert "'digits_classification/configs/inference.json' is a file, not a bundle folder" in str(info.value)
    assert info.value.hint == "give the bundle folder 'digits_classification'"


def test_api_misspelled_folder_gets_did_you_mean(zoo):
    with pytest.raises(BundleFileNotFoundError) as info:
        Bundle("digit_classification")
    assert "does not exist" in str(info.value)
    assert "did you mean 'digits_classification'?" in info.value.hint


@pytest.mark.parametrize("command", ["run", "verify"])
def test_cli_file_given_as_bundle_folder(zoo, cli, command):
    args = [command, "digits_classification/configs/inference.json"] + (["inference"] if command == "run" else [])
    result = cli(*args)
    assert result.returncode != 0
    assert "is a file, not a bundle folder" in result.out and "does not exist" not in result.out
    assert "digits_classification'" in result.out  # the folder above the config


@pytest.mark.parametrize("command", ["run", "verify"])
def test_cli_misspelled_folder(zoo, cli, command):
    result = cli(command, "digits_clasification", *(["inference"] if command == "run" else []))
    assert result.returncode != 0
    assert "does not exist" in result.out and "did you mean" in result.out and "digits_classification'" in result.out


def test_run_of_a_plain_file_says_it_is_a_file(zoo, cli):
    result = cli("run", "notes.md")
    assert result.returncode != 0
    assert "'notes.md' is a file, not a bundle folder" in result.out


def test_bundle_load_of_a_config_file_or_a_misspelled_folder(zoo):
    from bundle.registry.load import locate

    with pytest.raises(FormatError, match="is a file, not a bundle folder") as info:
        locate("digits_classification/configs/inference.json")
    assert info.value.hint == "give the bundle folder 'digits_classification'"
    with pytest.raises(BundleFileNotFoundError) as info:
        locate("./digits_clasification")
    assert "did you mean" in info.value.hint and "digits_classification'" in info.value.hint
