"""The bundled JSON Schemas: found offline by URL, valid themselves, accepting the real zoo's
metadata, and describing violations at their file:line:col."""

from __future__ import annotations

import copy
import json
import socket

import pytest

from bundle.errors import FormatError
from bundle.format.schemas import (
    OWN_METADATA,
    describe_error,
    error_location,
    load_schema,
    schema_dir,
    schema_for_url,
    schema_names,
    validation_errors,
)

from ..conftest import COMPAT, REPO
from .conftest import METADATA

ZOO = COMPAT / "bundles"
ZOO_METADATA = sorted(ZOO.glob("*/configs/metadata.json")) if ZOO.is_dir() else []
needs_compat = pytest.mark.skipif(not ZOO_METADATA, reason="the compat corpus (../shared) is not here")

MONAI_URL = "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_{}.json"
SITE_URL = "https://project-monai.github.io/schema/meta_schema_{}.json"
GENERATIONS = ["20220324", "20220729", "generator_20220718", "hovernet_20221124", "generator_ldm_20230507",
               "generator_ldm_20240318", "20240725", "hf_20250321"]


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("schema lookup tried to use the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_schemas_live_in_the_top_level_folder_of_a_checkout():
    assert schema_dir() == REPO / "schemas"


def test_every_catalog_schema_is_a_valid_schema():
    from jsonschema import validators

    for name in schema_names():
        schema = load_schema(name)
        validators.validator_for(schema).check_schema(schema)


def test_catalog_urls_are_unique_and_files_exist():
    catalog = json.loads((schema_dir() / "catalog.json").read_text())["schemas"]
    urls = [u for entry in catalog for u in entry["urls"]]
    assert len(urls) == len(set(urls))
    for entry in catalog:
        assert (schema_dir() / entry["file"]).is_file(), entry["file"]
    listed = {(schema_dir() / e["file"]).resolve() for e in catalog}
    on_disk = {p.resolve() for p in schema_dir().rglob("*.json") if p.name != "catalog.json"}
    assert on_disk == listed, "every schema file must be in the catalog"


def test_schema_files_are_where_setup_py_ships_them():
    # setup.py ships schemas/*.json and schemas/<folder>/*.json as bundle/schemas/...; nothing deeper
    for path in schema_dir().rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(schema_dir())
            assert path.suffix == ".json" and len(rel.parts) <= 2, rel


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("template", [MONAI_URL, SITE_URL], ids=["github-release", "project-monai.github.io"])
def test_monai_schema_urls_map_to_bundled_files_offline(no_network, template, generation):
    schema, known = schema_for_url(template.format(generation))
    assert known
    assert schema["$id"] == f"urn:bundle:schemas:monai:meta_schema_{generation}"


@pytest.mark.parametrize("url", ["https://example.org/my_schema.json", None, 7])
def test_unknown_or_no_url_gives_our_own_schema(no_network, url):
    schema, known = schema_for_url(url)
    assert not known
    assert schema == load_schema(OWN_METADATA)


def test_unknown_schema_name():
    with pytest.raises(FormatError, match="no bundled schema"):
        load_schema("metadat")


# --- our own metadata schema ----------------------------------------------------------------------


def test_valid_metadata_passes():
    assert validation_errors(METADATA, load_schema(OWN_METADATA)) == []


@pytest.mark.parametrize("field", ["monai_version", "numpy_version", "schema", "changelog", "network_data_format"])
def test_our_schema_does_not_require(field):
    meta = {k: v for k, v in METADATA.items() if k != field}
    assert validation_errors(meta, load_schema(OWN_METADATA)) == []


@pytest.mark.parametrize("field", ["version", "pytorch_version", "task", "description", "authors", "copyright"])
def test_our_schema_requires(field):
    meta = {k: v for k, v in METADATA.items() if k != field}
    errors = validation_errors(meta, load_schema(OWN_METADATA))
    assert [describe_error(e)[1] for e in errors] == [f"the required field '{field}' is missing"]


@pytest.mark.parametrize(
    "path,value,fragment",
    [
        (("version",), "1.0 beta", "does not match the pattern"),
        (("license",), 3, "it must be a string"),
        (("network_data_format", "inputs", "image", "num_channels"), "one", "it must be an integer"),
        (("network_data_format", "inputs", "image", "num_channels"), -1, "the smallest allowed is 0"),
        (("network_data_format", "outputs", "pred", "spatial_shape"), [8, 1.5], "spatial_shape::1"),
        (("changelog", "0.2.0"), ["x"], "it must be a string"),
        (("required_packages_version",), {"nibabel": 5}, "required_packages_version::nibabel"),
    ],
    ids=["version-pattern", "license-type", "channels-type", "channels-min", "shape-float", "changelog-text",
         "packages"],
)
def test_our_schema_rejects(path, value, fragment):
    meta = copy.deepcopy(METADATA)
    node = meta
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    errors = validation_errors(meta, load_schema(OWN_METADATA))
    assert errors
    key, message, _ = describe_error(errors[0])
    assert fragment in f"{key}: {message}"


def test_tensor_descriptions_need_their_fields():
    meta = copy.deepcopy(METADATA)
    del meta["network_data_format"]["inputs"]["image"]["dtype"]
    errors = validation_errors(meta, load_schema(OWN_METADATA))
    key, message, _ = describe_error(errors[0])
    assert key == "network_data_format::inputs::image"
    assert message == "the required field 'dtype' is missing in 'network_data_format::inputs::image'"


def test_secondary_networks_and_classification_outputs():
    meta = copy.deepcopy(METADATA)
    meta["autoencoder_data_format"] = copy.deepcopy(meta["network_data_format"])
    meta["network_data_format"]["outputs"]["pred"]["spatial_shape"] = []
    meta["network_data_format"]["inputs"]["body_region"] = {"type": "string", "value_range": ["head", "abdomen"]}
    meta["network_data_format"]["inputs"]["scale"] = 1.5
    assert validation_errors(meta, load_schema(OWN_METADATA)) == []
    meta["autoencoder_data_format"]["inputs"] = []
    assert validation_errors(meta, load_schema(OWN_METADATA))


def test_error_location_points_at_the_value(tmp_path):
    meta = copy.deepcopy(METADATA)
    meta["network_data_format"]["inputs"]["image"]["num_channels"] = "one"
    text = json.dumps(meta, indent=4)
    errors = validation_errors(meta, load_schema(OWN_METADATA))
    loc = error_location("metadata.json", text, errors[0])
    line = text.splitlines()[loc.line - 1]
    assert line.strip().startswith('"num_channels": "one"')
    assert loc.col == line.index('"num_channels"') + 1


# --- MONAI's generations ------------------------------------------------------------------------


def _monai_meta(**changes):
    meta = {k: copy.deepcopy(v) for k, v in METADATA.items() if k not in ("license", "name")}
    meta.update(monai_version="1.3.0", numpy_version="1.24.0", optional_packages_version={})
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not None}


@pytest.mark.parametrize("generation", ["20220324", "20220729"])
def test_monai_2022_requires_monai_version_and_optional_packages(generation):
    schema, _ = schema_for_url(MONAI_URL.format(generation))
    assert validation_errors(_monai_meta(), schema) == []
    for field in ("monai_version", "numpy_version", "optional_packages_version", "network_data_format"):
        errors = validation_errors(_monai_meta(**{field: None}), schema)
        assert [describe_error(e)[1] for e in errors] == [f"the required field '{field}' is missing"]


def test_monai_20240725_requires_required_packages_and_checks_every_input():
    schema, _ = schema_for_url(SITE_URL.format("20240725"))
    meta = _monai_meta(optional_packages_version=None, required_packages_version={})
    assert validation_errors(meta, schema) == []
    meta["network_data_format"]["inputs"]["extra"] = {"type": "image"}
    assert validation_errors(meta, schema)
    meta["network_data_format"]["inputs"]["extra"] = 3  # primitives are arguments too
    assert validation_errors(meta, schema) == []


def test_monai_2022_only_checks_the_named_tensors():
    schema, _ = schema_for_url(MONAI_URL.format("20220729"))
    meta = _monai_meta()
    meta["network_data_format"]["inputs"]["extra"] = {"anything": True}
    assert validation_errors(meta, schema) == []
    meta["network_data_format"]["outputs"]["pred"]["num_channels"] = "2"
    assert validation_errors(meta, schema)


def test_monai_generator_requires_latent_and_pred():
    schema, _ = schema_for_url(MONAI_URL.format("generator_20220718"))
    meta = _monai_meta()
    errors = validation_errors(meta, schema)
    assert [describe_error(e)[1] for e in errors] == [
        "the required field 'latent' is missing in 'network_data_format::inputs'"]


def test_monai_ldm_20240318_needs_both_networks_and_named_values():
    schema, _ = schema_for_url(SITE_URL.format("generator_ldm_20240318"))
    net = copy.deepcopy(METADATA["network_data_format"])
    gen = {"inputs": {"latent": net["inputs"]["image"]}, "outputs": {"pred": net["outputs"]["pred"]}}
    auto = {"inputs": {"image": net["inputs"]["image"], "body_region": {"type": "string", "value_range": ["head"]},
                       "anatomy_list": {"type": "string", "value_range": ["liver"]}},
            "outputs": {"pred": net["outputs"]["pred"]}}
    meta = _monai_meta(network_data_format=None, autoencoder_data_format=auto, generator_data_format=gen)
    assert validation_errors(meta, schema) == []
    del auto["inputs"]["anatomy_list"]
    assert validation_errors(meta, schema)


def test_monai_hf_only_lists_required_fields():
    schema, _ = schema_for_url(SITE_URL.format("hf_20250321"))
    meta = {k: "x" for k in schema["required"]}
    assert validation_errors(meta, schema) == []
    del meta["huggingface_url"]
    assert len(validation_errors(meta, schema)) == 1


# --- the real zoo -------------------------------------------------------------------------------


@needs_compat
@pytest.mark.parametrize("path", ZOO_METADATA, ids=[p.parents[1].name for p in ZOO_METADATA])
def test_zoo_metadata_validates_against_our_schema_and_its_own(path):
    meta = json.loads(path.read_text())
    assert validation_errors(meta, load_schema(OWN_METADATA)) == []
    schema, known = schema_for_url(meta["schema"])
    assert known
    assert validation_errors(meta, schema) == []


@needs_compat
@pytest.mark.parametrize("path", sorted(ZOO.glob("*/large_files.y*ml")) if ZOO.is_dir() else [],
                         ids=lambda p: p.parent.name)
def test_zoo_large_files_are_valid(path):
    from bundle.format.large_files import read_large_files

    entries = read_large_files(path.parent)
    assert entries and all(e.url.startswith("http") for e in entries)
