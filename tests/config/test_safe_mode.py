"""Safe mode through the engine: what the safety module checks, wired into parsing and resolving."""

from __future__ import annotations

import pytest

from bundle.config.engine import Config
from bundle.config.parser import ConfigParser
from bundle.config.safety import SafePolicy
from bundle.errors import UnsafeConfigError


def test_allowed_import_alias_binds_in_safe_mode():
    cfg = Config({"imports": ["$import torch.distributed as dist"], "r": "$dist.is_initialized()"}, trusted=False)
    assert cfg.resolve("r") is False


def test_dotted_path_leaving_an_allowed_package_is_refused_before_the_call():
    parser = ConfigParser({"bad": {"_target_": "torch.nn.functional.torch.load", "f": "x"}}, trusted=False)
    with pytest.raises(UnsafeConfigError, match="torch.load") as info:
        parser.get_parsed_content("bad")
    assert info.value.config_id == "bad::_target_"


def test_target_outside_the_policy_is_refused_and_not_imported():
    parser = ConfigParser({"x": {"_target_": "os.system", "command": "echo hi"}}, trusted=False)
    with pytest.raises(UnsafeConfigError, match="os.system"):
        parser.get_parsed_content("x")


def test_messages_show_references_as_written():
    cfg = Config({"net": {"_target_": "torch.nn.Identity"}, "leak": "$@net.__class__"}, trusted=False)
    with pytest.raises(UnsafeConfigError) as info:
        cfg.resolve("leak")
    assert "@net.__class__" in str(info.value)
    assert "__ref_" not in str(info.value)
    assert info.value.config_id == "leak"


def test_import_refused_by_default_allowed_by_policy():
    data = {"imports": ["$import math"], "v": "$math.floor(2.5)"}
    with pytest.raises(UnsafeConfigError, match="math"):
        Config(data, trusted=False).resolve("v")
    assert Config(data, trusted=False, policy=SafePolicy(imports=("math",))).resolve("v") == 2


def test_trusted_config_runs_what_safe_mode_refuses():
    data = {"imports": ["$import math"], "v": "$math.floor(2.5)"}
    assert Config(data).resolve("v") == 2


def test_macro_file_outside_the_bundle_is_refused(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text('{"secret": 1}')
    bundle = tmp_path / "b" / "configs"
    bundle.mkdir(parents=True)
    cfg_file = bundle / "c.json"
    cfg_file.write_text('{"x": "%' + str(outside) + '::secret"}')
    assert Config.load(cfg_file).get("x") == 1
    with pytest.raises(UnsafeConfigError, match="outside the bundle folder"):
        Config.load(cfg_file, trusted=False).get("x")
