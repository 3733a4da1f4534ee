"""``verify_metadata`` and ``verify_net_in_out`` with MONAI's argument names, offline."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest

from bundle.errors import FormatError, MissingIdError
from bundle.format import VerificationError, verify_metadata, verify_net_in_out
from bundle.format.schemas import load_schema

from ..conftest import COMPAT
from .conftest import write_json

MONAI_20220729 = "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20220729.json"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("verification tried to use the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def meta_file(bundle_dir):
    return str(bundle_dir / "configs" / "metadata.json")


@pytest.fixture
def config_file(bundle_dir):
    return str(bundle_dir / "configs" / "inference.json")


# --- verify_metadata ----------------------------------------------------------------------------


def test_valid_metadata(meta_file):
    assert verify_metadata(meta_file=meta_file) is None


def test_filepath_receives_the_schema_used(meta_file, tmp_path):
    target = tmp_path / "eval" / "schema.json"
    verify_metadata(meta_file, filepath=target)
    assert json.loads(target.read_text()) == load_schema("metadata")


def test_filepath_folder_must_exist_without_create_dir(meta_file, tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        verify_metadata(meta_file, filepath=tmp_path / "no" / "schema.json", create_dir=False)


def test_hash_mismatch_is_logged_not_fatal(meta_file, tmp_path, caplog):
    verify_metadata(meta_file, filepath=tmp_path / "s.json", hash_val="0" * 32, hash_type="md5")
    assert "digest" in caplog.text


def test_every_violation_is_reported_with_positions(metadata, tmp_path):
    metadata["schema"] = MONAI_20220729
    metadata["network_data_format"]["inputs"]["image"]["num_channels"] = "1"
    path = write_json(tmp_path / "metadata.json", metadata)
    with pytest.raises(VerificationError) as info:
        verify_metadata(meta_file=str(path))
    err = info.value
    assert isinstance(err, ValueError)  # MONAI raises ValueError
    assert MONAI_20220729 in err.message
    by_id = {p.config_id: p for p in err.problems}
    assert set(by_id) == {"network_data_format::inputs::image::num_channels", None}
    assert sorted(p.message for p in err.problems if p.config_id is None) == [
        f"the required field '{f}' is missing" for f in ("monai_version", "numpy_version", "optional_packages_version")]
    assert by_id["network_data_format::inputs::image::num_channels"].location.file == str(path)
    assert by_id["network_data_format::inputs::image::num_channels"].location.line > 1


def test_several_meta_files_are_merged(metadata, tmp_path):
    base = write_json(tmp_path / "a.json", {k: v for k, v in metadata.items() if k != "task"})
    extra = write_json(tmp_path / "b.json", {"task": "from the second file"})
    verify_metadata(meta_file=[str(base), str(extra)])
    with pytest.raises(VerificationError, match="'task' is missing"):
        verify_metadata(meta_file=str(base))


def test_args_file_gives_defaults(meta_file, tmp_path):
    args = write_json(tmp_path / "args.json", {"meta_file": meta_file, "filepath": str(tmp_path / "s.json")})
    verify_metadata(args_file=str(args))
    assert (tmp_path / "s.json").is_file()


def test_meta_file_is_required():
    with pytest.raises(FormatError, match="no metadata file given"):
        verify_metadata()


def test_unknown_argument():
    with pytest.raises(FormatError, match="unknown argument"):
        verify_metadata(meta_file="x.json", colour="red")


def test_format_checker_is_passed_on(metadata, tmp_path):
    from jsonschema import Draft202012Validator, FormatChecker

    seen = []

    def recording(schema, **kwargs):  # the schemas use no "format" keyword: record what reaches the validator
        seen.append(kwargs.get("format_checker"))
        return Draft202012Validator(schema, **kwargs)

    checker = FormatChecker()
    path = write_json(tmp_path / "metadata.json", metadata)
    verify_metadata(meta_file=str(path), cls=recording, format_checker=checker)
    assert seen and all(c is checker for c in seen)


@pytest.mark.skipif(not (COMPAT / "bundles").is_dir(), reason="the compat corpus (../shared) is not here")
def test_zoo_metadata_verifies_against_its_monai_schema():
    for path in sorted((COMPAT / "bundles").glob("*/configs/metadata.json")):
        verify_metadata(meta_file=str(path))


def test_verify_metadata_does_not_import_torch(meta_file):
    code = textwrap.dedent(f"""
        import sys
        from bundle.format import verify_metadata
        verify_metadata(meta_file={meta_file!r})
        print([m for m in sys.modules if m.split(".")[0] == "torch"][:1])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- verify_net_in_out --------------------------------------------------------------------------


def test_net_in_out_passes(meta_file, config_file):
    verify_net_in_out(net_id="network_def", meta_file=meta_file, config_file=config_file, device="cpu")


def test_net_id_defaults_to_network_def(meta_file, config_file):
    verify_net_in_out(meta_file=meta_file, config_file=config_file, device="cpu", p=2, n=3, any=4)


def test_override_changes_the_metadata(meta_file, config_file):
    with pytest.raises(VerificationError) as info:
        verify_net_in_out("network_def", meta_file, config_file, device="cpu",
                          **{"_meta_#network_data_format#outputs#pred#num_channels": 3})
    problem = info.value.problems[0]
    assert "'pred' says num_channels is 3" in problem.message
    assert problem.config_id == "network_data_format::outputs::pred::num_channels"


def test_override_changes_the_network(meta_file, config_file):
    with pytest.raises(VerificationError, match="the network fails on a random input"):
        verify_net_in_out("network_def", meta_file, config_file, device="cpu", **{"network_def#in_channels": 3})


def test_missing_net_id_is_a_key_error(meta_file, config_file):
    with pytest.raises(KeyError) as info:
        verify_net_in_out("net_does_not_exist", meta_file, config_file, device="cpu")
    assert isinstance(info.value, MissingIdError)


def test_extra_forward_args(meta_file, tmp_path, bundle_dir):
    (bundle_dir / "scripts").mkdir()
    (bundle_dir / "scripts" / "__init__.py").write_text(textwrap.dedent("""
        import torch

        class Scaled(torch.nn.Conv3d):
            def forward(self, x, scale):
                return super().forward(x) * scale
    """))
    config = write_json(bundle_dir / "configs" / "scaled.json", {"network_def": {
        "_target_": "scripts.Scaled", "in_channels": 1, "out_channels": 2, "kernel_size": 1}})
    with pytest.raises(VerificationError, match="scale"):
        verify_net_in_out(meta_file=meta_file, config_file=str(config), device="cpu")
    verify_net_in_out(meta_file=meta_file, config_file=str(config), device="cpu", extra_forward_args={"scale": 2.0})


def test_args_file_with_overrides(meta_file, config_file, tmp_path):
    args = write_json(tmp_path / "args.json", {
        "meta_file": meta_file, "config_file": config_file, "device": "cpu",
        "network_def#out_channels": 5,
    })
    with pytest.raises(VerificationError, match="the output has 5 channels"):
        verify_net_in_out(args_file=str(args))


def test_no_network_data_format(metadata, config_file, tmp_path):
    del metadata["network_data_format"]
    path = write_json(tmp_path / "metadata.json", metadata)
    with pytest.raises(FormatError, match="no \"network_data_format\""):
        verify_net_in_out(meta_file=str(path), config_file=config_file, device="cpu")


def test_monai_shaped_metadata_with_image_and_pred(metadata, config_file, tmp_path):
    io = metadata["network_data_format"]
    io["inputs"] = {"label": dict(io["inputs"]["image"], num_channels=7), "image": io["inputs"]["image"]}
    io["outputs"] = {"other": dict(io["outputs"]["pred"], num_channels=9), "pred": io["outputs"]["pred"]}
    path = write_json(tmp_path / "metadata.json", metadata)
    verify_net_in_out(meta_file=str(path), config_file=config_file, device="cpu")
