"""The one trust rule (bundle.trust): a bundle in the download cache is untrusted unless the caller says
otherwise; any other folder is trusted unless the caller says otherwise. The same for Bundle, Config,
ConfigWorkflow, bundle.load, verify and the CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import bundle
from bundle import Bundle, Config, ConfigWorkflow
from bundle.errors import NetworkBuildError, UnsafeConfigError
from bundle.trust import default_trusted, is_download, resolve_trusted

REPO = Path(__file__).resolve().parents[1]
NAME = "digits_classification"
# a target that only trusted mode builds (not in the safe policy); it is no torch.nn.Module, so a trusted
# build fails after the fact with NetworkBuildError, which tells the two modes apart without running harm
UNSAFE_NETWORK = {"_target_": "collections.OrderedDict"}


def _bundle_with_unsafe_network(root: Path) -> Path:
    shutil.copytree(REPO / "zoo" / NAME, root, ignore=shutil.ignore_patterns("eval", "logs"))
    config = root / "configs" / "inference.json"
    data = json.loads(config.read_text())
    data["network_def"] = UNSAFE_NETWORK
    config.write_text(json.dumps(data))
    return root


@pytest.fixture
def cached_root() -> Path:
    """A bundle folder inside the download cache (where a download lands)."""
    return Path(os.environ["BUNDLE_CACHE_DIR"]) / "bundles" / NAME / "0.1.0"


def test_the_rule(tmp_path, cached_root):
    assert is_download(cached_root) and is_download(cached_root / "configs" / "inference.json")
    assert not is_download(tmp_path) and not is_download(None)
    assert default_trusted(tmp_path) and not default_trusted(cached_root)
    assert resolve_trusted(True, cached_root) and not resolve_trusted(False, tmp_path)
    assert resolve_trusted(None, tmp_path) and not resolve_trusted(None, cached_root)


def test_a_folder_of_yours_is_trusted_unless_you_say_otherwise(tmp_path):
    root = _bundle_with_unsafe_network(tmp_path / "b")
    assert Bundle(root).trusted and not Bundle(root, trusted=False).trusted
    with pytest.raises(NetworkBuildError, match="is a OrderedDict, not a torch.nn.Module"):
        bundle.load(root)  # built: trusted
    with pytest.raises(UnsafeConfigError):
        bundle.load(root, trusted=False)
    assert Config.load(root / "configs" / "inference.json").trusted


def test_a_download_is_untrusted_unless_you_say_otherwise(cached_root):
    root = _bundle_with_unsafe_network(cached_root)
    assert not Bundle(root).trusted and Bundle(root, trusted=True).trusted
    with pytest.raises(UnsafeConfigError):
        bundle.load(root)
    with pytest.raises(UnsafeConfigError):
        Bundle(root).build_network()
    with pytest.raises(NetworkBuildError, match="not a torch.nn.Module"):
        bundle.load(root, trusted=True)
    config = root / "configs" / "inference.json"
    assert not Config.load(config).trusted and Config.load(config, trusted=True).trusted
    assert not Bundle(root).load_config("inference").trusted
    assert not ConfigWorkflow(config_file=str(config), workflow_type="infer").trusted
    assert ConfigWorkflow(config_file=str(config), workflow_type="infer", trusted=True).trusted
    report = bundle.verify_bundle(root, weights=False)
    assert [(p.check, p.message) for p in report.problems] == [
        ("network", "safe mode does not allow the _target_ 'collections.OrderedDict'")]
    assert bundle.verify_bundle(root, weights=False, trusted=True).problems[0].message.endswith(
        "is a OrderedDict, not a torch.nn.Module")


def test_cli_safe_and_trusted_contradict(tmp_path, capsys):
    from bundle.cli import main

    code = main(["run", str(REPO / "zoo" / NAME), "inference", "--safe", "--trusted"])
    assert code != 0
    assert "--safe and --trusted contradict each other" in capsys.readouterr().err


def test_cli_runs_a_downloaded_bundle_in_safe_mode(cached_root, capsys):
    from bundle.cli import main

    root = _bundle_with_unsafe_network(cached_root)
    data = json.loads((root / "configs" / "inference.json").read_text())
    data["run"] = ["$@network_def"]
    (root / "configs" / "inference.json").write_text(json.dumps(data))
    assert main(["run", str(root), "inference"]) != 0
    assert "safe mode" in capsys.readouterr().err
