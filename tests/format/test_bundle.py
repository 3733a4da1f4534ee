"""``Bundle``: opening a folder, metadata, config lookup and loading, weights, scripts, large files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from bundle.errors import ConfigSyntaxError, FormatError
from bundle.format import Bundle

from .conftest import save_weights, write_json


# --- opening ----------------------------------------------------------------------------------


def test_missing_folder_says_so_and_how_to_make_one(tmp_path):
    with pytest.raises(FormatError) as info:
        Bundle(tmp_path / "nope")
    assert "does not exist" in info.value.message
    assert "bundle init" in info.value.hint


def test_folder_without_configs(tmp_path):
    (tmp_path / "b").mkdir()
    with pytest.raises(FormatError, match="configs/ is missing") as info:
        Bundle(tmp_path / "b")
    assert "bundle init" in info.value.hint


def test_folder_without_metadata(tmp_path):
    (tmp_path / "b" / "configs").mkdir(parents=True)
    with pytest.raises(FormatError, match="configs/metadata.json is missing"):
        Bundle(tmp_path / "b")


def test_a_file_is_not_a_bundle(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FormatError, match="is a file"):
        Bundle(tmp_path / "f")


def test_format_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        Bundle(tmp_path / "nope")


# --- what it is ---------------------------------------------------------------------------------


def test_name_version_and_metadata(bundle_dir):
    b = Bundle(bundle_dir)
    assert b.root == bundle_dir.resolve()
    assert b.name == "tiny_bundle"
    assert b.display_name == "Tiny segmentation"
    assert b.version == "0.2.0"
    assert b.metadata["license"] == "Apache-2.0"
    assert b == Bundle(str(bundle_dir)) and hash(b) == hash(Bundle(bundle_dir))


def test_metadata_is_read_on_first_use(bundle_dir):
    b = Bundle(bundle_dir)
    (bundle_dir / "configs" / "metadata.json").write_text('{"version": "9.9.9"}')
    assert b.version == "9.9.9"


def test_bad_metadata_json_names_line_and_column(bundle_dir):
    (bundle_dir / "configs" / "metadata.json").write_text('{\n  "version": "1",\n}\n')
    with pytest.raises(ConfigSyntaxError) as info:
        Bundle(bundle_dir).metadata
    assert info.value.location.line == 3


def test_metadata_must_be_an_object(bundle_dir):
    (bundle_dir / "configs" / "metadata.json").write_text("[1, 2]")
    with pytest.raises(FormatError, match="not a JSON object"):
        Bundle(bundle_dir).metadata


def test_missing_version(bundle_dir):
    write_json(bundle_dir / "configs" / "metadata.json", {"task": "x"})
    with pytest.raises(FormatError, match='no "version"'):
        Bundle(bundle_dir).version


# --- configs ------------------------------------------------------------------------------------


def test_config_names_exclude_metadata(bundle_dir):
    assert Bundle(bundle_dir).config_names() == ["evaluate", "inference", "train"]


@pytest.mark.parametrize("name,expected", [("inference", "inference.json"), ("train", "train.yaml"),
                                           ("train.yaml", "train.yaml")])
def test_config_path_finds_any_suffix(bundle_dir, name, expected):
    assert Bundle(bundle_dir).config_path(name).name == expected


def test_config_path_yml(bundle_dir):
    (bundle_dir / "configs" / "multi_gpu_train.yml").write_text("a: 1\n")
    assert Bundle(bundle_dir).config_path("multi_gpu_train").name == "multi_gpu_train.yml"


def test_missing_config_lists_the_configs(bundle_dir):
    with pytest.raises(FormatError) as info:
        Bundle(bundle_dir).config_path("infer")
    assert "no config 'infer'" in info.value.message
    assert "evaluate, inference, train" in info.value.message
    assert "did you mean 'inference'" in info.value.hint


def test_config_with_two_suffixes_is_an_error(bundle_dir):
    (bundle_dir / "configs" / "inference.yaml").write_text("a: 1\n")
    with pytest.raises(FormatError, match="exists twice"):
        Bundle(bundle_dir).config_path("inference")


def test_load_config_merges_in_order_with_meta_and_overrides(bundle_dir):
    cfg = Bundle(bundle_dir).load_config("train", "evaluate", overrides={"max_epochs": 5})
    assert cfg.get("epochs") == "@max_epochs"
    assert cfg.resolve("epochs") == 5
    assert cfg.resolve("_meta_::version") == "0.2.0"
    assert cfg.where("max_epochs").file == "<overrides>"
    assert cfg.where("optimizer").file == str(bundle_dir.resolve() / "configs" / "train.yaml")


def test_load_config_resolves_the_network(bundle_dir):
    import torch

    net = Bundle(bundle_dir).load_config("inference").resolve("network_def")
    assert isinstance(net, torch.nn.Conv3d)


def test_load_config_needs_a_name(bundle_dir):
    with pytest.raises(FormatError, match="no config name"):
        Bundle(bundle_dir).load_config()


def test_load_config_in_safe_mode(bundle_dir):
    from bundle.errors import UnsafeConfigError

    (bundle_dir / "configs" / "evil.json").write_text(json.dumps({"x": "$__import__('os').getcwd()"}))
    with pytest.raises(UnsafeConfigError):
        Bundle(bundle_dir).load_config("evil", trusted=False).resolve("x")


# --- weights ------------------------------------------------------------------------------------


def test_load_weights_gives_a_state_dict_that_fits(bundle_dir):
    b = Bundle(bundle_dir)
    state = b.load_weights()
    net = b.load_config("inference").resolve("network_def")
    net.load_state_dict(state)
    assert b.weights_path() == bundle_dir.resolve() / "models" / "model.pt"


@pytest.mark.parametrize("name", ["../x.pt", "/etc/passwd", ""])
def test_weights_path_stays_in_models(bundle_dir, name):
    with pytest.raises(FormatError, match="under models/"):
        Bundle(bundle_dir).weights_path(name)


def test_missing_weights(make_bundle):
    root = make_bundle(weights=False)
    with pytest.raises(FormatError, match="does not exist") as info:
        Bundle(root).load_weights()
    assert "train the bundle" in info.value.hint


def test_missing_weights_listed_in_large_files_say_how_to_fetch(make_bundle):
    root = make_bundle(weights=False)
    (root / "large_files.yml").write_text('large_files:\n- path: "models/model.pt"\n  url: "https://example.org/m.pt"\n')
    with pytest.raises(FormatError) as info:
        Bundle(root).load_weights()
    assert "https://example.org/m.pt" in info.value.hint
    assert "download_large_files" in info.value.hint


def test_weights_that_are_not_a_state_dict(bundle_dir):
    import torch

    torch.save([1, 2, 3], bundle_dir / "models" / "model.pt")
    with pytest.raises(FormatError, match="not a state dict"):
        Bundle(bundle_dir).load_weights()


def test_nested_checkpoint_needs_its_key(bundle_dir):
    import torch

    state = torch.nn.Conv3d(1, 2, 3, padding=1).state_dict()
    torch.save({"model": state, "epoch": 3}, bundle_dir / "models" / "model.pt")
    with pytest.raises(FormatError) as info:
        Bundle(bundle_dir).load_weights()
    assert "key='model'" in info.value.hint
    assert set(Bundle(bundle_dir).load_weights(key="model")) == {"weight", "bias"}


def test_weights_that_need_pickle_are_refused(bundle_dir):
    import torch

    torch.save({"weight": torch.zeros(1), "extra": _Unpicklable()}, bundle_dir / "models" / "model.pt")
    with pytest.raises(FormatError, match="weights_only=True"):
        Bundle(bundle_dir).load_weights()


def test_garbage_weights(bundle_dir):
    (bundle_dir / "models" / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(FormatError, match="cannot be loaded"):
        Bundle(bundle_dir).load_weights()


class _Unpicklable:
    """A custom class: torch.load(weights_only=True) refuses to rebuild it."""


def test_other_weights_name(bundle_dir):
    save_weights(bundle_dir / "models" / "best.pt")
    assert "weight" in Bundle(bundle_dir).load_weights("best.pt")


# --- scripts and large files ----------------------------------------------------------------


def test_scripts_are_importable_while_active(bundle_dir):
    import torch

    (bundle_dir / "scripts").mkdir()
    (bundle_dir / "scripts" / "__init__.py").write_text("")
    (bundle_dir / "scripts" / "nets.py").write_text(textwrap.dedent("""
        import torch

        class TinyNet(torch.nn.Module):
            def __init__(self, channels):
                super().__init__()
                self.conv = torch.nn.Conv3d(1, channels, 1)

            def forward(self, x):
                return self.conv(x)
    """))
    write_json(bundle_dir / "configs" / "custom.json", {"net": {"_target_": "scripts.nets.TinyNet", "channels": 2}})
    b = Bundle(bundle_dir)
    assert b.scripts() is b.scripts()
    with b.scripts():
        net = b.load_config("custom").resolve("net")
    assert isinstance(net, torch.nn.Module)
    assert "scripts" not in sys.modules and "scripts.nets" not in sys.modules


def test_large_files_are_parsed(bundle_dir):
    (bundle_dir / "large_files.yml").write_text(textwrap.dedent("""
        large_files:
        - path: "models/model.ts"
          url: "https://example.org/model.ts"
          hash_val: "3E163505054A1623956DE555033B23DB"
          hash_type: "MD5"
        - path: "models/extra.pt"
          url: "https://example.org/extra.pt"
    """))
    files = Bundle(bundle_dir).large_files()
    assert [(f.path, f.hash_type) for f in files] == [("models/model.ts", "md5"), ("models/extra.pt", "")]
    assert files[0].target(bundle_dir) == bundle_dir / "models" / "model.ts"


def test_no_large_files(bundle_dir):
    assert Bundle(bundle_dir).large_files() == []


@pytest.mark.parametrize("path", ["../outside.pt", "/etc/passwd", "models/../../x.pt", "C:/x.pt", "models\\x.pt"])
def test_large_files_refuse_paths_outside_the_bundle(bundle_dir, path):
    write_json(bundle_dir / "large_files.json", {"large_files": [{"path": path, "url": "https://example.org/x"}]})
    with pytest.raises(FormatError, match="large file path") as info:
        Bundle(bundle_dir).large_files()
    assert info.value.location.line > 0


def test_import_and_metadata_do_not_import_torch(bundle_dir):
    code = textwrap.dedent(f"""
        import sys
        from bundle.format import Bundle
        b = Bundle({str(bundle_dir)!r})
        b.metadata, b.version, b.config_names(), b.large_files()
        b.load_config("inference").get("network_def")
        print(sorted(m for m in sys.modules if m.split(".")[0] == "torch")[:1])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
